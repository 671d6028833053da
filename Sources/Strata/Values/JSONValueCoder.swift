#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `Codable` values as JSON (Foundation's `JSONEncoder` and `JSONDecoder` with their
/// default settings): the default coder. Its entries carry no marker, exactly as every
/// release before coders could be chosen wrote them, so what is stored stays readable
/// both ways and other clients read plain JSON.
///
/// ```swift
/// var configuration = MemoryStore.Configuration()
/// configuration.valueCoder = .json     // the default
/// ```
public struct JSONValueCoder: ValueCoder {
    /// `json`.
    ///
    /// ```swift
    /// JSONValueCoder().identifier   // "json"
    /// ```
    public var identifier: String { "json" }

    /// The JSON coder.
    ///
    /// ```swift
    /// let coder = JSONValueCoder()
    /// ```
    public init() {}

    /// `value` as JSON.
    ///
    /// ```swift
    /// let bytes = try JSONValueCoder().encode(["a": 1])   // {"a":1}
    /// ```
    public func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        [UInt8](try JSONEncoder().encode(value))
    }

    /// A `type` read from JSON.
    ///
    /// ```swift
    /// let numbers = try JSONValueCoder().decode([String: Int].self, from: Array(#"{"a":1}"#.utf8))
    /// ```
    public func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        try JSONDecoder().decode(type, from: Data(bytes))
    }
}
