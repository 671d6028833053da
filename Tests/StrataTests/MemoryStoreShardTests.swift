import Foundation
import StrataTesting
import Testing

@testable import Strata

extension MemoryStoreTests {
    @Test("shards: a bounded store's entry bound holds exactly in total, and every shard's hot keys survive a one-off scan")
    func shardedEntryBound() async throws {
        let memory = MemoryStore(maxEntries: 10_000)
        #expect(memory.shardCount > 1, "10,000 entries leave room for several shards of 1,024")
        #expect(memory.shardCount <= 10_000 / 1_024)
        #expect(memory.shardCount & (memory.shardCount - 1) == 0, "a power of two")
        for index in 0..<30_000 { try await memory.set("fill:\(index)", index) }
        #expect(memory.statistics.entries == 10_000, "each shard full to its share; the shares add up to the bound")
        #expect(memory.statistics.evictions == 20_000)

        let hot = (0..<2_000).map { "hot:\($0)" }
        for _ in 0..<5 {
            for key in hot where try await memory.get(key, as: Int.self) == nil { try await memory.set(key, 1) }
        }
        for index in 0..<50_000 { try await memory.set("scan:\(index)", index) }
        var kept = 0
        for key in hot where try await memory.get(key, as: Int.self) != nil { kept += 1 }
        #expect(kept >= 1_800, "W-TinyLFU in every shard kept \(kept) of 2,000 hot keys through the scan")
        #expect(memory.statistics.entries == 10_000)
    }

    @Test("shards: maxBytes holds in total; an entry larger than its shard's share is refused, naming the key and the shares")
    func shardedByteBound() async throws {
        let maxBytes = 64 << 20
        let memory = MemoryStore(maxBytes: maxBytes)
        #expect(memory.shardCount > 1)
        let megabyte = [UInt8](repeating: 7, count: 1 << 20)
        for index in 0..<100 {
            try await memory.set("blob:\(index)", megabyte)
            #expect(memory.statistics.bytes <= maxBytes)
        }
        #expect(memory.statistics.evictions > 0)
        let share = maxBytes / memory.shardCount
        let tooLarge = [UInt8](repeating: 1, count: share + 1)
        let error = await #expect(throws: StrataError(code: .valueTooLarge, message: "")) { try await memory.set("huge", tooLarge) }
        #expect(error?.key == "huge")
        #expect(error?.description.contains("shards") == true)

        var oneShard = MemoryStore.Configuration(maxBytes: maxBytes)
        oneShard.shardCount = 1
        let whole = MemoryStore(configuration: oneShard)
        try await whole.set("huge", tooLarge)
        #expect(try await whole.get("huge", as: [UInt8].self)?.count == share + 1, "one shard takes an entry up to maxBytes")
    }

    @Test(
        "shardCount: 16 per core up to 64 by default; a count asked is rounded down to a power of two and kept unless a shard would get no entry"
    )
    func shardCounts() {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var expected = 1
        while expected * 2 <= min(64, 16 * cores) { expected *= 2 }
        #expect(MemoryStore().shardCount == expected)
        #expect(MemoryStore(maxEntries: 1_000).shardCount == 1, "a small store keeps one exact policy")
        #expect(MemoryStore(maxBytes: 1 << 20).shardCount == 1)

        var asked = MemoryStore.Configuration()
        asked.shardCount = 6
        #expect(MemoryStore(configuration: asked).shardCount == 4)
        asked.shardCount = 0
        #expect(MemoryStore(configuration: asked).shardCount == 1)
        asked.shardCount = 64
        asked.maxEntries = 10
        #expect(MemoryStore(configuration: asked).shardCount == 8, "10 entries: at most 8 shards of at least one")
    }

    @Test("shards: concurrent writers, readers and prefix clears over every shard keep the counts exact")
    func shardedConcurrency() async throws {
        let memory = MemoryStore()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<2_000 {
                        try await memory.set("t\(task):\(index)", index)
                        #expect(try await memory.get("t\(task):\(index)", as: Int.self) == index)
                        try await memory.increment("counter")
                    }
                    #expect(try await memory.clear(prefix: "t\(task):") == 2_000)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await memory.get("counter", as: Int.self) == 16_000)
        #expect(try await memory.keys() == ["counter"])
        #expect(memory.statistics.entries == 1)
    }

    @Test(
        "shards: keys(prefix:) and entries(prefix:) merge the shards' sorted runs into one list in UTF-8 byte order, composed and precomposed accents, a prefix before its extensions, and emoji included"
    )
    func shardedListingsInByteOrder() async throws {
        let memory = MemoryStore()
        #expect(memory.shardCount > 1)
        var random = SplitMix(seed: 11)
        let pieces = ["", "a", "b", "e\u{301}", "\u{e9}", "Z", "~", "\u{1F600}", "0", "ab", ":"]
        var written: [[UInt8]: String] = [:]  // by bytes: a Set of String would merge "é" and "e\u{301}"
        for _ in 0..<3_000 {
            var key = "k:"
            for _ in 0..<(1 + random.next() % 5) { key += pieces[Int(random.next() % UInt64(pieces.count))] }
            written[Array(key.utf8)] = key
            try await memory.set(key, key)
        }
        // The order a byte-by-byte comparison gives, computed apart from the store's own.
        let expected = written.values.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        #expect(try await memory.keys(prefix: "k:").map { Array($0.utf8) } == expected.map { Array($0.utf8) })
        let entries = try await memory.entries(prefix: "k:", as: String.self)
        #expect(entries.map { Array($0.key.utf8) } == expected.map { Array($0.utf8) })
        #expect(entries.allSatisfy { $0.key.utf8.elementsEqual($0.value.utf8) })
        for (a, b) in zip(expected, expected.dropFirst()) {
            #expect(KeyRules.byteOrder(a, b) && !KeyRules.byteOrder(b, a))
        }
        #expect(!KeyRules.byteOrder("k:", "k:") && KeyRules.byteOrder("k:", "k:a") && !KeyRules.byteOrder("k:a", "k:"))
    }

    @Test(
        "shards: the merge of sorted runs keeps every entry once, in byte order, for no run, one, and odd counts of runs of unequal lengths"
    )
    func mergeOfSortedRuns() {
        var random = SplitMix(seed: 5)
        for runCount in [0, 1, 2, 3, 5, 8] {
            var runs: [[(key: String, entry: Int)]] = []
            var all: [(key: String, entry: Int)] = []
            for run in 0..<runCount {
                let length = run == 1 ? 0 : Int(random.next() % 40)  // one run empty
                let keys = Set((0..<length).map { _ in "k\(random.next() % 1_000)-\(run)" })  // distinct across runs
                let sorted = keys.sorted(by: KeyRules.byteOrder).map { (key: $0, entry: run) }
                runs.append(sorted)
                all += sorted
            }
            let merged = MemoryStore.merged(runs)
            #expect(merged.map(\.key) == all.map(\.key).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, "\(runCount) runs")
            #expect(merged.count == all.count)
        }
    }

    @Test("shards: a listing that matches keys in some shards only, or none, comes back whole and in byte order")
    func listingsOfFewShards() async throws {
        var configuration = MemoryStore.Configuration()
        configuration.shardCount = 8
        let memory = MemoryStore(configuration: configuration)
        for index in 0..<200 { try await memory.set("wide:\(index)", index) }
        for count in [1, 2, 3, 5] {
            let prefix = "narrow\(count):"
            let keys = (0..<count).map { "\(prefix)\($0)" }
            for key in keys { try await memory.set(key, key) }
            #expect(try await memory.keys(prefix: prefix) == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            #expect(
                try await memory.entries(prefix: prefix, as: String.self).map(\.value)
                    == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        }
        #expect(try await memory.keys(prefix: "absent:").isEmpty)
        #expect(try await memory.keys(prefix: "wide:").count == 200)
    }
}
