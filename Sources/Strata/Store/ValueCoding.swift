#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How values become bytes: `Data`, `[UInt8]` and `String` as their raw bytes (UTF-8
/// for `String`), so other clients of a backend read them as they are; every other
/// `Codable` value as JSON.
@usableFromInline
package enum ValueCoding {
    package static func encode<Value: Encodable>(_ value: Value, key: String, backend: String) throws -> [UInt8] {
        if Value.self == [UInt8].self { return unsafeBitCast(value, to: [UInt8].self) }
        if Value.self == Data.self { return [UInt8](unsafeBitCast(value, to: Data.self)) }
        if Value.self == String.self { return Array(unsafeBitCast(value, to: String.self).utf8) }
        do {
            return [UInt8](try JSONEncoder().encode(value))
        } catch {
            throw StrataError(
                code: .encodingFailed, message: "cannot encode a \(Value.self) as JSON",
                key: key, backend: backend, underlying: error)
        }
    }

    @usableFromInline
    package static func decode<Value: Decodable>(_ bytes: [UInt8], as type: Value.Type, key: String, backend: String) throws -> Value {
        // After the type check the cast cannot fail; unsafeBitCast skips the runtime's
        // dynamic cast, which costs more than a whole memory hit.
        if Value.self == [UInt8].self { return unsafeBitCast(bytes, to: Value.self) }
        if Value.self == Data.self { return unsafeBitCast(Data(bytes), to: Value.self) }
        if Value.self == String.self {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw StrataError(
                    code: .decodingFailed, message: "the stored bytes are not valid UTF-8 text",
                    key: key, backend: backend)
            }
            return unsafeBitCast(text, to: Value.self)
        }
        do {
            return try JSONDecoder().decode(Value.self, from: Data(bytes))
        } catch {
            throw StrataError(
                code: .decodingFailed, message: "the stored value does not decode as \(Value.self)",
                key: key, backend: backend, underlying: error)
        }
    }

    /// Whether values of this type are stored as raw bytes rather than JSON.
    static func isRaw<Value>(_ type: Value.Type) -> Bool {
        type == [UInt8].self || type == Data.self || type == String.self
    }

    /// The decimal integer held in `bytes`, as `increment` reads it.
    static func integer(_ bytes: [UInt8], key: String, backend: String) throws -> Int {
        guard let text = String(validating: bytes, as: UTF8.self), let number = Int(text) else {
            throw StrataError(
                code: .notAnInteger, message: "the stored value is not a decimal integer",
                key: key, backend: backend)
        }
        return number
    }

    /// `value + delta`, or a ``StrataError/Code/notAnInteger`` error on overflow.
    static func adding(_ delta: Int, to value: Int, key: String, backend: String) throws -> Int {
        let (sum, overflow) = value.addingReportingOverflow(delta)
        guard !overflow else {
            throw StrataError(
                code: .notAnInteger, message: "incrementing \(value) by \(delta) would overflow",
                key: key, backend: backend)
        }
        return sum
    }
}
