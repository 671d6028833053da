#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The `Decoder` behind ``BinaryValueCoder``: reads the value whose tag is at `offset`,
/// straight from the bytes (no tree is built).
final class CompactDecoder: Decoder {
    let reader: CompactReader
    let offset: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(reader: CompactReader, offset: Int, codingPath: [any CodingKey]) {
        self.reader = reader
        self.offset = offset
        self.codingPath = codingPath
    }

    /// `type` decoded from `bytes`, which must hold one value and nothing after it: bytes
    /// past its end are damage (a value cut and joined to another, say), refused as JSON
    /// refuses them.
    static func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        let reader = CompactReader(bytes: bytes)
        // From depth -1: the top value's children are at depth 0, as its own container reads them.
        guard try reader.skip(at: 0, depth: -1, []) == bytes.count else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "bytes follow the value"))
        }
        return try value(type, reader: reader, at: 0, codingPath: [])
    }

    /// The value at `offset` as `type`: `Data` from bytes, anything else through its own `init(from:)`.
    static func value<Value: Decodable>(_ type: Value.Type, reader: CompactReader, at offset: Int, codingPath: [any CodingKey]) throws
        -> Value
    {
        if type == Data.self { return unsafeBitCast(Data(try reader.data(at: offset, codingPath)), to: Value.self) }
        return try Value(from: CompactDecoder(reader: reader, offset: offset, codingPath: codingPath))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let (count, start) = try reader.container(CompactTag.keyed, at: offset, [String: Any].self, codingPath)
        return KeyedDecodingContainer(
            CompactKeyedDecoding<Key>(reader: reader, codingPath: codingPath, cursor: CompactCursor(count: count, start: start)))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (count, start) = try reader.container(CompactTag.unkeyed, at: offset, [Any].self, codingPath)
        return CompactUnkeyedDecoding(reader: reader, codingPath: codingPath, count: count, offset: start)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { CompactSingleValueDecoding(decoder: self) }
}

/// Where a keyed container's next look starts: at the entry after the last one found, so
/// fields decoded in the order they were encoded (what synthesized `Codable` does) are each
/// found at the first look; a key elsewhere is found by going round once. The value of the
/// entry found is walked past only when a later look needs to go on from it: the last
/// field's value (an enum's one case, a wrapper's one field) is never walked by its
/// container, so a value nested d deep is not walked d times.
final class CompactCursor {
    let count: Int
    let start: Int
    var index = 0
    var offset: Int
    /// The offset of the value of the entry last found, not yet walked past (`offset` is
    /// that entry's own then).
    var foundValue: Int?

    init(count: Int, start: Int) {
        self.count = count
        self.start = start
        self.offset = start
    }
}

struct CompactKeyedDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let reader: CompactReader
    let codingPath: [any CodingKey]
    let cursor: CompactCursor

    var allKeys: [Key] {
        var keys: [Key] = []
        var offset = cursor.start
        for index in 0..<cursor.count {
            guard let keyLength = try? reader.length(at: &offset, codingPath) else { break }
            let name = String(decoding: reader.bytes[offset..<(offset + keyLength)], as: UTF8.self)
            if let key = Key(stringValue: name) { keys.append(key) }
            guard index + 1 < cursor.count else { break }  // no key after the last value: not walked
            guard let next = try? reader.skip(at: offset + keyLength, codingPath) else { break }
            offset = next
        }
        return keys
    }

    /// The offset of `key`'s value, or `nil` when the container has no such key.
    private func find(_ key: Key) throws -> Int? { try find(named: key.stringValue) }

    /// The offset of the value whose key is `name`, or `nil` when the container has none.
    private func find(named name: String) throws -> Int? {
        if let found = cursor.foundValue {
            // The entry found last, asked for again (`decodeIfPresent` asks `contains`, then
            // `decodeNil`, then `decode`): found where it is, not by going round.
            var offset = cursor.offset
            let keyLength = try reader.length(at: &offset, codingPath)
            if name.utf8.elementsEqual(reader.bytes[offset..<(offset + keyLength)]) { return found }
        }
        for _ in 0..<cursor.count {
            if let found = cursor.foundValue {  // go on from the entry found last: past its value
                cursor.foundValue = nil
                cursor.offset = try reader.skip(at: found, codingPath)
            }
            if cursor.index == cursor.count {
                cursor.index = 0
                cursor.offset = cursor.start
            }
            var offset = cursor.offset
            let keyLength = try reader.length(at: &offset, codingPath)
            let valueOffset = offset + keyLength
            cursor.index += 1
            if name.utf8.elementsEqual(reader.bytes[offset..<valueOffset]) {
                cursor.foundValue = valueOffset
                return valueOffset
            }
            cursor.offset = try reader.skip(at: valueOffset, codingPath)
        }
        return nil
    }

    private func offset(of key: Key) throws -> Int {
        guard let offset = try find(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for \(key.stringValue)"))
        }
        return offset
    }

    func contains(_ key: Key) -> Bool { (try? find(key)) != nil }

    func decodeNil(forKey key: Key) throws -> Bool { try reader.tag(at: try offset(of: key), codingPath + [key]) == CompactTag.null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try reader.bool(at: try offset(of: key), codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try reader.string(at: try offset(of: key), codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try reader.double(at: try offset(of: key), codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try reader.float(at: try offset(of: key), codingPath + [key]) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(type, key) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try CompactDecoder.value(type, reader: reader, at: try offset(of: key), codingPath: codingPath + [key])
    }

    private func integer<T: FixedWidthInteger>(_ type: T.Type, _ key: Key) throws -> T {
        try reader.integer(type, at: try offset(of: key), codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try CompactDecoder(reader: reader, offset: try offset(of: key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try CompactDecoder(reader: reader, offset: try offset(of: key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    /// The decoder of what `superEncoder()` wrote, under the key "super", which the type's
    /// own `CodingKeys` need not have (a subclass's usually does not).
    func superDecoder() throws -> any Decoder {
        let key = CompactKey(stringValue: "super")
        guard let offset = try find(named: key.stringValue) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for super"))
        }
        return CompactDecoder(reader: reader, offset: offset, codingPath: codingPath + [key])
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        CompactDecoder(reader: reader, offset: try offset(of: key), codingPath: codingPath + [key])
    }
}

struct CompactUnkeyedDecoding: UnkeyedDecodingContainer {
    let reader: CompactReader
    let codingPath: [any CodingKey]
    let total: Int
    var currentIndex = 0
    var offset: Int

    init(reader: CompactReader, codingPath: [any CodingKey], count: Int, offset: Int) {
        self.reader = reader
        self.codingPath = codingPath
        self.total = count
        self.offset = offset
    }

    var count: Int? { total }
    var isAtEnd: Bool { currentIndex >= total }

    /// The offset of the next value, and moves past it.
    private mutating func next(_ type: Any.Type) throws -> (Int, [any CodingKey]) {
        let path = codingPath + [CompactKey(intValue: currentIndex)]
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "the unkeyed container is at its end"))
        }
        let current = offset
        offset = try reader.skip(at: current, path)
        currentIndex += 1
        return (current, path)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, try reader.tag(at: offset, codingPath) == CompactTag.null else { return false }
        _ = try next(Never.self)
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let (at, path) = try next(type); return try reader.bool(at: at, path) }
    mutating func decode(_ type: String.Type) throws -> String { let (at, path) = try next(type); return try reader.string(at: at, path) }
    mutating func decode(_ type: Double.Type) throws -> Double { let (at, path) = try next(type); return try reader.double(at: at, path) }
    mutating func decode(_ type: Float.Type) throws -> Float { let (at, path) = try next(type); return try reader.float(at: at, path) }
    mutating func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (at, path) = try next(type)
        return try CompactDecoder.value(type, reader: reader, at: at, codingPath: path)
    }

    private mutating func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let (at, path) = try next(type)
        return try reader.integer(type, at: at, path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (at, path) = try next([String: Any].self)
        return try CompactDecoder(reader: reader, offset: at, codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (at, path) = try next([Any].self)
        return try CompactDecoder(reader: reader, offset: at, codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (at, path) = try next(Any.self)
        return CompactDecoder(reader: reader, offset: at, codingPath: path)
    }
}

struct CompactSingleValueDecoding: SingleValueDecodingContainer {
    let decoder: CompactDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    private var reader: CompactReader { decoder.reader }
    private var offset: Int { decoder.offset }

    func decodeNil() -> Bool { (try? reader.tag(at: offset, codingPath)) == CompactTag.null }
    func decode(_ type: Bool.Type) throws -> Bool { try reader.bool(at: offset, codingPath) }
    func decode(_ type: String.Type) throws -> String { try reader.string(at: offset, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try reader.double(at: offset, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try reader.float(at: offset, codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try reader.integer(type, at: offset, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try reader.integer(type, at: offset, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try reader.integer(type, at: offset, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try reader.integer(type, at: offset, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try reader.integer(type, at: offset, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try reader.integer(type, at: offset, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try reader.integer(type, at: offset, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try reader.integer(type, at: offset, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try reader.integer(type, at: offset, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try reader.integer(type, at: offset, codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try CompactDecoder.value(type, reader: reader, at: offset, codingPath: codingPath)
    }
}
