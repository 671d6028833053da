import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Value coders and compression on the core module's stores: the shared scenario (a store's
/// coder and compression changed over the same data) on a folder and on tiered stores, and
/// what only a memory or a tiered store does.
@Suite("Value formats")
struct ValueFormatTests {
    struct Profile: Codable, Sendable, Equatable {
        var id: Int
        var name: String
        var score: Double
    }

    @Test("FolderStore: switching coder and compression keeps every entry readable")
    func folder() async throws {
        let directory = temporaryDirectory("formats")
        try await ValueFormatScenario.run { coder, compression, previous in
            var configuration = FolderStore.Configuration(directory: directory)
            configuration.valueCoder = coder
            configuration.compression = compression
            configuration.previousValueCoders = previous
            return try FolderStore(configuration: configuration)
        }
    }

    @Test("TieredStore: its configuration's coder and compression, over one L2")
    func tieredOverMemory() async throws {
        let l2 = MemoryStore()
        try await ValueFormatScenario.run { coder, compression, previous in
            var configuration = TieredStore.Configuration(l2Timeout: .seconds(60))  // see RedisValueFormatTests
            configuration.valueCoder = coder
            configuration.compression = compression
            configuration.previousValueCoders = previous
            return TieredStore(l1: MemoryStore(), l2: NotClosing(l2), configuration: configuration)
        }
    }

    @Test("TieredStore: L2's coder and compression when its own are not set")
    func tieredOverFolder() async throws {
        let directory = temporaryDirectory("tiered-formats")
        try await ValueFormatScenario.run { coder, compression, previous in
            var configuration = FolderStore.Configuration(directory: directory)
            configuration.valueCoder = coder
            configuration.compression = compression
            configuration.previousValueCoders = previous
            return TieredStore(
                l1: MemoryStore(), l2: try FolderStore(configuration: configuration), configuration: .init(l2Timeout: .seconds(60)))
        }
    }

    @Test("MemoryStore: its coder shapes the bytes beside the Swift value it keeps")
    func memory() async throws {
        var configuration = MemoryStore.Configuration()
        configuration.valueCoder = .binary
        let memory = MemoryStore(configuration: configuration)
        let profile = Profile(id: 1, name: "Ada", score: 0.5)
        try await memory.set("p", profile)
        let bytes = try #require(try await memory.entry(forKey: "p")?.bytes)
        #expect(bytes.starts(with: [0x00, 0x53, 0x54, 0x52, 0x43, 6] + Array("binary".utf8)))
        #expect(try await memory.get("p", as: Profile.self) == profile)
        #expect(try BinaryValueCoder().decode(Profile.self, from: Array(bytes.dropFirst(12))) == profile)
    }

    @Test("TieredStore: a compressed value that does not expand is a miss counted as undecodable")
    func corruptCounted() async throws {
        let cache = TieredStore(l1: MemoryStore(), l2: MemoryStore())
        let damaged: [UInt8] = [0x00, 0x53, 0x54, 0x52, 0x5A, 1, 0, 0, 0, 40] + Array(repeating: 0xEE, count: 20)
        try await cache.l2.setEntry(StoredEntry(bytes: damaged), forKey: "bad")
        #expect(try await cache.get("bad", as: Profile.self) == nil)
        #expect(cache.statistics.undecodable == 1)
        let computed = try await cache.getOrSet("bad", as: Profile.self) { Profile(id: 2, name: "new", score: 1) }
        #expect(computed.id == 2)
        #expect(cache.statistics.undecodable == 2)
        #expect(try await cache.get("bad", as: Profile.self)?.id == 2)
    }

    @Test("text is read as UTF-8: ASCII as it stands, other scripts validated, bytes that are not UTF-8 refused naming the key")
    func textDecoding() throws {
        #expect(ValueCoding.text(of: Array("plain ascii 0123".utf8)) == "plain ascii 0123")
        #expect(ValueCoding.text(of: []) == "")
        #expect(ValueCoding.text(of: Array("é ✓ \u{1F600}".utf8)) == "é ✓ \u{1F600}")
        #expect(ValueCoding.text(of: [0x61, 0xFF]) == nil, "a byte UTF-8 never uses")
        #expect(ValueCoding.text(of: [0x61, 0xC3]) == nil, "a sequence cut short")
        #expect(ValueCoding.text(of: [0xED, 0xA0, 0x80]) == nil, "a surrogate")
        let error = #expect(throws: StrataError.self) {
            try ValueCoding.decode([0x80], as: String.self, key: "k", backend: "memory")
        }
        #expect(error?.code == .decodingFailed && error?.key == "k")
    }

    @Test("the store's format is asked for only by a value another coder marked, not by text, bytes or JSON")
    func formatAskedForMarkedValuesOnly() throws {
        let asked = Counter()
        func format() -> ValueFormat {
            asked.increment()
            return ValueFormat(coder: .binary)
        }
        _ = try ValueCoding.decode(Array("text".utf8), as: String.self, key: "k", backend: "memory", format: format())
        _ = try ValueCoding.decode([1, 2], as: [UInt8].self, key: "k", backend: "memory", format: format())
        let json = try ValueCoding.encode(Profile(id: 1, name: "a", score: 1), key: "k", backend: "memory")
        #expect(try ValueCoding.decode(json, as: Profile.self, key: "k", backend: "memory", format: format()).id == 1)
        #expect(asked.count == 0)
        let marked = try ValueCoding.encode(
            Profile(id: 2, name: "b", score: 2), key: "k", backend: "memory", format: ValueFormat(coder: .binary))
        #expect(try ValueCoding.decode(marked, as: Profile.self, key: "k", backend: "memory", format: format()).id == 2)
        #expect(asked.count == 1)
    }

    @Test("the binary coder round-trips nested, optional, keyed and unkeyed values, and refuses damaged bytes")
    func binaryCoder() throws {
        struct Nested: Codable, Equatable {
            enum Kind: String, Codable { case a, b }
            var profiles: [Profile]
            var tags: Set<String>
            var when: Date
            var blob: Data
            var maybe: Int?
            var none: String?
            var counts: [String: Int]
            var kind: Kind
            var small: Int8
            var big: UInt64
            var ratio: Float
        }
        let value = Nested(
            profiles: [Profile(id: -7, name: "é ✓", score: -0.25)], tags: ["x", "y"], when: Date(timeIntervalSince1970: 1_000),
            blob: Data([0, 1, 255]), maybe: 5, none: nil, counts: ["a": 1, "b": -2], kind: .b, small: -128, big: .max, ratio: 1.5)
        let coder = BinaryValueCoder()
        let bytes = try coder.encode(value)
        #expect(try coder.decode(Nested.self, from: bytes) == value)
        #expect(throws: DecodingError.self) { try coder.decode(Profile.self, from: bytes) }
        #expect(throws: DecodingError.self) { try coder.decode(Int8.self, from: try coder.encode(300)) }
        // Every prefix and many single-byte changes: an error or a value, never a trap.
        for length in 0..<bytes.count { _ = try? coder.decode(Nested.self, from: Array(bytes.prefix(length))) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            var damaged = bytes
            damaged[Int.random(in: 0..<damaged.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            _ = try? coder.decode(Nested.self, from: damaged)
        }
        // Nesting deeper than 512 containers is refused, not followed down the stack.
        var deep: [UInt8] = []
        for _ in 0..<10_000 { deep += [0x09, 0x01] }
        deep += [0x00, 0x00]
        #expect(throws: DecodingError.self) { try coder.decode([Int].self, from: [0x09, 0x02] + deep) }
    }
}

/// Damaged, hostile and unusual values: what each coder and compression must refuse, bound
/// or keep readable.
@Suite("Value formats: damage and edge cases")
struct ValueDamageTests {
    /// A class that encodes its superclass through a super encoder, as Apple's guidance has
    /// subclasses do: its own `CodingKeys` have no case for "super".
    class Base: Codable {
        var id: Int
        init(id: Int) { self.id = id }
    }

    final class Child: Base {
        var name: String
        enum CodingKeys: String, CodingKey { case name }

        init(id: Int, name: String) {
            self.name = name
            super.init(id: id)
        }

        required init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            try super.init(from: container.superDecoder())
        }

        override func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try super.encode(to: container.superEncoder())
        }
    }

    @Test("the binary coder reads a subclass's superclass from its super decoder, as JSON does")
    func binarySuperDecoder() throws {
        let child = Child(id: 7, name: "Ada")
        let json = try JSONValueCoder().decode(Child.self, from: try JSONValueCoder().encode(child))
        #expect(json.id == 7 && json.name == "Ada")
        let binary = try BinaryValueCoder().decode(Child.self, from: try BinaryValueCoder().encode(child))
        #expect(binary.id == 7 && binary.name == "Ada")
    }

    indirect enum Tree: Codable, Equatable {
        case leaf(Int)
        case node([Tree])
        case named(String, Tree?)
    }

    /// Decodes its fields out of the order they were written, and asks for its optional
    /// field as `decodeIfPresent` does (`contains`, `decodeNil`, then `decode`), twice.
    struct Reordered: Codable, Equatable {
        var a: Int
        var b: String?
        var c: [Int]
        var d: Bool?

        init(a: Int, b: String?, c: [Int], d: Bool?) {
            (self.a, self.b, self.c, self.d) = (a, b, c, d)
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            c = try container.decode([Int].self, forKey: .c)
            b = try container.decodeIfPresent(String.self, forKey: .b)
            b = try container.decodeIfPresent(String.self, forKey: .b)
            d = try container.decodeIfPresent(Bool.self, forKey: .d)
            a = try container.decode(Int.self, forKey: .a)
            #expect(container.contains(.a) && container.contains(.c) && !container.contains(.d))
        }
    }

    @Test("the binary coder round-trips a recursive enum 100 levels deep, and fields decoded out of order or asked for twice")
    func binaryDeepAndReordered() throws {
        let coder = BinaryValueCoder()
        var tree = Tree.leaf(1)
        for depth in 0..<100 { tree = depth % 2 == 0 ? .node([tree, .leaf(depth), .named("none", nil)]) : .named("n\(depth)", tree) }
        #expect(try coder.decode(Tree.self, from: try coder.encode(tree)) == tree)
        for value in [Reordered(a: 1, b: "x", c: [1, 2], d: nil), Reordered(a: -5, b: nil, c: [], d: nil)] {
            #expect(try coder.decode(Reordered.self, from: try coder.encode(value)) == value)
        }
    }

    /// Arrays of one array each, down to an empty one: how many levels deep.
    struct Depth: Decodable {
        let levels: Int
        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            levels = container.count == 0 ? 1 : try container.decode(Depth.self).levels + 1
        }
    }

    @Test("the binary coder reads containers nested 513 deep (512 below the top value) and refuses one more")
    func binaryDepthLimit() throws {
        func nested(_ levels: Int) -> [UInt8] { Array([[UInt8]](repeating: [0x09, 0x01], count: levels - 1).joined()) + [0x09, 0x00] }
        #expect(try BinaryValueCoder().decode(Depth.self, from: nested(513)).levels == 513)
        #expect(throws: DecodingError.self) { try BinaryValueCoder().decode(Depth.self, from: nested(514)) }
    }

    @Test("an integer through a coder of one's own goes through the coder, as any other value")
    func integersThroughACustomCoder() throws {
        struct Reversing: ValueCoder {
            var identifier: String { "reversing" }
            func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] { Array(try JSONValueCoder().encode(value).reversed()) }
            func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
                try JSONValueCoder().decode(type, from: Array(bytes.reversed()))
            }
        }
        let format = ValueFormat(coder: Reversing())
        let bytes = try ValueCoding.encode(1234, key: "n", backend: "memory", format: format)
        #expect(bytes.starts(with: [0x00, 0x53, 0x54, 0x52, 0x43]) && bytes.suffix(4) == Array("4321".utf8), "marked, the coder's bytes")
        #expect(try ValueCoding.decode(bytes, as: Int.self, key: "n", backend: "memory", format: format) == 1234)
    }

    @Test("the binary coder refuses bytes after the value and a number longer than 64 bits")
    func binaryRefusesExtraBytes() throws {
        let coder = BinaryValueCoder()
        #expect(try coder.decode(Int.self, from: [0x03, 0x02]) == 1)
        #expect(throws: DecodingError.self) { try coder.decode(Int.self, from: [0x03, 0x02, 0xFF, 0xFF]) }
        let profile = try coder.encode(ValueFormatTests.Profile(id: 1, name: "a", score: 1))
        #expect(throws: DecodingError.self) { try coder.decode(ValueFormatTests.Profile.self, from: profile + [0x00]) }
        let largest: [UInt8] = [0x04] + [UInt8](repeating: 0xFF, count: 9) + [0x01]
        #expect(try coder.decode(UInt64.self, from: largest) == .max)
        #expect(throws: DecodingError.self) { try coder.decode(UInt64.self, from: [0x04] + [UInt8](repeating: 0xFF, count: 9) + [0x7F]) }
    }

    @Test("a compressed value with bytes after its stream is damaged: refused, naming the key")
    func compressedTrailingBytes() throws {
        let value = [String](repeating: "the same words again and again", count: 40)
        let format = ValueFormat(compression: .zlib(above: 1))
        let compressed = try ValueCoding.encode(value, key: "k", backend: "memory", format: format)
        #expect(compressed.starts(with: [0x00, 0x53, 0x54, 0x52, 0x5A]), "the value is compressed")
        #expect(try ValueCoding.decode(compressed, as: [String].self, key: "k", backend: "memory") == value)
        let error = #expect(throws: StrataError.self) {
            try ValueCoding.decode(compressed + [1, 2, 3], as: [String].self, key: "k", backend: "memory")
        }
        #expect(error?.code == .corruptEntry && error?.key == "k")
    }

    @Test("a damaged compressed value claiming 64 MiB is refused having filled about what it expanded to, not the claim")
    func compressedClaimNotAllocated() throws {
        let claimed = ValueMarker.maximumExpandedBytes
        let header: [UInt8] = [0x00, 0x53, 0x54, 0x52, 0x5A, 1] + (0..<4).map { UInt8(truncatingIfNeeded: claimed >> (24 - 8 * $0)) }
        // Long enough that deflate's largest ratio (1,032) could reach the claim.
        let damaged = header + [UInt8](repeating: 0xEE, count: claimed / 1_032 + 1)
        let before = PageFaults.ofThisThread()
        let error = #expect(throws: StrataError.self) {
            try ValueCoding.decode(damaged, as: [String].self, key: "bomb", backend: "memory")
        }
        let faults = PageFaults.ofThisThread() - before
        #expect(error?.code == .corruptEntry && error?.key == "bomb")
        // Filling the claim touches 16,384 pages of 4 KiB; the stream fails at its first byte.
        #expect(faults < 2_048, "\(faults) pages touched to refuse a value of \(damaged.count) bytes")
    }

    @Test("an integer set through the built-in coders, compressed or not, is decimal text, which increment and other clients read")
    func integersStayDecimal() async throws {
        let directory = temporaryDirectory("integers")
        let formats: [(any ValueCoder, ValueCompression)] = [
            (JSONValueCoder(), .none), (BinaryValueCoder(), .none), (BinaryValueCoder(), .zlib(above: 1)),
        ]
        for (index, (coder, compression)) in formats.enumerated() {
            var memoryConfiguration = MemoryStore.Configuration()
            memoryConfiguration.valueCoder = coder
            memoryConfiguration.compression = compression
            var folderConfiguration = FolderStore.Configuration(directory: directory + "/\(index)")
            folderConfiguration.valueCoder = coder
            folderConfiguration.compression = compression
            let stores: [any KeyValueStore] = [
                MemoryStore(configuration: memoryConfiguration), try FolderStore(configuration: folderConfiguration),
            ]
            for store in stores {
                try await store.set("n", 41)
                #expect(
                    try await store.entry(forKey: "n")?.bytes == Array("41".utf8),
                    "\(store.backendName), \(coder.identifier), \(compression)")
                #expect(try await store.increment("n") == 42)
                #expect(try await store.get("n", as: Int.self) == 42)
                try await store.set("largest", UInt64.max)
                #expect(try await store.entry(forKey: "largest")?.bytes == Array("18446744073709551615".utf8))
                #expect(try await store.get("largest", as: UInt64.self) == .max)
                try await store.set("small", Int8(-5))
                #expect(try await store.get("small", as: Int8.self) == -5)
                try await store.close()
            }
        }
    }
}

/// Page faults counted by the kernel, for tests that check what a call touched.
enum PageFaults {
    /// The minor page faults of the calling thread so far (0 where the system counts none
    /// per thread): a synchronous call's own, whatever other tests do meanwhile.
    static func ofThisThread() -> Int {
        #if os(Linux)
        var usage = rusage()
        // RUSAGE_THREAD (1), which Glibc's module leaves out (it is a GNU extension).
        guard getrusage(__rusage_who_t(1), &usage) == 0 else { return 0 }
        return usage.ru_minflt
        #else
        return 0
        #endif
    }
}

/// A store that passes every call to `base` but `close()`: several tiered stores over one L2.
final class NotClosing: ForwardingStore, @unchecked Sendable {  // immutable after init
    init(_ base: MemoryStore) { super.init(base: base) }
    override func close() async throws {}
}
