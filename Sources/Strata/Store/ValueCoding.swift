import FoundationEssentials

/// How values become bytes: `Data`, `[UInt8]` and `String` as their raw bytes (UTF-8
/// for `String`), so other clients of a backend read them as they are; every other
/// `Codable` value as JSON.
enum ValueCoding {
    static func encode<Value: Encodable>(_ value: Value, key: String, backend: String) throws -> [UInt8] {
        if let bytes = value as? [UInt8] { return bytes }
        if let data = value as? Data { return [UInt8](data) }
        if let text = value as? String { return Array(text.utf8) }
        do {
            return [UInt8](try JSONEncoder().encode(value))
        } catch {
            throw StrataError(
                code: .encodingFailed, message: "cannot encode a \(Value.self) as JSON",
                key: key, backend: backend, underlying: error)
        }
    }

    static func decode<Value: Decodable>(_ bytes: [UInt8], as type: Value.Type, key: String, backend: String) throws -> Value {
        if Value.self == [UInt8].self { return bytes as! Value }
        if Value.self == Data.self { return Data(bytes) as! Value }
        if Value.self == String.self {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw StrataError(
                    code: .decodingFailed, message: "the stored bytes are not valid UTF-8 text",
                    key: key, backend: backend)
            }
            return text as! Value
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
