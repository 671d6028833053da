/// The layout of ``BinaryValueCoder``'s bytes: every value is a tag byte and its content,
/// integers as variable-length (LEB128) numbers, signed ones zigzag-mapped so small negative
/// numbers stay short. A keyed container keeps its keys (so a type that decodes its fields in
/// another order than it encoded them, or skips some, still reads), an unkeyed one its count.
///
///     0x00 nil            0x01 false          0x02 true
///     0x03 signed         zigzag varint       0x04 unsigned   varint
///     0x05 double         8 bytes, little-endian bit pattern
///     0x06 float          4 bytes, little-endian bit pattern
///     0x07 string         varint length, UTF-8
///     0x08 keyed          varint count, then per entry: varint key length, UTF-8 key, value
///     0x09 unkeyed        varint count, then the values
///     0x0A bytes          varint length, the bytes (a `Data` value)
enum CompactTag {
    static let null: UInt8 = 0x00
    static let `false`: UInt8 = 0x01
    static let `true`: UInt8 = 0x02
    static let signed: UInt8 = 0x03
    static let unsigned: UInt8 = 0x04
    static let double: UInt8 = 0x05
    static let float: UInt8 = 0x06
    static let string: UInt8 = 0x07
    static let keyed: UInt8 = 0x08
    static let unkeyed: UInt8 = 0x09
    static let bytes: UInt8 = 0x0A
    /// How deep containers may nest in bytes being read: deeper input is refused rather
    /// than allowed to exhaust the stack.
    static let maximumDepth = 512
}

extension Array where Element == UInt8 {
    /// Appends `value` as an unsigned LEB128 number.
    @inline(__always)
    mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        append(UInt8(value))
    }

    /// Appends the low `count` bytes of `value`, least significant first.
    @inline(__always)
    mutating func appendLittleEndian(_ value: UInt64, count: Int) {
        for shift in stride(from: 0, to: count * 8, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}

/// Zigzag: 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
@inline(__always)
func zigzag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }

@inline(__always)
func unzigzag(_ value: UInt64) -> Int64 { Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1) }
