import Strata

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a store reads and writes as its configured coder and compression change over the
/// same data: run against every backend whose configuration has them. `make` returns a new
/// store over the same data each call (the same directory, file, Redis database), with the
/// given coder, compression and previous coders.
public enum ValueFormatScenario {
    public typealias Make = @Sendable (any ValueCoder, ValueCompression, [any ValueCoder]) async throws -> any KeyValueStore

    /// A failed expectation of the scenario.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// A value of several fields, long enough to be compressed above a 256-byte threshold.
    struct Record: Codable, Sendable, Equatable {
        var id: Int
        var name: String
        var scores: [Double]
        var note: String?
    }

    /// A user's coder: JSON behind an identifier of its own.
    public struct TaggedJSONCoder: ValueCoder {
        public let identifier: String
        public init(identifier: String) { self.identifier = identifier }
        public func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] { try JSONValueCoder().encode(value) }
        public func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
            try JSONValueCoder().decode(type, from: bytes)
        }
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw Failure(description: message()) }
    }

    /// The stored bytes of `key` (its envelope, if any, included).
    static func stored(_ store: any KeyValueStore, _ key: String) async throws -> [UInt8] {
        guard let entry = try await store.entry(forKey: key) else { throw Failure(description: "no entry for \(key)") }
        return entry.bytes
    }

    public static func run(_ make: Make) async throws {
        let small = Record(id: 1, name: "small", scores: [0.5], note: nil)
        let large = Record(id: 2, name: String(repeating: "large ", count: 100), scores: Array(repeating: 1.25, count: 50), note: "n")
        let coded: [UInt8] = [0x00, 0x53, 0x54, 0x52, 0x43]
        let compressed: [UInt8] = [0x00, 0x53, 0x54, 0x52, 0x5A]

        // JSON by default: plain JSON bytes, as every release wrote them.
        let json = try await make(.json, .none, [])
        try await json.set("json:small", small, expires: "1h")
        try await json.set("json:large", large, options: EntryOptions(expires: "1h", tags: ["t"]))
        let plain = try await stored(json, "json:small")
        try expect(
            plain.first == UInt8(ascii: "{") && (try JSONDecoder().decode(Record.self, from: Data(plain))) == small,
            "JSON entries stay plain JSON: \(String(decoding: plain, as: UTF8.self))")

        // Switched to binary: reads the JSON entries, writes marked ones.
        let binary = try await make(.binary, .none, [])
        try expect(try await binary.get("json:small", as: Record.self) == small, "binary reads a JSON entry")
        try expect(try await binary.get("json:large", as: Record.self) == large, "binary reads a JSON entry in an envelope")
        try await binary.set("binary:small", small)
        try await binary.set("binary:large", large, options: EntryOptions(expires: "1h", tags: ["t"]))
        try expect(try await stored(binary, "binary:small").starts(with: coded), "a binary entry begins with the coder's marker")
        try expect(try await binary.getOrSet("binary:computed", as: Record.self) { large } == large, "binary getOrSet")

        // Raw types stay raw whatever the coder and compression.
        let squeezed = try await make(.binary, .zlib(above: 1), [])
        let text = String(repeating: "plain text ", count: 200)
        try await squeezed.set("raw:text", text)
        try await squeezed.set("raw:bytes", Array(text.utf8))
        try await squeezed.set("raw:data", Data(text.utf8))
        for key in ["raw:text", "raw:bytes", "raw:data"] {
            try expect(try await stored(squeezed, key) == Array(text.utf8), "\(key) stays raw bytes")
        }

        // Back to JSON: reads what binary wrote.
        let back = try await make(.json, .none, [])
        try expect(try await back.get("binary:small", as: Record.self) == small, "JSON reads a binary entry")
        try expect(try await back.get("binary:large", as: Record.self) == large, "JSON reads a binary entry in an envelope")
        try expect(try await back.get("binary:computed", as: Record.self) == large, "JSON reads a computed binary entry")

        // Compression above a threshold: marked above, plain below; read by any store.
        let zipped = try await make(.binary, .zlib(above: 256), [])
        try await zipped.set("zip:small", small)
        try await zipped.set("zip:large", large)
        try await zipped.set("zip:tagged", large, options: EntryOptions(expires: "1h", tags: ["t"]))
        try expect(try await stored(zipped, "zip:small").starts(with: coded), "below the threshold: not compressed")
        let zippedLarge = try await stored(zipped, "zip:large")
        try expect(zippedLarge.starts(with: compressed), "above the threshold: compressed")
        try expect(zippedLarge.count < (try BinaryValueCoder().encode(large)).count / 2, "compressed is smaller")
        for key in ["zip:small", "zip:large", "zip:tagged"] {
            try expect(try await back.get(key, as: Record.self) != nil, "an uncompressed JSON store reads \(key)")
            try expect(try await zipped.get(key, as: Record.self) != nil, "the compressing store reads \(key)")
        }
        try expect(try await zipped.get("json:large", as: Record.self) == large, "the compressing store reads plain JSON")
        try expect(try await back.entries(prefix: "zip:", as: Record.self).count == 3, "entries(prefix:) reads compressed entries")

        // A user's coder: read by a store that lists it, decodingFailed naming it elsewhere.
        let mine = TaggedJSONCoder(identifier: "mine-v1")
        let user = try await make(mine, .none, [])
        try await user.set("user:1", small)
        try expect(try await stored(user, "user:1").starts(with: coded + [7] + Array("mine-v1".utf8)), "the marker names the coder")
        let migrated = try await make(TaggedJSONCoder(identifier: "mine-v2"), .none, [mine])
        try expect(try await migrated.get("user:1", as: Record.self) == small, "a previous coder still reads")
        do {
            _ = try await back.get("user:1", as: Record.self)
            throw Failure(description: "a store that does not know the coder read its entry")
        } catch let error as StrataError {
            let message = String(describing: error)
            try expect(error.code == .decodingFailed, "an unknown coder's entry: \(error)")
            try expect(message.contains("user:1") && message.contains("mine-v1"), "the error names the key and the coder: \(message)")
        }

        // A value the coder cannot decode as the type asked for names the key and the coder.
        do {
            _ = try await back.get("binary:small", as: [String: String].self)
            throw Failure(description: "a binary Record read as a dictionary of strings")
        } catch let error as StrataError {
            let message = String(describing: error)
            try expect(error.code == .decodingFailed && message.contains("binary:small") && message.contains("binary"), "\(message)")
        }
        for store in [json, binary, squeezed, back, zipped, user, migrated] { try? await store.close() }
    }
}
