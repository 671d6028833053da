#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A coder of the checks' own, standing for a user's (a protobuf coder, say): JSON behind
/// its own identifier.
struct ChecksCoder: ValueCoder {
    var identifier: String { "conformance-checks" }
    func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] { try JSONValueCoder().encode(value) }
    func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        try JSONValueCoder().decode(type, from: bytes)
    }
}

/// Whatever coder and compression a store writes with, it reads every entry by the marker
/// the entry carries: checked by writing entries as other formats would, through the raw
/// calls, and reading them through the typed API.
extension KeyValueStoreConformance {
    static let coderChecks: [Check] = [
        Check("a JSON entry, as every release wrote it, reads back; String, Data and [UInt8] are raw bytes") { context in
            try await withStore(context) { store in
                let sample = Sample(id: 3, name: "json", tags: ["x"])
                try await store.setEntry(StoredEntry(bytes: [UInt8](try JSONEncoder().encode(sample))), forKey: "old")
                try Expect.equal(try await store.get("old", as: Sample.self), sample, "an unmarked JSON entry")
                try await store.set("text", String(repeating: "raw ", count: 500))
                let text = try await store.entry(forKey: "text")?.bytes
                try Expect.equal(text, Array(String(repeating: "raw ", count: 500).utf8), "a long String's entry")
            }
        },
        Check("entries written by the binary coder, compressed or not, read back whatever the store writes with") { context in
            try await withStore(context) { store in
                let sample = Sample(id: 4, name: String(repeating: "binary ", count: 300), tags: ["y"])
                for (key, compression) in [("plain", ValueCompression.none), ("compressed", .zlib(above: 1))] {
                    let format = ValueFormat(coder: .binary, compression: compression)
                    let bytes = try ValueCoding.encode(sample, key: key, backend: "checks", format: format)
                    try Expect.that(bytes.first == 0, "a \(key) binary entry begins with a marker")
                    try await store.setEntry(StoredEntry(bytes: bytes), forKey: key)
                    try Expect.equal(try await store.get(key, as: Sample.self), sample, "a \(key) binary entry")
                }
                let json = try ValueCoding.encode(
                    sample, key: "zipped", backend: "checks", format: ValueFormat(compression: .zlib(above: 1)))
                try await store.setEntry(StoredEntry(bytes: json), forKey: "zipped")
                try Expect.equal(try await store.get("zipped", as: Sample.self), sample, "a compressed JSON entry")
                let entries = try await store.entries(prefix: "", as: Sample.self)
                try Expect.equal(entries.map(\.key), ["compressed", "plain", "zipped"], "entries(prefix:) reads them all")
            }
        },
        Check("an entry of a coder the store does not know throws decodingFailed naming the key and the coder") { context in
            try await withStore(context) { store in
                let sample = Sample(id: 5, name: "mine", tags: [])
                let bytes = try ValueCoding.encode(sample, key: "mine", backend: "checks", format: ValueFormat(coder: ChecksCoder()))
                try await store.setEntry(StoredEntry(bytes: bytes), forKey: "mine")
                let error = try await Expect.error(.decodingFailed, "get of an unknown coder's entry") {
                    try await store.get("mine", as: Sample.self)
                }
                let text = String(describing: error)
                try Expect.that(text.contains("mine") && text.contains("conformance-checks"), "the error names the key and coder: \(text)")
            }
        },
        Check("a compressed value that does not expand is a miss, never a crash, and getOrSet replaces it") { context in
            try await withStore(context) { store in
                let sample = Sample(id: 6, name: String(repeating: "z", count: 2_000), tags: [])
                var bytes = try ValueCoding.encode(sample, key: "bad", backend: "checks", format: ValueFormat(compression: .zlib(above: 1)))
                try Expect.equal(Array(bytes.prefix(5)), [0x00, 0x53, 0x54, 0x52, 0x5A], "a compressed entry's marker")
                for index in 12..<bytes.count { bytes[index] ^= 0x5A }
                // A damaged stream, a header claiming 64 MiB from a few bytes, one cut short, an unknown algorithm.
                let claims: [[UInt8]] = [
                    bytes, [0x00, 0x53, 0x54, 0x52, 0x5A, 1, 0x04, 0x00, 0x00, 0x00, 0x78, 0x9C, 0x03, 0x00],
                    [0x00, 0x53, 0x54, 0x52, 0x5A, 1], [0x00, 0x53, 0x54, 0x52, 0x5A, 9, 0, 0, 0, 1, 0],
                ]
                for (index, damaged) in claims.enumerated() {
                    try await store.setEntry(StoredEntry(bytes: damaged), forKey: "bad")
                    try Expect.equal(try await store.get("bad", as: Sample.self), nil, "damaged compressed value \(index)")
                }
                try Expect.equal(try await store.entries(prefix: "", as: Sample.self).count, 0, "entries(prefix:) leaves it out")
                let computed = try await store.getOrSet("bad", as: Sample.self) { sample }
                try Expect.equal(computed, sample, "getOrSet computes over it")
                try Expect.equal(try await store.get("bad", as: Sample.self), sample, "and replaces it")
            }
        },
    ]
}
