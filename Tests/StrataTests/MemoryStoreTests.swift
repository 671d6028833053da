import Foundation
import StrataTesting
import Testing

@Suite("MemoryStore")
struct MemoryStoreTests {
    /// A store that evicts by exact LRU (the option; W-TinyLFU is the default).
    static func lru(maxEntries: Int? = nil, maxBytes: Int? = nil) -> MemoryStore {
        var configuration = MemoryStore.Configuration(maxEntries: maxEntries, maxBytes: maxBytes)
        configuration.evictionPolicy = .lru
        return MemoryStore(configuration: configuration)
    }

    @Test("with .lru, eviction order is exactly least-recently-used; reads and writes count as use")
    func lruOrder() async throws {
        let memory = Self.lru(maxEntries: 3)
        try await memory.set("a", 1)
        try await memory.set("b", 2)
        try await memory.set("c", 3)
        _ = try await memory.get("a", as: Int.self)  // a is now the most recent
        try await memory.set("d", 4)  // evicts b
        #expect(try await memory.keys() == ["a", "c", "d"])
        try await memory.set("c", 30)  // c is now the most recent
        try await memory.set("e", 5)  // evicts a
        #expect(try await memory.keys() == ["c", "d", "e"])
        _ = try await memory.increment("d")  // d is now the most recent... (value 5)
        try await memory.set("f", 6)  // evicts c
        #expect(try await memory.keys() == ["d", "e", "f"])
        #expect(memory.statistics.evictions == 3)
    }

    @Test("has does not count as use", .timeLimit(.minutes(1)))
    func hasDoesNotTouch() async throws {
        let memory = Self.lru(maxEntries: 2)
        try await memory.set("a", 1)
        try await memory.set("b", 2)
        #expect(try await memory.has("a"))
        try await memory.set("c", 3)  // a is still the least recently used
        #expect(try await memory.keys() == ["b", "c"])
    }

    @Test("maxBytes counts keys and encoded values, and evicts to stay within it")
    func byteBound() async throws {
        let memory = Self.lru(maxBytes: 100)
        try await memory.set("k1", [UInt8](repeating: 1, count: 40))  // 42 bytes
        try await memory.set("k2", [UInt8](repeating: 2, count: 40))  // 84 bytes
        #expect(memory.statistics.bytes == 84)
        try await memory.set("k3", [UInt8](repeating: 3, count: 40))  // 126: evicts k1
        #expect(try await memory.keys() == ["k2", "k3"])
        #expect(memory.statistics.bytes == 84)
        try await memory.set("k2", [UInt8](repeating: 2, count: 10))  // shrinks in place
        #expect(memory.statistics.bytes == 54)
    }

    @Test("an entry larger than maxBytes throws valueTooLarge and evicts nothing")
    func tooLarge() async throws {
        let memory = MemoryStore(maxBytes: 64)
        try await memory.set("small", "x")
        await #expect(throws: StrataError(code: .valueTooLarge, message: "")) {
            try await memory.set("big", String(repeating: "x", count: 100))
        }
        #expect(try await memory.keys() == ["small"])
    }

    /// A value whose JSON loses information: only a typed hit that returns the Swift
    /// value itself (not a decode of its bytes) gives `secret` back.
    struct Lossy: Codable, Sendable, Equatable {
        var shown: Int
        var secret: Int
        enum CodingKeys: String, CodingKey { case shown }
        init(shown: Int, secret: Int) { self.shown = shown; self.secret = secret }
        init(from decoder: any Decoder) throws {
            shown = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .shown)
            secret = -1
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(shown, forKey: .shown)
        }
    }

    @Test("a typed hit returns the stored Swift value without decoding JSON again")
    func typedHitDoesNotDecode() async throws {
        let memory = MemoryStore()
        try await memory.set("v", Lossy(shown: 1, secret: 42))
        #expect(try await memory.get("v", as: Lossy.self) == Lossy(shown: 1, secret: 42))
        // Through a prefixed view too.
        let view = memory.prefixed("p:")
        try await view.set("v", Lossy(shown: 2, secret: 7))
        #expect(try await view.get("v", as: Lossy.self)?.secret == 7)
        // Bytes written directly have no Swift value: they are decoded.
        try await memory.set("raw", Array(#"{"shown":3}"#.utf8))
        #expect(try await memory.get("raw", as: Lossy.self) == Lossy(shown: 3, secret: -1))
        // After increment the value is bytes again.
        try await memory.set("n", 1)
        try await memory.increment("n")
        #expect(try await memory.get("n", as: Int.self) == 2)
    }

    @Test("expired entries give their memory back: on writes, and by sweepExpired")
    func sweeping() async throws {
        let clock = ManualClock()
        // One shard: the sweep's arithmetic below is per shard (each write sweeps its own).
        var oneShard = MemoryStore.Configuration(clock: clock)
        oneShard.shardCount = 1
        let memory = MemoryStore(configuration: oneShard)
        for index in 0..<1_000 { try await memory.set("old:\(index)", index, expires: "1s") }
        clock.advance(by: .seconds(2))
        #expect(memory.statistics.entries == 1_000)  // expired but not yet swept
        for index in 0..<505 { try await memory.set("new:\(index)", index) }
        // 505 writes advance the sweep over 1,010 slots (2 a write): a whole lap of the
        // ~1,000 slots from wherever the cursor stood.
        #expect(memory.statistics.entries == 505)
        #expect(memory.statistics.expirations == 1_000)

        for index in 0..<100 { try await memory.set("later:\(index)", index, expires: "1s") }
        clock.advance(by: .seconds(2))
        #expect(try await memory.sweepExpired() == 100)
        #expect(memory.statistics.entries == 505)

        // Sharded (the default), writes sweep the shards they land in: enough writes over
        // every shard reclaim every expired entry.
        let sharded = MemoryStore(configuration: .init(clock: clock))
        #expect(sharded.shardCount > 1)
        for index in 0..<1_000 { try await sharded.set("old:\(index)", index, expires: "1s") }
        clock.advance(by: .seconds(2))
        for index in 0..<4_000 { try await sharded.set("new:\(index)", index) }
        #expect(sharded.statistics.expirations == 1_000)
        #expect(sharded.statistics.entries == 4_000)
    }

    @Test("run() sweeps in the background and returns normally when cancelled")
    func runLoop() async throws {
        let clock = ManualClock()
        let memory = MemoryStore(configuration: .init(clock: clock, sweepInterval: .milliseconds(10)))
        try await memory.set("k", "v", expires: "1s")
        clock.advance(by: .seconds(2))
        let task = Task { try await memory.run() }
        #expect(try await eventually { memory.statistics.entries == 0 }, "the sweeper removed the expired entry")
        task.cancel()
        try await task.value  // returns, does not throw
    }

    @Test("with .lru, the LRU stays exact under a random workload (checked against a simple model)")
    func modelCheck() async throws {
        let memory = Self.lru(maxEntries: 16)
        var model: [String] = []  // least recent first
        var generator = SplitMix(seed: 42)
        for step in 0..<5_000 {
            if step % 100 == 0 { await Task.yield() }  // memory calls never suspend: share the threads
            let key = "k\(generator.next() % 40)"
            switch generator.next() % 3 {
            case 0:
                try await memory.set(key, 1)
                model.removeAll { $0 == key }
                model.append(key)
                if model.count > 16 { model.removeFirst() }
            case 1:
                let hit = try await memory.get(key, as: Int.self) != nil
                #expect(hit == model.contains(key))
                if hit { model.removeAll { $0 == key }; model.append(key) }
            default:
                let existed = try await memory.delete(key)
                #expect(existed == model.contains(key))
                model.removeAll { $0 == key }
            }
        }
        #expect(try await memory.keys() == model.sorted(by: KeyRules.byteOrder))
    }
}

extension MemoryStoreTests {
    @Test("prefix operations agree with a scan of every key, across thousands of inserts and removals")
    func prefixIndexModel() async throws {
        let memory = MemoryStore(maxEntries: 3_000)  // evictions remove keys from the index too
        var generator = SplitMix(seed: 7)
        let alphabet = ["a", "b", "é", "e\u{301}", ":", "0", "z"]
        func randomKey() -> String {
            (0..<(1 + Int(generator.next() % 5))).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }.joined()
        }
        for round in 0..<8_000 {
            if round % 100 == 0 { await Task.yield() }  // memory calls never suspend: share the threads
            let key = randomKey() + String(generator.next() % 50)
            if generator.next() % 4 == 0 { try await memory.delete(key) } else { try await memory.set(key, round) }
            if round % 500 == 0 {
                let prefix = randomKey()
                let all = try await memory.keys()
                let expected = all.filter { KeyRules.key($0, hasPrefix: prefix) }
                #expect(try await memory.keys(prefix: prefix) == expected, "prefix \(prefix)")
                #expect(all == all.sorted(by: KeyRules.byteOrder))
            }
        }
        let before = try await memory.keys()
        let cleared = try await memory.clear(prefix: "a")
        #expect(cleared == before.filter { $0.hasPrefix("a") }.count)
        #expect(try await memory.keys() == before.filter { !KeyRules.key($0, hasPrefix: "a") })
    }
}

/// A small deterministic generator for reproducible random workloads.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension MemoryStoreTests {
    @Test(
        "W-TinyLFU (the default): the bounds stay exact, and keys asked for again and again survive a one-off scan that LRU lets flush them"
    )
    func tinyLFUKeepsHotKeys() async throws {
        let tiny = MemoryStore(maxEntries: 100)
        let lru = Self.lru(maxEntries: 100)
        let hot = (0..<50).map { "hot:\($0)" }
        for store in [tiny, lru] {
            for _ in 0..<5 {
                for key in hot {
                    if try await store.get(key, as: Int.self) == nil { try await store.set(key, 1) }
                }
            }
            for index in 0..<1_000 { try await store.set("scan:\(index)", index) }  // read once, never again
            #expect(store.statistics.entries == 100)
        }
        var tinyHits = 0, lruHits = 0
        for key in hot {
            if try await tiny.get(key, as: Int.self) != nil { tinyHits += 1 }
            if try await lru.get(key, as: Int.self) != nil { lruHits += 1 }
        }
        #expect(lruHits == 0, "LRU: the scan flushed every hot key")
        #expect(tinyHits >= 45, "W-TinyLFU kept \(tinyHits) of 50 hot keys")

        let bytes = MemoryStore(maxBytes: 1_000)
        for index in 0..<500 {
            try await bytes.set("k\(index % 120)", [UInt8](repeating: 1, count: index % 37))
            #expect(bytes.statistics.bytes <= 1_000)
        }
    }

    @Test(
        "a bounded store never evicts its records: a tag's invalidation holds however many entries come after it (T1), and so does the envelope record"
    )
    func recordsAreNotEvicted() async throws {
        var configuration = MemoryStore.Configuration(maxEntries: 8)
        configuration.evictionPolicy = .lru
        configuration.shardCount = 1
        let store = MemoryStore(configuration: configuration)
        try await store.set("k", 1, options: EntryOptions(expires: "1h", tags: ["t"]))
        try await store.invalidate(tags: ["t"])
        let instant = try await store.records(named: ["tag:t"])[0]
        #expect(instant > 0)
        for index in 0..<32 {
            try await store.set("other:\(index)", index)
            _ = try await store.entry(forKey: "k")  // k stays recent; nothing reads the record
        }
        #expect(try await store.records(named: ["tag:t", "envelopes"]) == [instant, 1], "the records outlived the churn")
        #expect(try await store.get("k", as: Int.self) == nil, "k is still invalidated")
        #expect(store.statistics.entries <= 8, "the bound holds for entries")
    }
}
