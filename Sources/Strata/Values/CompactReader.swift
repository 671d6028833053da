/// Reads the values of ``CompactTag``'s layout out of bytes, checking every length against
/// what is there: truncated, overlong or too deeply nested input is a `DecodingError`, never
/// a trap or an allocation the input asks for.
struct CompactReader {
    let bytes: [UInt8]

    func corrupt(_ what: String, _ codingPath: @autoclosure () -> [any CodingKey]) -> DecodingError {
        DecodingError.dataCorrupted(.init(codingPath: codingPath(), debugDescription: what))
    }

    @inline(__always)
    func tag(at offset: Int, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> UInt8 {
        guard offset < bytes.count else { throw corrupt("the value ends early", codingPath()) }
        return bytes[offset]
    }

    /// An unsigned LEB128 number at `offset`, which moves past it.
    @inline(__always)
    func varint(at offset: inout Int, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count, shift < 64 else { throw corrupt("a number is truncated or too long", codingPath()) }
            let byte = bytes[offset]
            offset += 1
            // The tenth byte holds the 64th bit alone: more would be bits the number cannot have.
            guard shift < 63 || byte <= 1 else { throw corrupt("a number is longer than 64 bits", codingPath()) }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    /// A length at `offset` that the remaining bytes can hold (each counted item takes at
    /// least one byte), so no count read from the input can make a reader loop or reserve
    /// past the input's own size.
    @inline(__always)
    func length(at offset: inout Int, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> Int {
        let value = try varint(at: &offset, codingPath())
        guard value <= UInt64(bytes.count - offset) else { throw corrupt("a length goes past the end of the value", codingPath()) }
        return Int(value)
    }

    /// `count` bytes at `offset`, read little-endian.
    @inline(__always)
    func littleEndian(at offset: Int, count: Int, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> UInt64 {
        guard offset + count <= bytes.count else { throw corrupt("the value ends early", codingPath()) }
        var value: UInt64 = 0
        for index in 0..<count { value |= UInt64(bytes[offset + index]) << UInt64(index * 8) }
        return value
    }

    /// The offset just past the value at `offset`.
    func skip(at offset: Int, depth: Int = 0, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> Int {
        guard depth < CompactTag.maximumDepth else { throw corrupt("containers nest too deeply", codingPath()) }
        var offset = offset
        let tag = try self.tag(at: offset, codingPath())
        offset += 1
        switch tag {
        case CompactTag.null, CompactTag.false, CompactTag.true: return offset
        case CompactTag.signed, CompactTag.unsigned:
            _ = try varint(at: &offset, codingPath())
            return offset
        case CompactTag.double: return try end(offset + 8, codingPath())
        case CompactTag.float: return try end(offset + 4, codingPath())
        case CompactTag.string, CompactTag.bytes:
            let count = try length(at: &offset, codingPath())
            return offset + count
        case CompactTag.keyed:
            let count = try length(at: &offset, codingPath())
            for _ in 0..<count {
                let keyLength = try length(at: &offset, codingPath())
                offset = try skip(at: offset + keyLength, depth: depth + 1, codingPath())
            }
            return offset
        case CompactTag.unkeyed:
            let count = try length(at: &offset, codingPath())
            for _ in 0..<count { offset = try skip(at: offset, depth: depth + 1, codingPath()) }
            return offset
        default:
            throw corrupt("unknown tag \(tag)", codingPath())
        }
    }

    private func end(_ offset: Int, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> Int {
        guard offset <= bytes.count else { throw corrupt("the value ends early", codingPath()) }
        return offset
    }

    // MARK: Primitives, each read at the offset of its tag.

    func bool(at offset: Int, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> Bool {
        switch try tag(at: offset, codingPath()) {
        case CompactTag.true: return true
        case CompactTag.false: return false
        default: throw mismatch(Bool.self, offset, codingPath())
        }
    }

    @inline(__always)
    func integer<T: FixedWidthInteger>(_ type: T.Type, at offset: Int, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> T {
        var position = offset + 1
        let result: T?
        switch try tag(at: offset, codingPath()) {
        case CompactTag.signed: result = T(exactly: unzigzag(try varint(at: &position, codingPath())))
        case CompactTag.unsigned: result = T(exactly: try varint(at: &position, codingPath()))
        default: throw mismatch(T.self, offset, codingPath())
        }
        guard let result else { throw corrupt("the number does not fit in \(T.self)", codingPath()) }
        return result
    }

    func double(at offset: Int, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> Double {
        var position = offset + 1
        switch try tag(at: offset, codingPath()) {
        case CompactTag.double: return Double(bitPattern: try littleEndian(at: position, count: 8, codingPath()))
        case CompactTag.float: return Double(Float(bitPattern: UInt32(try littleEndian(at: position, count: 4, codingPath()))))
        case CompactTag.signed: return Double(unzigzag(try varint(at: &position, codingPath())))
        case CompactTag.unsigned: return Double(try varint(at: &position, codingPath()))
        default: throw mismatch(Double.self, offset, codingPath())
        }
    }

    func float(at offset: Int, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> Float {
        if try tag(at: offset, codingPath()) == CompactTag.float {
            return Float(bitPattern: UInt32(try littleEndian(at: offset + 1, count: 4, codingPath())))
        }
        return Float(try double(at: offset, codingPath()))
    }

    func string(at offset: Int, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> String {
        guard try tag(at: offset, codingPath()) == CompactTag.string else { throw mismatch(String.self, offset, codingPath()) }
        var position = offset + 1
        let count = try length(at: &position, codingPath())
        guard let text = String(validating: bytes[position..<(position + count)], as: UTF8.self) else {
            throw corrupt("a string is not valid UTF-8", codingPath())
        }
        return text
    }

    func data(at offset: Int, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> [UInt8] {
        guard try tag(at: offset, codingPath()) == CompactTag.bytes else { throw mismatch([UInt8].self, offset, codingPath()) }
        var position = offset + 1
        let count = try length(at: &position, codingPath())
        return Array(bytes[position..<(position + count)])
    }

    /// The count and first item of the container at `offset`, which must have tag `tag`.
    func container(_ tag: UInt8, at offset: Int, _ type: Any.Type, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> (
        count: Int, start: Int
    ) {
        guard try self.tag(at: offset, codingPath()) == tag else { throw mismatch(type, offset, codingPath()) }
        var position = offset + 1
        let count = try length(at: &position, codingPath())
        return (count, position)
    }

    func mismatch(_ type: Any.Type, _ offset: Int, _ codingPath: @autoclosure () -> [any CodingKey]) -> DecodingError {
        let found = offset < bytes.count ? "tag \(bytes[offset])" : "nothing"
        return DecodingError.typeMismatch(type, .init(codingPath: codingPath(), debugDescription: "expected \(type), found \(found)"))
    }
}
