import Foundation
import StrataTestSupport
import StrataTesting
import Testing

/// The native bulk calls of the memory and folder stores, the prefixed view and the
/// fault-injecting store: the same answers as single calls, leases broken, and a batch
/// refused part-way saying which keys it wrote.
@Suite("Native bulk calls")
struct BulkNativeTests {
    enum Kind: String, CaseIterable, Sendable {
        case memory, boundedMemory, folder, prefixedMemory, prefixedFolder, faultInjecting

        func make() throws -> any KeyValueStore {
            switch self {
            case .memory: MemoryStore()
            case .boundedMemory: MemoryStore(maxEntries: 1_000, maxBytes: 1 << 20)
            case .folder: try FolderStore(directory: temporaryDirectory("bulk"))
            case .prefixedMemory: MemoryStore().prefixed("view:")
            case .prefixedFolder: try FolderStore(directory: temporaryDirectory("bulk-view")).prefixed("../")
            case .faultInjecting: FaultInjectingStore(wrapping: MemoryStore())
            }
        }
    }

    @Test("entries(forKeys:), setEntries and removeEntries answer exactly as one call per key", arguments: Kind.allCases)
    func parity(kind: Kind) async throws {
        #expect(try await BulkParity.checkReads(kind.make()) == [])
        #expect(try await BulkParity.checkWrites(kind.make()) == [])
    }

    @Test("a bulk write or removal breaks the leases of its keys, and no other", arguments: Kind.allCases)
    func leasesBroken(kind: Kind) async throws {
        let store = try kind.make()
        let leases = ["a", "b", "c"].map { _ in EntryLease.random() }
        for (key, lease) in zip(["a", "b", "c"], leases) {
            try await store.setEntry(StoredEntry(bytes: [0]), forKey: key)
            _ = try await store.leaseEntry(forKey: key, lease: lease, duration: .seconds(60))
        }
        try await store.setEntries(["a": StoredEntry(bytes: [1])])
        #expect(try await store.removeEntries(forKeys: ["b", "missing"]) == 1)
        #expect(!(try await store.setEntry(StoredEntry(bytes: [9]), forKey: "a", ifLeased: leases[0], keepingLease: false)))
        #expect(!(try await store.setEntry(StoredEntry(bytes: [9]), forKey: "b", ifLeased: leases[1], keepingLease: false)))
        #expect(try await store.setEntry(StoredEntry(bytes: [9]), forKey: "c", ifLeased: leases[2], keepingLease: false))
        #expect(try await store.entries(forKeys: ["a", "b", "c"]) == ["a": StoredEntry(bytes: [1]), "c": StoredEntry(bytes: [9])])
    }

    @Test(
        "a batch is read at one instant: L1's bulk reads (typed and raw) and MemoryStore.entries(forKeys:) read the clock once for 100 keys with lifetimes, and still drop the expired"
    )
    func oneInstantPerBatch() async throws {
        let clock = CountingClock()
        let l1 = MemoryStore(configuration: .init(clock: clock))
        let cache = TieredStore(l1: l1, l2: MemoryStore(configuration: .init(clock: clock)))
        let keys = (0..<100).map { "k\($0)" }
        for key in keys { try await cache.set(key, key, expires: "1h") }
        try await l1.setEntry(StoredEntry(bytes: Array("old".utf8), expiresAt: clock.now().adding(milliseconds: -1)), forKey: "expired")
        var before = clock.reads
        let values = try await cache.get(keys + ["expired"], as: String.self)
        #expect(values.count == 100 && values["k7"] == "k7" && values["expired"] == nil)
        // L1's batch once; then the source is asked for the key L1 did not answer.
        #expect(clock.reads - before <= 3, "\(clock.reads - before) clock reads for 101 keys")
        before = clock.reads
        #expect(try await cache.entries(forKeys: keys).count == 100)
        #expect(clock.reads - before == 1, "\(clock.reads - before) clock reads for the tiered store's raw batch of L1 hits")
        before = clock.reads
        let entries = try await l1.entries(forKeys: keys)
        #expect(entries.count == 100)
        #expect(clock.reads - before == 1, "\(clock.reads - before) clock reads for 100 keys over the shards")
    }

    /// The system's clock, counting its readings.
    final class CountingClock: StrataClock {
        let counter = Counter()
        var reads: Int { counter.count }
        func now() -> Timestamp {
            counter.increment()
            return SystemClock().now()
        }
    }

    @Test("after close, every bulk call throws closed", arguments: Kind.allCases)
    func closed(kind: Kind) async throws {
        let store = try kind.make()
        try await store.close()
        await #expect(throws: StrataError.closed) { try await store.entries(forKeys: ["a"]) }
        await #expect(throws: StrataError.closed) { try await store.setEntries(["a": StoredEntry(bytes: [1])]) }
        await #expect(throws: StrataError.closed) { try await store.removeEntries(forKeys: ["a"]) }
    }

    @Test("a memory batch evicts and counts exactly as the same calls one key at a time", arguments: [EvictionPolicy.lru, .windowTinyLFU])
    func memoryAccounting(policy: EvictionPolicy) async throws {
        func make() -> MemoryStore {
            var configuration = MemoryStore.Configuration(maxEntries: 16)
            configuration.evictionPolicy = policy
            configuration.shardCount = 1
            return MemoryStore(configuration: configuration)
        }
        let single = make()
        let bulk = make()
        for round in 0..<6 {
            let keys = (0..<10).map { "k\(($0 * 7 + round * 3) % 40)" }
            let batch = Dictionary(uniqueKeysWithValues: keys.map { ($0, StoredEntry(bytes: Array($0.utf8))) })
            for key in BulkKeys.byteOrdered(batch.keys) { try await single.setEntry(batch[key]!, forKey: key) }
            try await bulk.setEntries(batch)
            let asked = (0..<12).map { "k\(($0 * 5 + round) % 40)" }
            var singly: [String: StoredEntry] = [:]
            for key in asked { if let entry = try await single.entry(forKey: key) { singly[key] = entry } }
            #expect(try await bulk.entries(forKeys: asked) == singly)
        }
        #expect(try await bulk.keys() == single.keys())
        #expect(bulk.statistics.evictions == single.statistics.evictions)
        #expect(bulk.statistics.evictions > 0)
    }

    @Test("a memory batch holding an entry above maxBytes writes nothing: valueTooLarge, no key written")
    func memoryTooLarge() async throws {
        let memory = MemoryStore(maxBytes: 1_000)
        try await memory.setEntry(StoredEntry(bytes: [0]), forKey: "a")
        let error = await #expect(throws: StrataError(code: .valueTooLarge, message: "")) {
            try await memory.setEntries(["a": StoredEntry(bytes: [1]), "big": StoredEntry(bytes: Array(repeating: 0, count: 2_000))])
        }
        #expect(error?.key == "big")
        #expect(error?.writtenKeys == [])
        #expect(try await memory.entries(forKeys: ["a", "big"]) == ["a": StoredEntry(bytes: [0])])
    }

    @Test(
        "a folder batch refused part-way (an immutable entry file): accessDenied naming the key, writtenKeys the keys before it",
        .enabled(if: SmallFileSystem.available, "needs root for chattr +i"))
    func folderPartialWrite() async throws {
        let directory = temporaryDirectory("bulk-immutable")
        let folder = try FolderStore(directory: directory)
        try await folder.setEntries(["a": StoredEntry(bytes: [0]), "b": StoredEntry(bytes: [0]), "c": StoredEntry(bytes: [0])])
        let stuck = directory + "/62.e"  // key "b": its hex, then ".e"
        try await ChildProcess.run("/usr/bin/chattr", ["+i", stuck])
        let error = await #expect(throws: StrataError(code: .accessDenied, message: "")) {
            try await folder.setEntries(["c": StoredEntry(bytes: [1]), "a": StoredEntry(bytes: [1]), "b": StoredEntry(bytes: [1])])
        }
        try await ChildProcess.run("/usr/bin/chattr", ["-i", stuck])
        #expect(error?.key == "b")
        #expect(error?.writtenKeys == ["a"])
        let found = try await folder.entries(forKeys: ["a", "b", "c"])
        #expect(found == ["a": StoredEntry(bytes: [1]), "b": StoredEntry(bytes: [0]), "c": StoredEntry(bytes: [0])])
    }

    @Test("failWrites(afterKeys:) lets a batch write its first keys in byte order, then throws with writtenKeys; heal ends it")
    func faultAfterKeys() async throws {
        let memory = MemoryStore()
        let faulty = FaultInjectingStore(wrapping: memory)
        faulty.failWrites(afterKeys: 2)
        let batch = ["c": StoredEntry(bytes: [3]), "a": StoredEntry(bytes: [1]), "b": StoredEntry(bytes: [2])]
        let error = await #expect(throws: StrataError(code: .backendUnavailable, message: "")) { try await faulty.setEntries(batch) }
        #expect(error?.writtenKeys == ["a", "b"])
        #expect(error?.key == "c")
        #expect(try await memory.entries(forKeys: ["a", "b", "c"]) == ["a": StoredEntry(bytes: [1]), "b": StoredEntry(bytes: [2])])
        await #expect(throws: StrataError(code: .backendUnavailable, message: "")) {
            try await faulty.setEntry(StoredEntry(bytes: [4]), forKey: "d")
        }
        faulty.heal()
        try await faulty.setEntries(batch)
        faulty.inject(.fail, into: .writes)
        let whole = await #expect(throws: StrataError(code: .backendUnavailable, message: "")) { try await faulty.setEntries(batch) }
        #expect(whole?.writtenKeys == [], "a batch refused whole wrote no key")
    }

    @Test("a view forwards each bulk call as one batch of its base, and names its own keys in a failure")
    func viewForwardsBatches() async throws {
        let faulty = FaultInjectingStore(wrapping: MemoryStore())
        let view = faulty.prefixed("p:")
        try await view.setEntries(["x": StoredEntry(bytes: [1]), "y": StoredEntry(bytes: [2])])
        #expect(try await view.entries(forKeys: ["x", "y", "z"]) == ["x": StoredEntry(bytes: [1]), "y": StoredEntry(bytes: [2])])
        #expect(try await faulty.entries(forKeys: ["p:x", "x"]) == ["p:x": StoredEntry(bytes: [1])])
        #expect(faulty.counts.calls == 3, "one call of the base per batch")
        #expect(try await view.removeEntries(forKeys: ["x", "z"]) == 1)
        faulty.failWrites(afterKeys: 1)
        let error = await #expect(throws: StrataError(code: .backendUnavailable, message: "")) {
            try await view.setEntries(["b": StoredEntry(bytes: [2]), "a": StoredEntry(bytes: [1])])
        }
        #expect(error?.writtenKeys == ["a"])
        #expect(error?.key == "b")
    }
}
