#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How values become bytes: `Data`, `[UInt8]` and `String` as their raw bytes (UTF-8
/// for `String`), so other clients of a backend read them as they are; every other
/// `Codable` value by the store's coder (JSON unmarked, any other coder behind a marker),
/// compressed when the store's ``ValueFormat`` says so (see ``ValueMarker``).
@usableFromInline
package enum ValueCoding {
    package static func encode<Value: Encodable>(
        _ value: Value, key: String, backend: String, format: ValueFormat = .json
    ) throws -> [UInt8] {
        if Value.self == [UInt8].self { return unsafeBitCast(value, to: [UInt8].self) }
        if Value.self == Data.self { return [UInt8](unsafeBitCast(value, to: Data.self)) }
        if Value.self == String.self { return Array(unsafeBitCast(value, to: String.self).utf8) }
        let coder = format.coder
        if let text = decimalText(value), coder is JSONValueCoder || coder is BinaryValueCoder { return text }
        var bytes: [UInt8]
        do {
            bytes = try coder.encode(value)
        } catch {
            throw StrataError(
                code: .encodingFailed, message: "cannot encode a \(Value.self) with the \(StrataError.quoted(coder.identifier)) coder",
                key: key, backend: backend, underlying: error)
        }
        if !(coder is JSONValueCoder) {
            // Only Strata's own coders may use its identifiers: a marker names one reader.
            let reserved = ["json", "binary"].contains(coder.identifier) && !(coder is BinaryValueCoder)
            guard !reserved else {
                throw StrataError(
                    code: .encodingFailed, message: "the identifier \(StrataError.quoted(coder.identifier)) is Strata's own",
                    key: key, backend: backend)
            }
            bytes = try ValueMarker.code(bytes, identifier: coder.identifier, key: key, backend: backend)
        }
        return ValueMarker.compress(bytes, with: format.compression)
    }

    /// `bytes` as a `Value`. `format` is asked for only by a marked value (another coder's):
    /// a store builds it from its configuration on each call, which cost a read of text a
    /// sixth of its decoding when it was asked for every value.
    @usableFromInline
    package static func decode<Value: Decodable>(
        _ bytes: [UInt8], as type: Value.Type, key: String, backend: String, format: @autoclosure () -> ValueFormat = .json
    ) throws -> Value {
        // After the type check the cast cannot fail; unsafeBitCast skips the runtime's
        // dynamic cast, which costs more than a whole memory hit.
        if isRaw(Value.self) {
            guard let value = raw(bytes, as: type) else {
                throw StrataError(
                    code: .decodingFailed, message: "the stored bytes are not valid UTF-8 text",
                    key: key, backend: backend)
            }
            return value
        }
        var bytes = bytes
        // JSON never begins with a zero byte: only a marked value does.
        if bytes.first == 0 {
            if ValueMarker.begins(bytes, with: ValueMarker.compressed) { bytes = try ValueMarker.expand(bytes, key: key, backend: backend) }
            if ValueMarker.begins(bytes, with: ValueMarker.coded) {
                return try decodeMarked(bytes, as: type, key: key, backend: backend, format: format())
            }
        }
        do {
            return try JSONDecoder().decode(Value.self, from: Data(bytes))
        } catch {
            throw StrataError(
                code: .decodingFailed, message: "the stored value does not decode as \(Value.self) with the \"json\" coder",
                key: key, backend: backend, underlying: error)
        }
    }

    /// A value behind a coder's marker, read by the coder it names.
    private static func decodeMarked<Value: Decodable>(
        _ bytes: [UInt8], as type: Value.Type, key: String, backend: String, format: ValueFormat
    ) throws -> Value {
        guard let (identifier, start) = ValueMarker.identifier(of: bytes) else {
            throw StrataError(code: .decodingFailed, message: "the stored value's coder marker is cut short", key: key, backend: backend)
        }
        let name = StrataError.quoted(identifier)
        guard let coder = format.reader(named: identifier) else {
            throw StrataError(
                code: .decodingFailed, message: "the stored value was written by the \(name) coder, which this store does not know",
                key: key, backend: backend)
        }
        do {
            return try coder.decode(type, from: Array(bytes[start...]))
        } catch {
            throw StrataError(
                code: .decodingFailed, message: "the stored value does not decode as \(Value.self) with the \(name) coder",
                key: key, backend: backend, underlying: error)
        }
    }

    /// `bytes` as a value of a type stored raw (`[UInt8]`, `Data`, `String`): `nil` for another
    /// type, and for text that is not valid UTF-8. What ``decode(_:as:key:backend:format:)``
    /// returns for them, and what a tiered store's L1 hit serves of a plain copy.
    @inline(__always)
    package static func raw<Value>(_ bytes: [UInt8], as type: Value.Type) -> Value? {
        if Value.self == [UInt8].self { return unsafeBitCast(bytes, to: Value.self) }
        if Value.self == Data.self { return unsafeBitCast(Data(bytes), to: Value.self) }
        if Value.self == String.self, let text = text(of: bytes) { return unsafeBitCast(text, to: Value.self) }
        return nil
    }

    /// `bytes` as text, `nil` when they are not valid UTF-8. ASCII (most stored text) is
    /// valid as it stands and copied without a validation: `String(validating:as:)` looks the
    /// encoding's type up at run time on every call, about a third of a short text's decoding.
    package static func text(of bytes: [UInt8]) -> String? {
        let isASCII = bytes.withUnsafeBufferPointer { buffer in
            var bits: UInt8 = 0
            for byte in buffer { bits |= byte }
            return bits < 0x80
        }
        return isASCII ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
    }

    /// An integer's decimal text, whatever the compression, under Strata's own coders (JSON
    /// and binary; a coder of yours, which may encrypt or sign, sees every value): what JSON
    /// writes for it, what ``KeyValueStore/increment(_:by:expires:)`` counts on, and what other
    /// clients of a backend read (Redis's `INCRBY`). `nil` for any other type. The text reads
    /// back through the JSON path, as an unmarked value does under every coder.
    @inline(__always)
    static func decimalText<Value>(_ value: Value) -> [UInt8]? {
        func text<Integer: FixedWidthInteger>(_ type: Integer.Type) -> [UInt8] {
            Array(String(unsafeBitCast(value, to: Integer.self)).utf8)
        }
        if Value.self == Int.self { return text(Int.self) }
        if Value.self == Int64.self { return text(Int64.self) }
        if Value.self == Int32.self { return text(Int32.self) }
        if Value.self == Int16.self { return text(Int16.self) }
        if Value.self == Int8.self { return text(Int8.self) }
        if Value.self == UInt.self { return text(UInt.self) }
        if Value.self == UInt64.self { return text(UInt64.self) }
        if Value.self == UInt32.self { return text(UInt32.self) }
        if Value.self == UInt16.self { return text(UInt16.self) }
        if Value.self == UInt8.self { return text(UInt8.self) }
        return nil
    }

    /// Whether values of this type are stored as raw bytes rather than JSON.
    package static func isRaw<Value>(_ type: Value.Type) -> Bool {
        type == [UInt8].self || type == Data.self || type == String.self
    }

    /// The decimal integer held in `bytes`, as `increment` reads it.
    static func integer(_ bytes: [UInt8], key: String, backend: String) throws -> Int {
        // Only the canonical form (no sign but a minus, no leading zero, no "-0"), as Redis's
        // INCRBY takes it: "+5" or "007" would count on one store and throw on another.
        guard let text = String(validating: bytes, as: UTF8.self), let number = Int(text), String(number) == text else {
            throw StrataError(
                code: .notAnInteger, message: "the stored value is not a decimal integer in canonical form (no \"+\", no leading zero)",
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
