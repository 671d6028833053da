import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// The consistency rules (Docs/Consistency.md) on the bulk paths, their interleavings forced
/// with gates: a bulk read fills L1 through the same checks as one key's, and a bulk
/// computation writes each key under its own lease.
@Suite("Bulk consistency")
struct BulkConsistencyTests {
    /// Records what a tiered store announces, call by call.
    final class Announcements: InvalidationPublisher {
        private let calls = Lock<[[Invalidation]]>([])
        var all: [[Invalidation]] { calls.withLock { $0 } }
        func publish(_ invalidation: Invalidation) async { calls.withLock { $0.append([invalidation]) } }
        func publish(_ invalidations: [Invalidation]) async { calls.withLock { $0.append(invalidations) } }
    }

    @Test("R2/R4: a bulk read whose L2 answer is older than a write that lands before its fill does not put it in L1")
    func bulkFillAfterWrite() async throws {
        let fixture = ConsistencyRuleTests.TwoInstances()
        let cache = fixture.first
        try await fixture.shared.set(["k": "old", "other": "x"])
        let gate = PipelineGates.shared.arm(.beforeFill, key: "k", in: cache)
        defer { PipelineGates.shared.disarm(gate) }
        let reading = Task { try await cache.get(["k", "other"], as: String.self) }
        try await gate.reached()  // the batch read "old" from L2
        try await cache.set("k", "new")
        gate.open()
        #expect(try await reading.value == ["k": "old", "other": "x"], "the read began before the write")
        #expect(try await cache.get("k", as: String.self) == "new", "read your writes: L1 did not keep the older value")
        #expect(try await cache.l1.get("other", as: String.self) == "x", "the other key was copied into L1")
    }

    @Test("R4: a raw bulk read of two keys Swift compares equal whose bytes differ copies neither into L1, so each reads its own value")
    func bulkReadOfKeysEqualAsStrings() async throws {
        let l2 = MemoryStore()
        let cache = TieredStore(l1: MemoryStore(), l2: l2)
        try await l2.set("\u{e9}", "precomposed")
        try await l2.set("e\u{301}", "decomposed")
        let found = try await cache.entries(forKeys: ["\u{e9}", "e\u{301}", "plain"])
        #expect(found.count == 1, "one key of the result for both")
        #expect(try await cache.l1.entry(forKey: "\u{e9}") == nil, "neither copied")
        #expect(try await cache.l1.entry(forKey: "e\u{301}") == nil, "neither copied")
        #expect(try await cache.get("\u{e9}", as: String.self) == "precomposed")
        #expect(try await cache.get("e\u{301}", as: String.self) == "decomposed")
        // Typed reads now copy each key under its own bytes.
        #expect(try await cache.l1.get("\u{e9}", as: String.self) == "precomposed")
        try await cache.close()
    }

    @Test("C2: a bulk computation's value never replaces a write that began after its miss")
    func bulkComputationAfterWrite() async throws {
        let fixture = ConsistencyRuleTests.TwoInstances()
        let cache = fixture.first
        let gate = PipelineGates.shared.arm(.beforeWrite, key: "k", in: cache)
        defer { PipelineGates.shared.disarm(gate) }
        let computing = Task {
            try await cache.getOrSet(["k", "j"], as: String.self, expires: "1h") { missing in
                Dictionary(uniqueKeysWithValues: missing.map { ($0, "computed") })
            }
        }
        try await gate.reached()  // computed, about to write k under its lease
        try await fixture.second.set("k", "newer")
        gate.open()
        #expect(try await computing.value == ["k": "computed", "j": "computed"], "the caller gets what was computed")
        #expect(try await fixture.shared.get("k", as: String.self) == "newer", "the computed value did not replace the newer write")
        #expect(try await cache.get("k", as: String.self) == "newer", "nor does L1 keep it")
        #expect(try await cache.get("j", as: String.self) == "computed", "the other key was stored")
        #expect(cache.statistics.staleWritesRefused == 1)
    }

    @Test("T1: a tag invalidated after a bulk call began, before a key's lease, invalidates that key's computed value")
    func tagInvalidatedDuringBulkCall() async throws {
        let fixture = ConsistencyRuleTests.TwoInstances()
        let cache = fixture.first
        let gate = PipelineGates.shared.arm(.beforeLease, key: "k", in: cache)
        defer { PipelineGates.shared.disarm(gate) }
        let options = EntryOptions(expires: "1h", tags: ["catalog"])
        let computing = Task {
            try await cache.getOrSet(["k"], as: String.self, options: options) { missing in
                Dictionary(uniqueKeysWithValues: missing.map { ($0, "computed") })
            }
        }
        try await gate.reached()  // the bulk call began and missed; k's lease is not taken yet
        try await cache.invalidate(tags: ["catalog"])
        gate.open()
        #expect(try await computing.value == ["k": "computed"], "the caller gets what was computed")
        #expect(try await cache.get("k", as: String.self) == nil, "the value's computation began before the invalidation")
    }

    @Test("A bulk read answered by L1 does not reach L2; the rest reach it in one batch")
    func bulkReadL1First() async throws {
        let fixture = ConsistencyRuleTests.TwoInstances()
        let cache = fixture.first
        try await cache.set(["a": 1, "b": 2])
        fixture.faulty.inject(.fail, into: .reads)
        #expect(try await cache.get(["a", "b"], as: Int.self) == ["a": 1, "b": 2], "L1 answers without L2")
        fixture.faulty.heal()
        try await fixture.shared.set("c", 3)
        #expect(try await cache.get(["a", "b", "c"], as: Int.self) == ["a": 1, "b": 2, "c": 3])
        #expect(cache.statistics.l2Hits == 1, "one L2 hit, for c")
        #expect(try await cache.l1.get("c", as: Int.self) == 3, "copied into L1")
    }

    @Test("A bulk write and a bulk delete are each announced to other instances as one batch")
    func oneAnnouncementPerBatch() async throws {
        let announcements = Announcements()
        let cache = TieredStore(l1: MemoryStore(), l2: MemoryStore(), configuration: .init(invalidationPublisher: announcements))
        try await cache.set(["a": 1, "b": 2, "c": 3], expires: "1h")
        try await cache.delete(["a", "b"])
        #expect(announcements.all == [[.key("a"), .key("b"), .key("c")], [.key("a"), .key("b")]])
        try await cache.close()
    }

    @Test(
        "X1: a single write, delete, increment, clear or computed value whose write fails is announced, as a bulk write that fails is, since L2 may have made the change; not when L2 is closed for a call of one key"
    )
    func failedWriteAnnounced() async throws {
        let announcements = Announcements()
        let faulty = FaultInjectingStore(wrapping: MemoryStore())
        let cache = TieredStore(l1: MemoryStore(), l2: faulty, configuration: .init(invalidationPublisher: announcements))
        try await cache.set("a", 1)
        faulty.inject(.fail, into: .writes)
        let error = try await #require(throws: StrataError.self) { try await cache.set("a", 2) }
        #expect(error.code == .backendUnavailable)
        #expect(announcements.all == [[.key("a")], [.key("a")]], "the write, then the failed one")
        #expect(try await cache.l1.get("a", as: Int.self) == nil, "L1 holds neither value")
        // A delete, an increment and a clear that fail are announced too.
        _ = try await #require(throws: StrataError.self) { try await cache.delete("a") }
        _ = try await #require(throws: StrataError.self) { try await cache.increment("n") }
        _ = try await #require(throws: StrataError.self) { try await cache.clear(prefix: "user:") }
        #expect(announcements.all.dropFirst(2) == [[.key("a")], [.key("n")], [.prefix("user:")]], "\(announcements.all)")
        // A computed value whose write fails is served, and announced.
        #expect(try await cache.getOrSet("c", as: Int.self) { 7 } == 7)
        #expect(announcements.all.dropFirst(5) == [[.key("c")]], "\(announcements.all)")
        faulty.heal()
        // A write L2 refuses as closed (it sent nothing) is not announced.
        try await faulty.close()
        let closed = try await #require(throws: StrataError.self) { try await cache.set("a", 3) }
        #expect(closed.code == .closed)
        #expect(announcements.all.count == 6, "\(announcements.all)")
        // A bulk write or delete, or a clear, that L2 refuses as closed is: each sends in
        // steps (chunks, batches), and a store closed part-way may have sent some of them.
        let refusals = [
            try await #require(throws: StrataError.self) { try await cache.set(["a": 4, "b": 5]) },
            try await #require(throws: StrataError.self) { try await cache.delete(["a", "b"]) },
            try await #require(throws: StrataError.self) { try await cache.clear(prefix: "user:") },
        ]
        #expect(refusals.map(\.code) == [.closed, .closed, .closed])
        #expect(
            announcements.all.dropFirst(6) == [[.key("a"), .key("b")], [.key("a"), .key("b")], [.prefix("user:")]], "\(announcements.all)")
        try await cache.close()
    }

    @Test(
        "X1: an invalidate(tags:) whose raise fails is applied here and announced, as any failed change (L2 may have made it): this instance serves no copy carrying the tag"
    )
    func failedTagInvalidationApplied() async throws {
        let announcements = Announcements()
        let faulty = FaultInjectingStore(wrapping: MemoryStore())
        let cache = TieredStore(l1: MemoryStore(), l2: faulty, configuration: .init(invalidationPublisher: announcements))
        try await cache.set("k", 1, options: EntryOptions(expires: "1h", tags: ["t"]))
        #expect(try await cache.get("k", as: Int.self) == 1, "L1's copy, its tag checked")
        faulty.inject(.fail, into: .writes)
        let error = try await #require(throws: StrataError.self) { try await cache.invalidate(tags: ["t"]) }
        #expect(error.code == .backendUnavailable)
        #expect(announcements.all.last == [.key(TagInvalidations.key(for: "t"))], "\(announcements.all)")
        #expect(try await cache.get("k", as: Int.self) == nil, "the copy carrying the tag is not served")
        faulty.heal()
        // Closed, L2 sent nothing: nothing is applied or announced.
        let other = TieredStore(l1: MemoryStore(), l2: faulty, configuration: .init(invalidationPublisher: announcements))
        try await other.set("j", 2, options: EntryOptions(expires: "1h", tags: ["u"]))
        let count = announcements.all.count
        try await faulty.close()
        let closed = try await #require(throws: StrataError.self) { try await other.invalidate(tags: ["u"]) }
        #expect(closed.code == .closed)
        #expect(announcements.all.count == count, "\(announcements.all)")
        #expect(try await other.get("j", as: Int.self) == 2, "its copy is still served")
        try await cache.close()
    }

    @Test("A typed bulk set on a bounded MemoryStore that cannot hold one of its values writes none of them")
    func boundedMemoryRefusesWholeBatch() async throws {
        let store = MemoryStore(configuration: .init(maxBytes: 4_096))
        let error = try await #require(throws: StrataError.self) {
            try await store.set(["a": "small", "b": "small", "z": String(repeating: "x", count: 10_000)])
        }
        #expect(error.code == .valueTooLarge)
        #expect(error.key == "z", "the error names the value too large")
        #expect(error.writtenKeys == [], "nothing was written")
        #expect(try await store.get(["a", "b", "z"], as: String.self) == [:])
    }

    @Test("A bulk write L2 refuses leaves no L1 copy of any of its keys, old or new")
    func refusedBulkWrite() async throws {
        let fixture = ConsistencyRuleTests.TwoInstances()
        let cache = fixture.first
        try await cache.set(["a": 1, "b": 2])
        fixture.faulty.inject(.fail, into: .writes)
        let error = try await #require(throws: StrataError.self) { try await cache.set(["a": 10, "b": 20]) }
        #expect(error.code == .backendUnavailable)
        #expect(error.writtenKeys == [], "the first write failed: none was stored")
        #expect(try await cache.l1.get(["a", "b"], as: Int.self) == [:], "L1 holds neither value")
        fixture.faulty.heal()
        #expect(try await cache.get(["a", "b"], as: Int.self) == ["a": 1, "b": 2], "L2's values")
    }
}
