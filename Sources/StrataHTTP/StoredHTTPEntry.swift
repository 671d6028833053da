import Foundation
import Strata

/// What the cache keeps under a URL's key: a response, or, for responses that carry `Vary`,
/// an index naming the request fields that select a variant.
enum StoredHTTPEntry: Sendable {
    case response(StoredHTTPResponse)
    case varyIndex(VaryIndex)

    private static let responseMagic: [UInt8] = Array("SHR1".utf8)
    private static let indexMagic: [UInt8] = Array("SHV1".utf8)

    func encoded() -> [UInt8] {
        var writer = ByteWriter()
        switch self {
        case .response(let response):
            writer.bytes += Self.responseMagic
            writer.string(response.url)
            writer.integer(Int64(response.statusCode))
            writer.integer(response.requestTime.millisecondsSince1970)
            writer.integer(response.responseTime.millisecondsSince1970)
            writer.integer(response.fixedLifetime ?? -1)
            writer.fields(response.headers.fields)
            writer.integer(Int64(response.varyValues.count))
            for (name, value) in response.varyValues {
                writer.string(name)
                writer.integer(value == nil ? 0 : 1)
                writer.string(value ?? "")
            }
            writer.blob(response.body)
        case .varyIndex(let index):
            writer.bytes += Self.indexMagic
            writer.integer(Int64(bitPattern: index.generation))
            writer.integer(Int64(index.fieldNames.count))
            for name in index.fieldNames { writer.string(name) }
        }
        return writer.bytes
    }

    /// Decodes stored bytes; anything malformed (wrong magic, truncated, trailing bytes,
    /// impossible values) throws, so the caller can treat the entry as a miss.
    init(decoding bytes: [UInt8]) throws(MalformedEntry) {
        var reader = ByteReader(bytes: bytes)
        let magic = try reader.take(4)
        if magic.elementsEqual(Self.responseMagic) {
            let url = try reader.string()
            let status = try reader.integer()
            guard (100...999).contains(status) else { throw MalformedEntry() }
            let requestTime = Timestamp(millisecondsSince1970: try reader.integer())
            let responseTime = Timestamp(millisecondsSince1970: try reader.integer())
            let fixed = try reader.integer()
            let headers = HeaderFields(try reader.fields())
            var varyValues: [(String, String?)] = []
            for _ in 0..<(try reader.count()) {
                let name = try reader.string()
                let present = try reader.integer()
                let value = try reader.string()
                varyValues.append((name, present == 1 ? value : nil))
            }
            // A `Data` of its own: every hit hands it to its response without a copy.
            let body = try reader.data()
            guard reader.isAtEnd else { throw MalformedEntry() }
            self = .response(
                StoredHTTPResponse(
                    .init(
                        url: url, statusCode: Int(status), headers: headers, body: body,
                        requestTime: requestTime, responseTime: responseTime,
                        varyValues: varyValues, fixedLifetime: fixed < 0 ? nil : fixed
                    )))
        } else if magic.elementsEqual(Self.indexMagic) {
            let generation = UInt64(bitPattern: try reader.integer())
            var names: [String] = []
            for _ in 0..<(try reader.count()) { names.append(try reader.string()) }
            guard reader.isAtEnd, !names.isEmpty else { throw MalformedEntry() }
            self = .varyIndex(VaryIndex(generation: generation, fieldNames: names))
        } else {
            throw MalformedEntry()
        }
    }

    struct MalformedEntry: Error {}
}

/// A stored response: status, header fields and raw body, with the times of the exchange
/// that produced it (RFC 9111 §4.2.3 needs them to compute the response's age).
@dynamicMemberLookup
struct StoredHTTPResponse: Sendable {
    /// A response's fields, as values.
    struct Fields: Sendable {
        var url: String
        var statusCode: Int
        /// The header fields; what caching needs from them is parsed once, into `facts`.
        var headers: HeaderFields {
            didSet { facts = Facts(headers) }
        }
        private(set) var facts: Facts
        var body: Data
        var requestTime: Timestamp
        var responseTime: Timestamp
        /// The request's values of the fields the response's `Vary` names (nil: absent).
        var varyValues: [(String, String?)]
        /// A lifetime in milliseconds given with `expires:`, which replaces the headers' own.
        var fixedLifetime: Int64?

        init(
            url: String, statusCode: Int, headers: HeaderFields, body: Data, requestTime: Timestamp,
            responseTime: Timestamp, varyValues: [(String, String?)], fixedLifetime: Int64?
        ) {
            self.url = url
            self.statusCode = statusCode
            self.headers = headers
            self.facts = Facts(headers)
            self.body = body
            self.requestTime = requestTime
            self.responseTime = responseTime
            self.varyValues = varyValues
            self.fixedLifetime = fixedLifetime
        }
    }

    /// The fields behind one reference, copied on write: a hit copies its response a few
    /// times (out of the decoded entries, into the lookup, into the freshness check), and
    /// each copy of nine fields retained each of their buffers, where a copy of this
    /// retains one.
    private final class Box: @unchecked Sendable {  // changed only while uniquely referenced
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box

    init(_ fields: Fields) { box = Box(fields) }

    subscript<Value>(dynamicMember field: KeyPath<Fields, Value>) -> Value { box.fields[keyPath: field] }

    subscript<Value>(dynamicMember field: WritableKeyPath<Fields, Value>) -> Value {
        get { box.fields[keyPath: field] }
        set {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.fields) }
            box.fields[keyPath: field] = newValue
        }
    }
}

extension StoredHTTPResponse.Fields {
    /// The header values caching decisions read, parsed once per decoded response rather
    /// than at every use.
    struct Facts: Sendable {
        var cacheControl: CacheControl
        var date: Int64?
        var ageSeconds: Int64?
        /// `.some(nil)`: an `Expires` that isn't a valid date, which means already expired.
        var expires: Int64??
        var lastModified: Int64?
        var etag: String?
        var lastModifiedText: String?
        var varyFieldNames: [String]

        init(_ headers: HeaderFields) {
            // One pass over the fields for all of them (a decoded response's facts are
            // computed on every hit), repeated fields joined as `headers[name]` joins them.
            var values:
                (
                    cacheControl: String?, date: String?, age: String?, expires: String?, lastModified: String?,
                    etag: String?, vary: String?
                )
            values = (nil, nil, nil, nil, nil, nil, nil)
            func add(_ value: String, to found: inout String?) { found = found.map { $0 + ", " + value } ?? value }
            for field in headers.fields {
                switch field.name.utf8.count {  // most fields are none of these, told by length alone
                case 3 where HeaderFields.named(field.name, "age"): add(field.value, to: &values.age)
                case 4 where HeaderFields.named(field.name, "date"): add(field.value, to: &values.date)
                case 4 where HeaderFields.named(field.name, "etag"): add(field.value, to: &values.etag)
                case 4 where HeaderFields.named(field.name, "vary"): add(field.value, to: &values.vary)
                case 7 where HeaderFields.named(field.name, "expires"): add(field.value, to: &values.expires)
                case 13 where HeaderFields.named(field.name, "cache-control"): add(field.value, to: &values.cacheControl)
                case 13 where HeaderFields.named(field.name, "last-modified"): add(field.value, to: &values.lastModified)
                default: break
                }
            }
            cacheControl = CacheControl(values.cacheControl)
            date = values.date.flatMap(HTTPDate.milliseconds)
            ageSeconds = values.age.flatMap { CacheControl.deltaSeconds($0.trimmingWhitespace) }
            expires = values.expires.map { HTTPDate.milliseconds($0) }
            lastModifiedText = values.lastModified
            lastModified = lastModifiedText.flatMap(HTTPDate.milliseconds)
            etag = values.etag
            varyFieldNames = HeaderFields.members(of: values.vary).map { $0.lowercased() }
        }
    }
}

/// The fields a URL's responses vary on, and a generation that names the current set of
/// variants: invalidating the URL removes the index, so variants stored under the old
/// generation can never be found again, even if they outlive it in the store.
struct VaryIndex: Sendable, Equatable {
    var generation: UInt64
    var fieldNames: [String]
}

private struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func integer(_ value: Int64) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    mutating func blob(_ value: some Collection<UInt8>) {
        integer(Int64(value.count))
        bytes += value
    }

    mutating func string(_ value: String) { blob(Array(value.utf8)) }

    mutating func fields(_ fields: [HeaderFields.Field]) {
        integer(Int64(fields.count))
        for field in fields {
            string(field.name)
            string(field.value)
        }
    }
}

private struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    var isAtEnd: Bool { offset == bytes.count }

    mutating func take(_ count: Int) throws(StoredHTTPEntry.MalformedEntry) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else { throw .init() }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    mutating func integer() throws(StoredHTTPEntry.MalformedEntry) -> Int64 {
        var value: UInt64 = 0
        for (shift, byte) in try take(8).enumerated() { value |= UInt64(byte) << (UInt64(shift) * 8) }
        return Int64(bitPattern: value)
    }

    /// A count of items, each at least one byte long, so a corrupt count can't make the
    /// decoder loop or allocate beyond the entry's size.
    mutating func count() throws(StoredHTTPEntry.MalformedEntry) -> Int {
        let value = try integer()
        guard value >= 0, value <= Int64(bytes.count - offset) else { throw .init() }
        return Int(value)
    }

    mutating func data() throws(StoredHTTPEntry.MalformedEntry) -> Data {
        Data(try take(count()))
    }

    mutating func string() throws(StoredHTTPEntry.MalformedEntry) -> String {
        // From the slice's own buffer: no array in between, and a short text needs no
        // allocation. ASCII (header fields nearly always are) is valid UTF-8 as it stands;
        // only other text goes through `String(validating:)`, which is generic in the
        // standard library and looks its types up at run time, once per field of a hit.
        let text = try take(count()).withUnsafeBufferPointer { buffer in
            buffer.allSatisfy { $0 < 0x80 } ? String(decoding: buffer, as: UTF8.self) : String(validating: buffer, as: UTF8.self)
        }
        guard let text else { throw .init() }
        return text
    }

    mutating func fields() throws(StoredHTTPEntry.MalformedEntry) -> [HeaderFields.Field] {
        let count = try count()
        var result: [HeaderFields.Field] = []
        result.reserveCapacity(min(count, 256))
        for _ in 0..<count { result.append(.init(name: try string(), value: try string())) }
        return result
    }
}
