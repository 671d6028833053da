import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Synchronization
import Testing

/// Collects a tiered store's events.
final class EventLog: TieredStoreObserver {
    private let events = Lock<[TieredStore.Event]>([])
    func observe(_ event: TieredStore.Event) { events.withLock { $0.append(event) } }
    var all: [TieredStore.Event] { events.withLock { $0 } }
    func count(_ kind: TieredStore.Event.Kind, _ tier: TieredStore.Event.Tier? = nil) -> Int {
        all.filter { $0.kind == kind && (tier == nil || $0.tier == tier) }.count
    }
}

/// A tiered store over a memory L2, with one manual clock for both tiers.
struct TieredFixture {
    let clock = ManualClock()
    let l1: MemoryStore
    let l2: FaultInjectingStore
    let cache: TieredStore
    let events = EventLog()

    init(l1Expiry: Expiry? = nil, l2ReadFailures: TieredStore.ReadFailurePolicy = .throwError, l2Timeout: Duration? = .seconds(2)) {
        l1 = MemoryStore(configuration: .init(maxEntries: 1_000, clock: clock))
        l2 = FaultInjectingStore(wrapping: MemoryStore(configuration: .init(clock: clock)))
        cache = TieredStore(
            l1: l1, l2: l2,
            configuration: .init(l1Expiry: l1Expiry, l2ReadFailures: l2ReadFailures, l2Timeout: l2Timeout, observer: events))
    }
}

@Suite("TieredStore")
struct TieredStoreTests {
    @Test("read-through: an L1 hit returns at once; an L2 hit fills L1")
    func readThrough() async throws {
        let fixture = TieredFixture()
        try await fixture.l2.set("k", "from L2")
        #expect(try await fixture.cache.get("k", as: String.self) == "from L2")
        #expect(try await fixture.l1.get("k", as: String.self) == "from L2", "the L2 hit filled L1")
        let callsBefore = fixture.l2.counts.calls
        #expect(try await fixture.cache.get("k", as: String.self) == "from L2")
        #expect(fixture.l2.counts.calls == callsBefore, "the second read did not reach L2")
        #expect(try await fixture.cache.get("missing", as: String.self) == nil)
        let stats = fixture.cache.statistics
        #expect((stats.l1Hits, stats.l2Hits, stats.misses) == (1, 1, 1))
    }

    @Test("TTL propagation: the L1 copy expires exactly when the L2 entry does")
    func ttlPropagation() async throws {
        let fixture = TieredFixture()
        try await fixture.l2.set("k", "v", expires: "10s")
        fixture.clock.advance(by: .seconds(4))
        _ = try await fixture.cache.get("k", as: String.self)  // fills L1 with 6 s left
        let copy = try #require(try await fixture.l1.entry(forKey: "k"))
        let l2Entry = try #require(try await fixture.l2.entry(forKey: "k"))
        #expect(copy.expiresAt == l2Entry.expiresAt, "to the millisecond")
        #expect(try await fixture.cache.entry(forKey: "k")?.expiresAt == l2Entry.expiresAt)
        fixture.clock.advance(by: .milliseconds(5_999))
        #expect(try await fixture.l1.has("k"))
        fixture.clock.advance(by: .milliseconds(1))
        #expect(!(try await fixture.l1.has("k")), "gone from L1 at the instant it expires in L2")
        #expect(try await fixture.cache.get("k", as: String.self) == nil, "never served after it expired in L2")
    }

    @Test("l1Expiry keeps L1 copies for less than L2 holds them, and reports L2's expiry")
    func shorterL1Lifetime() async throws {
        let fixture = TieredFixture(l1Expiry: "2s")
        try await fixture.cache.set("k", "v", expires: "1h")
        let reported = try #require(try await fixture.cache.entry(forKey: "k")?.expiresAt)
        #expect(fixture.clock.now().milliseconds(until: reported) == 3_600_000, "the entry's lifetime, not the copy's")
        fixture.clock.advance(by: .seconds(2))
        #expect(!(try await fixture.l1.has("k")), "the L1 copy lived 2 s")
        #expect(try await fixture.cache.get("k", as: String.self) == "v", "L2 still has it")
        #expect(fixture.cache.statistics.l2Hits == 1)
    }

    @Test("write-through: set writes L2 then L1; when L2 fails, L1 keeps no value L2 lacks, and the caller gets the error")
    func writeThrough() async throws {
        let fixture = TieredFixture()
        try await fixture.cache.set("k", "one")
        #expect(try await fixture.l2.get("k", as: String.self) == "one")
        #expect(try await fixture.l1.get("k", as: String.self) == "one")
        fixture.l2.inject(.fail, into: .writes)
        await #expect(throws: StrataError(code: .backendUnavailable, message: "")) {
            try await fixture.cache.set("k", "two")
        }
        #expect(!(try await fixture.l1.has("k")), "neither the new value nor the old one stays in L1")
        fixture.l2.heal()
        #expect(try await fixture.cache.get("k", as: String.self) == "one", "L2's value is the answer")
        #expect(fixture.events.count(.failure, .l2) == 1)
    }

    @Test("delete, expire, increment, setIfAbsent and clear(prefix:) act on both tiers")
    func bothTiers() async throws {
        let fixture = TieredFixture()
        let cache = fixture.cache
        for key in ["a:1", "a:2", "b:1", "n", "lock"] { try await cache.set(key, 1) }
        for key in ["a:1", "a:2", "b:1", "n", "lock"] { #expect(try await fixture.l1.has(key)) }

        #expect(try await cache.delete("b:1"))
        #expect(!(try await fixture.l1.has("b:1")))
        #expect(!(try await fixture.l2.has("b:1")))

        #expect(try await cache.increment("n", by: 5) == 6)
        #expect(!(try await fixture.l1.has("n")), "the stale L1 copy of n is dropped")
        #expect(try await cache.get("n", as: Int.self) == 6)

        #expect(try await cache.expire("a:1", "1s"))
        fixture.clock.advance(by: .seconds(1))
        #expect(try await cache.get("a:1", as: Int.self) == nil)

        #expect(!(try await cache.setIfAbsent("lock", 2)))
        #expect(try await cache.get("lock", as: Int.self) == 1)

        _ = try await cache.get("a:2", as: Int.self)
        #expect(try await cache.clear(prefix: "a:") == 1)
        #expect(!(try await fixture.l1.has("a:2")))
        #expect(!(try await fixture.l2.has("a:2")))
        #expect(try await cache.keys() == ["lock", "n"])
    }

    @Test("getOrSet finds a value in L2 without computing it, and recomputes an entry that no longer decodes")
    func getOrSetAcrossTiers() async throws {
        let fixture = TieredFixture()
        try await fixture.l2.set("report", Sample(id: 1))
        let found = try await fixture.cache.getOrSet("report", as: Sample.self) {
            Issue.record("computed although L2 had the value")
            return Sample(id: 2)
        }
        #expect(found == Sample(id: 1))

        try await fixture.l2.set("old", "a value in last release's format")
        let computed = try await fixture.cache.getOrSet("old", as: Sample.self) { Sample(id: 3) }
        #expect(computed == Sample(id: 3))
        #expect(try await fixture.l2.get("old", as: Sample.self) == Sample(id: 3), "overwritten in L2")
        #expect(fixture.events.count(.undecodable) == 1)
        #expect(fixture.cache.statistics.undecodable == 1)
        #expect(fixture.cache.statistics.computations == 1)
    }

    @Test("L1 keeps decoded values: a typed hit returns the Swift value, never JSON decoded again")
    func l1KeepsValues() async throws {
        let fixture = TieredFixture()
        try await fixture.cache.set("v", MemoryStoreTests.Lossy(shown: 1, secret: 42))
        #expect(try await fixture.cache.get("v", as: MemoryStoreTests.Lossy.self)?.secret == 42)
        let value = try await fixture.cache.getOrSet("v", as: MemoryStoreTests.Lossy.self) { .init(shown: 0, secret: 0) }
        #expect(value.secret == 42)
    }

    @Test("with a failing L2: L1 hits are served, reads throw by default or miss if configured, getOrSet computes")
    func failingL2() async throws {
        let fixture = TieredFixture()
        try await fixture.cache.set("cached", "v")
        fixture.l2.inject(.fail)
        #expect(try await fixture.cache.get("cached", as: String.self) == "v", "an L1 hit needs no L2")
        await #expect(throws: StrataError(code: .backendUnavailable, message: "")) {
            try await fixture.cache.get("uncached", as: String.self)
        }
        let value = try await fixture.cache.getOrSet("computed", as: Int.self) { 42 }
        #expect(value == 42)
        #expect(try await fixture.cache.getOrSet("computed", as: Int.self) { 0 } == 42, "kept in L1 meanwhile")
        // The get, getOrSet's read and its lease failed: no lease, so no write (the value
        // lives in L1 only).
        #expect(fixture.cache.statistics.l2Errors >= 3)
        #expect(fixture.events.count(.failure, .l2) >= 3)
        #expect(try await fixture.l2.base.get("computed", as: Int.self) == nil, "nothing written to L2 without a lease")

        let lenient = TieredFixture(l2ReadFailures: .treatAsMiss)
        lenient.l2.inject(.fail, into: .reads)
        #expect(try await lenient.cache.get("uncached", as: String.self) == nil)
        #expect(lenient.events.count(.failure, .l2) == 1)
    }

    @Test("getOrSet does not wait out a hanging L2 beyond l2Timeout", .timeLimit(.minutes(1)))
    func hangingL2() async throws {
        let fixture = TieredFixture(l2Timeout: .milliseconds(100))
        fixture.l2.inject(.hang)
        let value = try await fixture.cache.getOrSet("k", as: String.self) { "computed" }
        #expect(value == "computed")
        #expect(fixture.events.count(.timeout, .l2) == 1, "the read timed out; L2 is not waited for twice, and no write without a lease")
        fixture.l2.heal()
    }

    @Test(
        "a tagged getOrSet, one key or many, does not wait out a hanging L2 beyond l2Timeout to read its tags' records either",
        .timeLimit(.minutes(1)))
    func hangingL2WithTags() async throws {
        let fixture = TieredFixture(l2Timeout: .milliseconds(100))
        fixture.l2.inject(.hang)
        let options = EntryOptions(expires: "1h", tags: ["t"])
        #expect(try await fixture.cache.getOrSet("k", as: String.self, options: options) { "computed" } == "computed")
        let computed = try await fixture.cache.getOrSet(["a", "b"], as: String.self, options: options) { missing in
            Dictionary(uniqueKeysWithValues: missing.map { ($0, "bulk") })
        }
        #expect(computed == ["a": "bulk", "b": "bulk"])
        fixture.l2.heal()
        try await fixture.cache.close()
    }

    @Test("a tagged bulk getOrSet on a hanging L2 waits out l2Timeout once: the read passes it, and the tags' records are not read after")
    func hangingL2BulkWaitsOnce() async throws {
        let fixture = TieredFixture(l2Timeout: .milliseconds(100))
        fixture.l2.inject(.hang)
        let options = EntryOptions(expires: "1h", tags: ["t"])
        let computed = try await fixture.cache.getOrSet(["a", "b"], as: String.self, options: options) { missing in
            Dictionary(uniqueKeysWithValues: missing.map { ($0, "bulk") })
        }
        #expect(computed == ["a": "bulk", "b": "bulk"])
        // One wait of l2Timeout (the batch read), as a single getOrSet makes: the tags' records
        // are read once L2 answered the read, and skipped when it passed l2Timeout.
        let timeouts = fixture.events.all.filter { $0.kind == .timeout }
        #expect(timeouts.count == 1, "\(timeouts)")
        fixture.l2.heal()
        try await fixture.cache.close()
    }

    @Test("the observer receives every event with its tier and duration")
    func observer() async throws {
        let fixture = TieredFixture()
        // The L2 write takes at least 2 × 20 ms (the delay is on the way there and back).
        fixture.l2.inject(.delay(.milliseconds(20)), into: .writes)
        try await fixture.cache.set("k", 1)
        fixture.l2.heal()
        _ = try await fixture.cache.get("k", as: Int.self)
        await fixture.l1.close()
        let events = fixture.events.all
        #expect(events.map(\.kind) == [.write, .hit])
        #expect(events.map(\.tier) == [.l2, .l1])
        #expect(events.allSatisfy { $0.key == "k" })
        // The duration is the call's, measured: the slow write's covers its delay, and the
        // L1 hit's was measured too (not left at zero).
        #expect(events.first.map { $0.duration >= .milliseconds(40) } == true, "the write's duration: \(events)")
        #expect(events.last.map { $0.duration > .zero } == true, "the hit's duration: \(events)")
    }

    @Test("memoize computes once per argument, with keys pinned to the argument's stable JSON")
    func memoize() async throws {
        let fixture = TieredFixture()
        let calls = Counter()
        let square = fixture.cache.memoize(prefix: "square:", expires: "1h") { (number: Int) async throws -> Int in
            calls.increment()
            return number * number
        }
        #expect(try await square(12) == 144)
        #expect(try await square(12) == 144)
        #expect(try await square(3) == 9)
        #expect(calls.count == 2)
        #expect(try await fixture.l2.keys() == ["square:12", "square:3"])

        struct Query: Codable, Sendable { var zone: String; var area: Int }
        #expect(try MemoKey.key(prefix: "price:", argument: "A-42") == #"price:"A-42""#)
        #expect(try MemoKey.key(prefix: "q:", argument: Query(zone: "eu/1", area: 7)) == #"q:{"area":7,"zone":"eu/1"}"#)
        #expect(
            try MemoKey.key(prefix: "long:", argument: String(repeating: "x", count: 1_100))
                == "long:#sha256:bda0136d8703a5ca83b2a3b914ef7b1d0ec3cf9a2a282a27bba5531a4edfd4f2")
    }

    @Test("a read that fetched the old value from L2 does not put it into L1 after a newer write finished")
    func lateFillAfterWrite() async throws {
        let clock = ManualClock()
        let l1 = MemoryStore(configuration: .init(clock: clock))
        let l2 = PausingStore(MemoryStore(configuration: .init(clock: clock)))
        let cache = TieredStore(l1: l1, l2: l2)
        try await l2.set("k", "old")
        l2.pauseNextRead()
        let read = Task { try await cache.get("k", as: String.self) }
        await l2.waitUntilPaused()  // the read has its answer, "old", and has not returned
        try await cache.set("k", "new")
        l2.resume()
        #expect(try await read.value == "old", "the read began before the write")
        // L1 holds the write's copy, or none (the late read's refused copy drops whatever L1
        // held, so no read goes back to a value older than one already returned): never "old".
        #expect(try await l1.get("k", as: String.self) != "old", "L1 never holds the older value")
        #expect(try await cache.get("k", as: String.self) == "new")
    }

    @Test("concurrent writes, deletes and reads in one process never leave L1 disagreeing with L2")
    func inProcessCoherence() async throws {
        let fixture = TieredFixture()
        fixture.l2.inject(.delay(.microseconds(200)))  // widen every race window
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<16 {
                group.addTask {
                    var generator = SplitMix(seed: UInt64(task))
                    for step in 0..<60 {
                        let key = "k\(generator.next() % 4)"
                        switch generator.next() % 4 {
                        case 0: try await fixture.cache.set(key, task * 1_000 + step)
                        case 1: try await fixture.cache.delete(key)
                        case 2: _ = try await fixture.cache.increment(key)
                        default: _ = try? await fixture.cache.get(key, as: Int.self)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        fixture.l2.heal()
        for key in ["k0", "k1", "k2", "k3"] {
            if let copy = try await fixture.l1.get(key, as: Int.self) {
                #expect(try await fixture.l2.get(key, as: Int.self) == copy, "L1 agrees with L2 for \(key)")
            }
        }
    }
}

struct Sample: Codable, Sendable, Equatable {
    var id: Int
}

/// A store that can hold one read's answer until the test lets it return.
final class PausingStore: ForwardingStore, @unchecked Sendable {
    private let state = Lock<(armed: Bool, paused: CheckedContinuation<Void, Never>?, waiter: CheckedContinuation<Void, Never>?)>(
        (false, nil, nil))

    init(_ base: MemoryStore) { super.init(base: base, forwardsPipeline: false) }

    func pauseNextRead() { state.withLock { $0.armed = true } }

    func waitUntilPaused() async {
        await withCheckedContinuation { continuation in
            let already = state.withLock { state -> Bool in
                if state.paused != nil { return true }
                state.waiter = continuation
                return false
            }
            if already { continuation.resume() }
        }
    }

    func resume() {
        state.withLock { state in
            defer { state.paused = nil }; return state.paused
        }?.resume()
    }

    override var backendName: String { "PausingStore" }

    override func entry(forKey key: String) async throws -> StoredEntry? {
        let entry = try await base.entry(forKey: key)
        let armed = state.withLock { state in
            defer { state.armed = false }; return state.armed
        }
        if armed {
            await withCheckedContinuation { continuation in
                let waiter = state.withLock { state in
                    state.paused = continuation
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume()
            }
        }
        return entry
    }
}
