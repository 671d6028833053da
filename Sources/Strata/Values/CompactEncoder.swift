#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What an `Encodable` value encoded to, before it is written out: containers are classes
/// because Codable lets a container be filled after it was handed out (a nested container,
/// a super encoder), and their counts are written before their contents.
enum CompactNode {
    case null
    case bool(Bool)
    case signed(Int64)
    case unsigned(UInt64)
    case double(Double)
    case float(Float)
    case string(String)
    case bytes([UInt8])
    case keyed(CompactKeyedNode)
    case unkeyed(CompactUnkeyedNode)
    /// A super encoder's value, known once the whole value has been encoded.
    case deferred(CompactEncoder)

    /// Appends the node's bytes (see ``CompactTag``).
    func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(CompactTag.null)
        case .bool(let value): out.append(value ? CompactTag.true : CompactTag.false)
        case .signed(let value):
            out.append(CompactTag.signed)
            out.appendVarint(zigzag(value))
        case .unsigned(let value):
            out.append(CompactTag.unsigned)
            out.appendVarint(value)
        case .double(let value):
            out.append(CompactTag.double)
            out.appendLittleEndian(value.bitPattern, count: 8)
        case .float(let value):
            out.append(CompactTag.float)
            out.appendLittleEndian(UInt64(value.bitPattern), count: 4)
        case .string(let value):
            out.append(CompactTag.string)
            Self.appendText(value, into: &out)
        case .bytes(let value):
            out.append(CompactTag.bytes)
            out.appendVarint(UInt64(value.count))
            out.append(contentsOf: value)
        case .keyed(let node):
            out.append(CompactTag.keyed)
            out.appendVarint(UInt64(node.entries.count))
            for (key, value) in node.entries {
                Self.appendText(key, into: &out)
                value.write(into: &out)
            }
        case .unkeyed(let node):
            out.append(CompactTag.unkeyed)
            out.appendVarint(UInt64(node.values.count))
            for value in node.values { value.write(into: &out) }
        case .deferred(let encoder):
            (encoder.node ?? .keyed(CompactKeyedNode())).write(into: &out)
        }
    }

    private static func appendText(_ text: String, into out: inout [UInt8]) {
        let utf8 = text.utf8
        out.appendVarint(UInt64(utf8.count))
        out.append(contentsOf: utf8)
    }
}

final class CompactKeyedNode {
    var entries: [(key: String, value: CompactNode)] = []
}

final class CompactUnkeyedNode {
    var values: [CompactNode] = []
}

/// The `Encoder` behind ``BinaryValueCoder``: one per value that is not a primitive.
final class CompactEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    /// What the value encoded to; `nil` until it asks for a container.
    var node: CompactNode?

    init(codingPath: [any CodingKey]) {
        self.codingPath = codingPath
    }

    /// The bytes of `value`.
    static func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        let node = try CompactEncoder.node(of: value, codingPath: [])
        var out: [UInt8] = []
        out.reserveCapacity(64)
        node.write(into: &out)
        return out
    }

    /// `value` as a node: `Data` as bytes, anything else through its own `encode(to:)`.
    static func node<Value: Encodable>(of value: Value, codingPath: [any CodingKey]) throws -> CompactNode {
        if Value.self == Data.self { return .bytes([UInt8](unsafeBitCast(value, to: Data.self))) }
        let encoder = CompactEncoder(codingPath: codingPath)
        try value.encode(to: encoder)
        return encoder.node ?? .keyed(CompactKeyedNode())
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let keyed: CompactKeyedNode
        if case .keyed(let existing) = node {
            keyed = existing
        } else {
            keyed = CompactKeyedNode()
            node = .keyed(keyed)
        }
        return KeyedEncodingContainer(CompactKeyedEncoding<Key>(node: keyed, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let unkeyed: CompactUnkeyedNode
        if case .unkeyed(let existing) = node {
            unkeyed = existing
        } else {
            unkeyed = CompactUnkeyedNode()
            node = .unkeyed(unkeyed)
        }
        return CompactUnkeyedEncoding(node: unkeyed, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { CompactSingleValueEncoding(encoder: self) }
}

struct CompactKeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: CompactKeyedNode
    let codingPath: [any CodingKey]

    private func put(_ value: CompactNode, _ key: Key) { node.entries.append((key.stringValue, value)) }

    mutating func encodeNil(forKey key: Key) throws { put(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(.double(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(.float(value), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(.signed(Int64(value)), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(.signed(Int64(value)), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(.signed(Int64(value)), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(.signed(Int64(value)), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(.signed(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(.unsigned(UInt64(value)), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(.unsigned(UInt64(value)), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(.unsigned(UInt64(value)), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(.unsigned(UInt64(value)), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(.unsigned(value), key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        put(try CompactEncoder.node(of: value, codingPath: codingPath + [key]), key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<
        NestedKey
    > {
        let nested = CompactKeyedNode()
        put(.keyed(nested), key)
        return KeyedEncodingContainer(CompactKeyedEncoding<NestedKey>(node: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = CompactUnkeyedNode()
        put(.unkeyed(nested), key)
        return CompactUnkeyedEncoding(node: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(named: CompactKey(stringValue: "super")) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key) }

    private func superEncoder(named key: any CodingKey) -> any Encoder {
        let encoder = CompactEncoder(codingPath: codingPath + [key])
        node.entries.append((key.stringValue, .deferred(encoder)))
        return encoder
    }
}

struct CompactUnkeyedEncoding: UnkeyedEncodingContainer, CompactPrimitiveEncoding {
    let node: CompactUnkeyedNode
    let codingPath: [any CodingKey]
    var count: Int { node.values.count }

    func put(_ value: CompactNode) { node.values.append(value) }
    private var nextKey: CompactKey { CompactKey(intValue: node.values.count) }

    mutating func encode<T: Encodable>(_ value: T) throws { put(try CompactEncoder.node(of: value, codingPath: codingPath + [nextKey])) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = CompactKeyedNode()
        let path = codingPath + [nextKey]
        put(.keyed(nested))
        return KeyedEncodingContainer(CompactKeyedEncoding<NestedKey>(node: nested, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = CompactUnkeyedNode()
        let path = codingPath + [nextKey]
        put(.unkeyed(nested))
        return CompactUnkeyedEncoding(node: nested, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = CompactEncoder(codingPath: codingPath + [nextKey])
        put(.deferred(encoder))
        return encoder
    }
}

struct CompactSingleValueEncoding: SingleValueEncodingContainer, CompactPrimitiveEncoding {
    let encoder: CompactEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    func put(_ value: CompactNode) { encoder.node = value }

    mutating func encode<T: Encodable>(_ value: T) throws { put(try CompactEncoder.node(of: value, codingPath: codingPath)) }
}

/// The primitive values of an unkeyed and a single-value container, one list for both:
/// each becomes its node, put where the container keeps it.
protocol CompactPrimitiveEncoding {
    func put(_ value: CompactNode)
}

extension CompactPrimitiveEncoding {
    mutating func encodeNil() throws { put(.null) }
    mutating func encode(_ value: Bool) throws { put(.bool(value)) }
    mutating func encode(_ value: String) throws { put(.string(value)) }
    mutating func encode(_ value: Double) throws { put(.double(value)) }
    mutating func encode(_ value: Float) throws { put(.float(value)) }
    mutating func encode(_ value: Int) throws { put(.signed(Int64(value))) }
    mutating func encode(_ value: Int8) throws { put(.signed(Int64(value))) }
    mutating func encode(_ value: Int16) throws { put(.signed(Int64(value))) }
    mutating func encode(_ value: Int32) throws { put(.signed(Int64(value))) }
    mutating func encode(_ value: Int64) throws { put(.signed(value)) }
    mutating func encode(_ value: UInt) throws { put(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt8) throws { put(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt16) throws { put(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt32) throws { put(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt64) throws { put(.unsigned(value)) }
}

/// A coding key made up for a position, a super encoder, or a key read back.
struct CompactKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}
