/// Turns `Codable` values into the bytes a store keeps, and back: chosen per store in its
/// configuration (`configuration.valueCoder`), ``JSONValueCoder`` by default.
///
/// `String`, `Data` and `[UInt8]` never go through a coder: they are stored as their raw
/// bytes, so other clients of the backend read them as they are. Under the built-in coders
/// (JSON and binary) integers are stored as their decimal text; a coder of yours sees them. Entries written by a coder
/// other than JSON begin with a marker naming its ``identifier``, and a store reads an entry
/// with the coder its marker names, not with the coder it writes with: a store that changes
/// coder still reads what it wrote before (see ``ValueFormat``).
///
/// A coder of your own, for example for protobuf messages:
///
/// ```swift
/// struct MessageCoder: ValueCoder {
///     var identifier: String { "protobuf" }
///     func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
///         guard let message = value as? any ProtobufMessage else { return try JSONValueCoder().encode(value) }
///         return try message.serializedBytes()
///     }
///     func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
///         guard let message = type as? any ProtobufMessage.Type else { return try JSONValueCoder().decode(type, from: bytes) }
///         return try message.init(serializedBytes: bytes) as! Value
///     }
/// }
/// ```
public protocol ValueCoder: Sendable {
    /// The name written in every entry this coder writes, which picks the coder that reads
    /// it back: 1 to 64 UTF-8 bytes, stable across releases of your program. `json` and
    /// `binary` are Strata's own.
    ///
    /// ```swift
    /// var identifier: String { "protobuf" }
    /// ```
    var identifier: String { get }

    /// The bytes of `value`.
    ///
    /// ```swift
    /// let bytes = try BinaryValueCoder().encode(profile)
    /// ```
    func encode<Value: Encodable>(_ value: Value) throws -> [UInt8]

    /// A `type` read from `bytes`, which this coder wrote; throws when they do not decode as `type`.
    ///
    /// ```swift
    /// let profile = try BinaryValueCoder().decode(Profile.self, from: bytes)
    /// ```
    func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value
}

extension ValueCoder where Self == JSONValueCoder {
    /// JSON, as stored by every release before coders could be chosen: the default.
    ///
    /// ```swift
    /// configuration.valueCoder = .json
    /// ```
    public static var json: JSONValueCoder { JSONValueCoder() }
}

extension ValueCoder where Self == BinaryValueCoder {
    /// Strata's compact binary coding of `Codable` values (see ``BinaryValueCoder``).
    ///
    /// ```swift
    /// configuration.valueCoder = .binary
    /// ```
    public static var binary: BinaryValueCoder { BinaryValueCoder() }
}
