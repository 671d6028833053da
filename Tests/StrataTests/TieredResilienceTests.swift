import Foundation
import StrataTesting
import Synchronization
import Testing

@testable import Strata

struct Unavailable: Error {}

@Suite("TieredStore resilience")
struct TieredResilienceTests {
    static let graced = EntryOptions(expires: "1min", grace: "1h", failSafeThrottle: "30s")

    @Test("a plain read, of one key or many, that finds in L2 only a value in its grace returns nothing and counts a miss")
    func graceOnlyInL2IsAPlainMiss() async throws {
        let fixture = TieredFixture()
        _ = try await fixture.cache.getOrSet("rates", as: Int.self, options: Self.graced) { 7 }
        fixture.clock.advance(by: .seconds(61))
        // Another instance over the same L2: nothing in its L1.
        let other = TieredStore(l1: MemoryStore(configuration: .init(clock: fixture.clock)), l2: fixture.l2)
        #expect(try await other.get("rates", as: Int.self) == nil)
        #expect(try await other.get(["rates"], as: Int.self) == [:])
        let stats = other.statistics
        #expect((stats.l1Hits, stats.l2Hits, stats.misses) == (0, 0, 2), "counted an L2 hit before 2026-12-06")
        // The copy kept for the grace still serves a computation that fails.
        let value = try await other.getOrSet("rates", as: Int.self, options: Self.graced) { throw Unavailable() }
        #expect(value == 7)
        #expect(other.statistics.failSafes == 1)
    }

    @Test("fail-safe over both tiers: L2 down and the computation failing serve the L1 copy in grace, counted and reported")
    func failSafeWithL2Down() async throws {
        let fixture = TieredFixture()
        let calls = Counter()
        _ = try await fixture.cache.getOrSet("rates", as: Int.self, options: Self.graced) { 7 }
        fixture.clock.advance(by: .seconds(61))
        fixture.l2.inject(.fail)
        let value = try await fixture.cache.getOrSet("rates", as: Int.self, options: Self.graced) {
            calls.increment()
            throw Unavailable()
        }
        #expect(value == 7)
        #expect(calls.count == 1)
        #expect(fixture.cache.statistics.failSafes == 1)
        #expect(fixture.events.count(.failSafe) == 1)
        // Re-armed in L1 for the throttle, although L2 refused the write.
        let again = try await fixture.cache.getOrSet("rates", as: Int.self, options: Self.graced) {
            calls.increment()
            throw Unavailable()
        }
        #expect(again == 7)
        #expect(calls.count == 1, "not called again within the throttle")
        fixture.clock.advance(by: .seconds(31))
        fixture.l2.heal()
        let fresh = try await fixture.cache.getOrSet("rates", as: Int.self, options: Self.graced) { 8 }
        #expect(fresh == 8, "after the throttle, the computation runs again")
    }

    @Test("grace survives TTL propagation: an L2 hit fills L1 with the remaining lifetime and the remaining grace")
    func gracePropagates() async throws {
        let fixture = TieredFixture()
        try await fixture.l2.set("k", "v", options: EntryOptions(expires: "1min", grace: "10min"))
        fixture.clock.advance(by: .seconds(30))
        #expect(try await fixture.cache.get("k", as: String.self) == "v")
        let copy = try #require(try await fixture.l1.entry(forKey: "k"))
        let l2Entry = try #require(try await fixture.l2.entry(forKey: "k"))
        #expect(copy.expiresAt == l2Entry.expiresAt, "L1 keeps the copy until the grace ends, as L2 does")
        fixture.clock.advance(by: .seconds(31))
        #expect(try await fixture.cache.get("k", as: String.self) == nil, "a plain get past the lifetime")
        fixture.l2.inject(.fail)
        let fallback = try await fixture.cache.getOrSet("k", as: String.self, options: EntryOptions(expires: "1min", grace: "10min")) {
            throw Unavailable()
        }
        #expect(fallback == "v", "the L1 copy in grace stands in with L2 down")
    }

    @Test("soft and hard timeouts are counted; the late value lands in both tiers")
    func timeoutsCounted() async throws {
        let fixture = TieredFixture()
        var options = Self.graced
        _ = try await fixture.cache.getOrSet("q", as: String.self, options: options) { "old" }
        fixture.clock.advance(by: .seconds(61))
        options.softTimeout = .milliseconds(20)
        let soft = try await fixture.cache.getOrSet("q", as: String.self, options: options) {
            try await Task.sleep(for: .milliseconds(200))
            return "new"
        }
        #expect(soft == "old")
        #expect(fixture.cache.statistics.softTimeouts == 1)
        // L2 takes the late value first, then L1 keeps it.
        #expect(
            try await eventually {
                let inL2 = try await fixture.l2.get("q", as: String.self)
                let inL1 = try await fixture.l1.get("q", as: String.self)
                return inL2 == "new" && inL1 == "new"
            }, "the late value landed in both tiers")
        await #expect(throws: StrataError(code: .timeout, message: "")) {
            try await fixture.cache.getOrSet("nothing-kept", as: String.self, options: EntryOptions(hardTimeout: .milliseconds(20))) {
                try await Task.sleep(for: .milliseconds(200))
                return "late"
            }
        }
        #expect(fixture.cache.statistics.computeTimeouts == 1)
        #expect(fixture.events.count(.computeTimeout) == 1)
    }

    @Test("refresh-ahead with a hit in L1 starts one refresh for 50 concurrent hits, counted")
    func refreshAheadOnce() async throws {
        let fixture = TieredFixture()
        let options = EntryOptions(expires: "10min", refreshAhead: 0.5)
        let calls = Counter()
        _ = try await fixture.cache.getOrSet("feed", as: Int.self, options: options) { 1 }
        fixture.clock.advance(by: .seconds(360))
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await fixture.cache.getOrSet("feed", as: Int.self, options: options) {
                        calls.increment()
                        try await Task.sleep(for: .milliseconds(50))
                        return 2
                    }
                }
            }
            for try await value in group { #expect(value == 1) }
        }
        #expect(try await eventually { try await fixture.cache.get("feed", as: Int.self) == 2 })
        #expect(calls.count == 1)
        #expect(fixture.cache.statistics.refreshesAhead == 1)
    }

    @Test(
        "a store's default refresh-ahead is honoured by an L1 hit of a call with options of its own: on the tiered store's own type, as any store, through a prefix",
        arguments: ["TieredStore", "any KeyValueStore", "prefixed"])
    func storeDefaultRefreshAheadOnAnL1Hit(calledAs: String) async throws {
        let clock = ManualClock()
        var configuration = TieredStore.Configuration()
        configuration.entryOptions = EntryOptions(refreshAhead: 0.5)
        let tiered = TieredStore(
            l1: MemoryStore(configuration: .init(clock: clock)), l2: MemoryStore(configuration: .init(clock: clock)),
            configuration: configuration)
        let options = EntryOptions(expires: "10min")
        // The type the call is made on decides which copy of the hit path runs: specialized
        // for `TieredStore` in this module, or through the protocol.
        func getOrSet(_ compute: @escaping @Sendable () async throws -> Int) async throws -> Int {
            switch calledAs {
            case "TieredStore": try await tiered.getOrSet("feed", as: Int.self, options: options, compute: compute)
            case "any KeyValueStore":
                try await (tiered as any KeyValueStore).getOrSet("feed", as: Int.self, options: options, compute: compute)
            default: try await tiered.prefixed("app:").getOrSet("feed", as: Int.self, options: options, compute: compute)
            }
        }
        _ = try await getOrSet { 1 }
        clock.advance(by: .seconds(360))
        let calls = Counter()
        let l1HitsBefore = tiered.statistics.l1Hits
        let served = try await getOrSet {
            calls.increment()
            return 2
        }
        #expect(served == 1, "the hit is served at once")
        #expect(tiered.statistics.l1Hits == l1HitsBefore + 1, "from L1")
        let key = calledAs == "prefixed" ? "app:feed" : "feed"
        #expect(try await eventually { try await tiered.get(key, as: Int.self) == 2 }, "and refreshed in the background")
        #expect(calls.count == 1)
        #expect(tiered.statistics.refreshesAhead == 1)
    }

    @Test(
        "a getOrSet hit with options is L1's copy, counted once and computed never: on the tiered store's own type, as any store, through a prefix; cachedValue answers it, and nothing for a store of one tier or an eager refresh to decide",
        arguments: ["TieredStore", "any KeyValueStore", "prefixed"])
    func optionsHitFromL1(calledAs: String) async throws {
        let tiered = TieredStore(l1: MemoryStore(), l2: MemoryStore())
        let options = EntryOptions(expires: "10min", grace: "1h", softTimeout: .milliseconds(100))
        let store: any KeyValueStore = calledAs == "prefixed" ? tiered.prefixed("app:") : tiered
        func getOrSet(_ compute: @escaping @Sendable () async throws -> Int) async throws -> Int {
            calledAs == "TieredStore"
                ? try await tiered.getOrSet("feed", as: Int.self, options: options, compute: compute)
                : try await store.getOrSet("feed", as: Int.self, options: options, compute: compute)
        }
        #expect(try await getOrSet { 1 } == 1)
        let (hits, misses) = (tiered.statistics.l1Hits, tiered.statistics.misses)
        let calls = Counter()
        #expect(
            try await getOrSet {
                calls.increment(); return 2
            } == 1)
        #expect(calls.count == 0)
        #expect(tiered.statistics.l1Hits == hits + 1 && tiered.statistics.misses == misses)
        #expect(try store.cachedValue(forKey: "feed", as: Int.self, options: options) == 1)
        #expect(try store.cachedValue(forKey: "feed", as: Int.self, options: EntryOptions(refreshAhead: 0.5)) == nil)
        #expect(try store.cachedValue(forKey: "absent", as: Int.self, options: options) == nil)
        let memory = MemoryStore()
        try await memory.set("feed", 1)
        #expect(try memory.cachedValue(forKey: "feed", as: Int.self, options: options) == nil, "one tier: the compute path reads it")
    }

    @Test("adaptive lifetime is honoured in both tiers")
    func adaptiveLifetime() async throws {
        let fixture = TieredFixture()
        _ = try await fixture.cache.getOrSet("partial", as: String.self, options: EntryOptions(expires: "1h")) { context in
            context.options.expires = "10s"
            return "partial"
        }
        let l1Expiry = try #require(try await fixture.l1.entry(forKey: "partial")?.expiresAt)
        let l2Expiry = try #require(try await fixture.l2.entry(forKey: "partial")?.expiresAt)
        let expected = fixture.clock.now().adding(milliseconds: 10_000)
        #expect(l1Expiry == expected)
        #expect(l2Expiry == expected)
    }

    @Test("tags: a tagged L1 hit needs no tier while no tag changed; invalidate(tags:) reaches both tiers and is counted")
    func tagsOverTiers() async throws {
        let fixture = TieredFixture()
        try await fixture.cache.set("a", "1", options: EntryOptions(expires: "1h", tags: ["team:3"]))
        try await fixture.cache.set("b", "2", options: EntryOptions(expires: "1h", tags: ["team:4"]))
        let calls = fixture.l2.counts.calls
        #expect(try await fixture.cache.get("a", as: String.self) == "1")
        #expect(fixture.l2.counts.calls == calls, "a tagged L1 hit read no tier")
        fixture.clock.advance(by: .milliseconds(1))
        try await fixture.cache.invalidate(tags: ["team:3"])
        #expect(try await fixture.cache.get("a", as: String.self) == nil)
        #expect(try await fixture.cache.get("b", as: String.self) == "2")
        #expect(try await fixture.l2.get("a", as: String.self) == nil, "L2 read on its own honours the tag too")
        #expect(fixture.cache.statistics.tagInvalidations == 1)
    }

    @Test("store defaults apply to calls that set no option, and a call's options override them")
    func storeDefaults() async throws {
        let clock = ManualClock()
        var configuration = TieredStore.Configuration(defaultExpiry: "1min")
        configuration.entryOptions = EntryOptions(grace: "1h", tags: ["app"])
        let cache = TieredStore(
            l1: MemoryStore(configuration: .init(clock: clock)), l2: MemoryStore(configuration: .init(clock: clock)),
            configuration: configuration)
        _ = try await cache.getOrSet("k", as: Int.self, options: EntryOptions()) { 1 }
        clock.advance(by: .seconds(61))
        let kept = try await cache.getOrSet("k", as: Int.self, options: EntryOptions()) { throw Unavailable() }
        #expect(kept == 1, "the default grace kept it")
        try await cache.invalidate(tags: ["app"])
        clock.advance(by: .milliseconds(1))
        await #expect(throws: Unavailable.self) {
            try await cache.getOrSet("k", as: Int.self, options: EntryOptions()) { throw Unavailable() }
        }
    }
}

@Suite("EntryOptions checks")
struct EntryOptionsCheckTests {
    @Test("options that cannot work are a clear StrataError naming the key or tag, never a corrupt entry")
    func invalidOptions() async throws {
        let store = MemoryStore()
        let tooMany = (0...EntryEnvelope.maximumTags).map { "t\($0)" }
        let error = await #expect(throws: StrataError.self) {
            try await store.set("k", 1, options: EntryOptions(refreshAhead: 1.5))
        }
        #expect(error?.code == .invalidConfiguration && error?.key == "k")
        await #expect(throws: StrataError(code: .invalidConfiguration, message: "")) {
            try await store.set("k", 1, options: EntryOptions(tags: tooMany))
        }
        await #expect(throws: StrataError(code: .invalidConfiguration, message: "")) {
            try await store.getOrSet("k", as: Int.self, options: EntryOptions(hardTimeout: .zero)) { 1 }
        }
        let longTag = String(repeating: "t", count: 257)
        let tagError = await #expect(throws: StrataError.self) {
            try await store.set("k", 1, options: EntryOptions(tags: [longTag]))
        }
        #expect(tagError?.code == .invalidKey && tagError?.key == longTag)
        // Options a computation chooses are checked before they are written.
        await #expect(throws: StrataError(code: .invalidKey, message: "")) {
            try await store.getOrSet("adaptive", as: Int.self, options: EntryOptions()) { context in
                context.options.tags = [""]
                return 1
            }
        }
        #expect(try await store.has("adaptive") == false, "nothing was written")
        #expect(try await store.keys().isEmpty)
    }
}
