/// The bytes of one entry file:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `STRATA\0\u{1}` (format version 1) |
/// | 8 | 8 | expiry, milliseconds since 1970, little-endian; `Int64.max` never |
/// | 16 | 4 | key length, little-endian |
/// | 20 | 8 | value length, little-endian |
/// | 28 | 4 | CRC-32 of bytes 8..<28, the key and the value |
/// | 32 | … | the key's UTF-8 bytes, then the value's bytes |
///
/// The key is stored although the file name encodes it, so a file copied or renamed to
/// another key's name is detected rather than served; the checksum detects truncation
/// and garbage.
enum FolderEntryFormat {
    static let magic: [UInt8] = Array("STRATA".utf8) + [0, 1]
    static let headerSize = 32

    struct Corruption: Error, CustomStringConvertible {
        let description: String
    }

    static func encode(key: String, entry: StoredEntry) -> [UInt8] {
        let keyBytes = Array(key.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + keyBytes.count + entry.bytes.count)
        bytes += magic
        append(entry.expiresAt?.millisecondsSince1970 ?? Int64.max, to: &bytes)
        append(UInt32(keyBytes.count), to: &bytes)
        append(UInt64(entry.bytes.count), to: &bytes)
        var crc = CRC32()
        crc.update(bytes[8..<28])
        crc.update(keyBytes)
        crc.update(entry.bytes)
        append(crc.value, to: &bytes)
        bytes += keyBytes
        bytes += entry.bytes
        return bytes
    }

    /// What the fixed-size header says, read without the rest of the file.
    struct Header {
        /// `nil`: never expires.
        var expiresAt: Timestamp?
    }

    /// The header at the start of `bytes`, after checking the magic.
    static func header(_ bytes: some Collection<UInt8>) throws -> Header {
        let header = Array(bytes.prefix(headerSize))
        guard header.count == headerSize, Array(header[0..<8]) == magic else {
            throw Corruption(description: "the file does not start with a Strata entry header")
        }
        let expiresAt: Int64 = read(header, at: 8)
        return Header(expiresAt: expiresAt == .max ? nil : Timestamp(millisecondsSince1970: expiresAt))
    }

    static func decode(_ bytes: [UInt8], key: String) throws -> StoredEntry {
        let expiresAt = try header(bytes).expiresAt
        let keyLength = Int(read(bytes, at: 16) as UInt32)
        let valueLength: UInt64 = read(bytes, at: 20)
        guard valueLength <= UInt64(Int.max - headerSize - keyLength),
            bytes.count == headerSize + keyLength + Int(valueLength)
        else {
            throw Corruption(
                description:
                    "the file is \(bytes.count) bytes, not the \(headerSize) + \(keyLength) + \(valueLength) its header declares (truncated?)"
            )
        }
        var crc = CRC32()
        crc.update(bytes[8..<28])
        crc.update(bytes[headerSize...])
        guard crc.value == read(bytes, at: 28) as UInt32 else {
            throw Corruption(description: "the checksum does not match the contents")
        }
        guard bytes[headerSize..<(headerSize + keyLength)].elementsEqual(key.utf8) else {
            throw Corruption(description: "the file holds the entry of another key")
        }
        return StoredEntry(bytes: Array(bytes[(headerSize + keyLength)...]), expiresAt: expiresAt)
    }

    /// Appends `value` little-endian (for this format and ``FolderLeaseFormat``).
    static func append<Integer: FixedWidthInteger>(_ value: Integer, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    /// The little-endian integer at `offset` (which the caller has checked is in `bytes`).
    static func read<Integer: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int) -> Integer {
        var value: Integer = 0
        for index in (0..<MemoryLayout<Integer>.size).reversed() {
            value = value << 8 | Integer(bytes[offset + index])
        }
        return value
    }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as used by zlib and PNG.
struct CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        return crc
    }

    private var state: UInt32 = 0xFFFF_FFFF

    mutating func update(_ bytes: some Sequence<UInt8>) {
        Self.table.withUnsafeBufferPointer { table in
            for byte in bytes {
                state = table[Int((state ^ UInt32(byte)) & 0xFF)] ^ (state >> 8)
            }
        }
    }

    var value: UInt32 { state ^ 0xFFFF_FFFF }
}
