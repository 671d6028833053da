import Foundation
import Strata
import StrataTestSupport
import Testing

private struct ComputationFailure: Error {}

/// Each read counts one request in the sample W-TinyLFU sizes L1's window by, however many
/// times its path looks at L1: the sampled hit ratio is what the sizer compares, and a
/// request counted twice on a miss reads as a lower hit ratio than L1 has.
@Suite("L1 request counting")
struct L1RequestCountTests {
    @Test("a read L1 cannot answer counts one request in L1's W-TinyLFU sample, a miss and an L2 hit alike")
    func l1LookedAtOncePerRead() async throws {
        let fixture = TieredFixture()  // L1: W-TinyLFU, 1,000 entries
        try await fixture.l2.set("k", [UInt8]([1, 2, 3]))
        let before = fixture.l1.requestsCountedForWindow
        #expect(try await fixture.cache.get("k", as: [UInt8].self) == [1, 2, 3])  // L2 hit, copied into L1
        #expect(fixture.l1.requestsCountedForWindow == before + 1, "the L2 hit's look at L1, once")
        #expect(try await fixture.cache.get("missing", as: String.self) == nil)
        #expect(fixture.l1.requestsCountedForWindow == before + 2, "the miss's look at L1, once")
        #expect(try await fixture.cache.get("k", as: [UInt8].self) == [1, 2, 3])  // L1 hit
        #expect(fixture.l1.requestsCountedForWindow == before + 3, "an L1 hit of bytes, one look")
        // Text and data held plain, text in an envelope (grace: its lifetime is checked on the hit).
        try await fixture.cache.set("text", "plain")
        try await fixture.cache.set("data", Data([4, 5]))
        try await fixture.cache.set("timed", "for a minute", options: EntryOptions(expires: "1min", grace: "1h"))
        var counted = fixture.l1.requestsCountedForWindow
        for (key, expected) in [("text", "plain"), ("timed", "for a minute")] {
            #expect(try await fixture.cache.get(key, as: String.self) == expected)
            #expect(fixture.l1.requestsCountedForWindow == counted + 1, "an L1 hit of \(key), one look")
            counted += 1
        }
        #expect(try await fixture.cache.get("data", as: Data.self) == Data([4, 5]))
        #expect(fixture.l1.requestsCountedForWindow == counted + 1, "an L1 hit of data, one look")
        fixture.clock.advance(by: .seconds(61))
        #expect(try await fixture.cache.get("timed", as: String.self) == nil, "past its lifetime (in its grace): no plain read")
        // Bytes that are not text: the hit declines them, and the read path says why.
        try await fixture.cache.set("binary", [UInt8]([0xFF, 0xFE]))
        await #expect(throws: StrataError.self) { try await fixture.cache.get("binary", as: String.self) }
        #expect(try await fixture.cache.get("binary", as: [UInt8].self) == [0xFF, 0xFE])
        let stats = fixture.cache.statistics
        #expect((stats.l1Hits, stats.l2Hits, stats.misses) == (5, 1, 2))
    }

    @Test("a get of a copy the hit cannot serve at once (in its grace, tags to check again, another type) counts one request")
    func copyNotServedAtOnce() async throws {
        let fixture = TieredFixture()
        try await fixture.cache.set("tagged", "v", options: EntryOptions(tags: ["t"]))
        try await fixture.cache.set("number", 5)
        try await fixture.cache.set("timed", "t", options: EntryOptions(expires: "1min", grace: "1h"))
        try await fixture.cache.invalidate(tags: ["other"])  // every tagged copy is checked again
        fixture.clock.advance(by: .seconds(61))
        var counted = fixture.l1.requestsCountedForWindow
        #expect(try await fixture.cache.get("tagged", as: String.self) == "v")
        #expect(fixture.l1.requestsCountedForWindow == counted + 1, "a tagged copy checked again")
        counted += 1
        #expect(try await fixture.cache.get("number", as: Double.self) == 5)
        #expect(fixture.l1.requestsCountedForWindow == counted + 1, "a copy kept as another type")
        counted += 1
        #expect(try await fixture.cache.get("timed", as: String.self) == nil)
        #expect(fixture.l1.requestsCountedForWindow == counted + 1, "a copy in its grace")
    }

    @Test("a getOrSet counts one request: a miss computed, an L2 hit, a hit, a copy in its grace recomputed")
    func getOrSetCountsOnce() async throws {
        let fixture = TieredFixture()
        try await fixture.l2.set("inL2", "from L2")
        let options = EntryOptions(expires: "1min", grace: "1h")
        var counted = fixture.l1.requestsCountedForWindow
        func expectOneMore(_ what: Comment) {
            #expect(fixture.l1.requestsCountedForWindow == counted + 1, what)
            counted = fixture.l1.requestsCountedForWindow
        }
        #expect(try await fixture.cache.getOrSet("miss", as: String.self) { "computed" } == "computed")
        expectOneMore("a miss computed")
        #expect(try await fixture.cache.getOrSet("inL2", as: String.self) { "computed" } == "from L2")
        expectOneMore("an L2 hit")
        #expect(try await fixture.cache.getOrSet("miss", as: String.self) { "again" } == "computed")
        expectOneMore("an L1 hit")
        #expect(try await fixture.cache.getOrSet("graced", as: String.self, options: options) { "one" } == "one")
        expectOneMore("a miss computed, with options")
        fixture.clock.advance(by: .seconds(61))
        #expect(try await fixture.cache.getOrSet("graced", as: String.self, options: options) { "two" } == "two")
        expectOneMore("a copy in its grace, recomputed")
        fixture.clock.advance(by: .seconds(61))
        let failed = try await fixture.cache.getOrSet("graced", as: String.self, options: options) { () async throws -> String in
            throw ComputationFailure()
        }
        #expect(failed == "two", "the kept value serves the failing computation")
        expectOneMore("a copy in its grace, its computation failing")
    }

    @Test("a bulk get and a bulk getOrSet count one request a key: L1 hits, L2 hits and misses")
    func bulkCountsOncePerKey() async throws {
        let fixture = TieredFixture()
        try await fixture.cache.set("l1", "one")
        try await fixture.l2.set("l2", "two")
        var counted = fixture.l1.requestsCountedForWindow
        let values = try await fixture.cache.get(["l1", "l2", "none"], as: String.self)
        #expect(values == ["l1": "one", "l2": "two"])
        #expect(fixture.l1.requestsCountedForWindow == counted + 3, "three keys, three requests")
        counted += 3
        try await fixture.l2.set("l2b", "two")
        let computed = try await fixture.cache.getOrSet(["l1", "l2b", "new"], as: String.self) { missing in
            Dictionary(uniqueKeysWithValues: missing.map { ($0, "computed") })
        }
        #expect(computed == ["l1": "one", "l2b": "two", "new": "computed"])
        #expect(fixture.l1.requestsCountedForWindow == counted + 3, "three keys computed or read, three requests")
    }

    @Test("concurrent getOrSets of one missing key (a flight's leader and its waiters) count one request each")
    func flightCountsOncePerCaller() async throws {
        let fixture = TieredFixture()
        let before = fixture.l1.requestsCountedForWindow
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    try await fixture.cache.getOrSet("shared", as: String.self, options: EntryOptions(expires: "1min")) {
                        await Task.yield()
                        return "computed"
                    }
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(values == Array(repeating: "computed", count: 6))
        #expect(fixture.l1.requestsCountedForWindow == before + 6, "six calls, six requests, whoever led")
    }

    @Test("through a prefixed view, and on a store that refreshes ahead by default, a call counts one request")
    func viewsAndEagerRefreshCountOnce() async throws {
        let fixture = TieredFixture()
        let view = fixture.cache.prefixed("app:")
        var counted = fixture.l1.requestsCountedForWindow
        func expectOneMore(_ what: Comment) {
            #expect(fixture.l1.requestsCountedForWindow == counted + 1, what)
            counted = fixture.l1.requestsCountedForWindow
        }
        #expect(try await view.getOrSet("a", as: String.self) { "one" } == "one")
        expectOneMore("a view's getOrSet, a miss")
        #expect(try await view.getOrSet("b", as: String.self, options: EntryOptions(grace: "1h")) { "two" } == "two")
        expectOneMore("a view's getOrSet with options, a miss")
        #expect(try await view.get("b", as: String.self) == "two")
        expectOneMore("a view's get, a hit")
        #expect(try await view.get("c", as: String.self) == nil)
        expectOneMore("a view's get, a miss")

        // The store's own options refresh ahead: `cachedValue` declines without a look, and the
        // compute path's look is the one that counts.
        let l1 = MemoryStore(configuration: .init(maxEntries: 1_000))
        var configuration = TieredStore.Configuration()
        configuration.entryOptions = EntryOptions(expires: "1h", refreshAhead: 0.8)
        let eager = TieredStore(l1: l1, l2: MemoryStore(), configuration: configuration)
        let before = l1.requestsCountedForWindow
        #expect(try await eager.getOrSet("k", as: String.self, options: EntryOptions()) { "v" } == "v")
        #expect(l1.requestsCountedForWindow == before + 1, "a miss of a store that refreshes ahead")
        #expect(try await eager.getOrSet("k", as: String.self, options: EntryOptions()) { "w" } == "v")
        #expect(l1.requestsCountedForWindow == before + 2, "its hit, found by the compute path")
    }

    @Test(
        "behind a store of one's own over a tiered pipeline, a getOrSet with options counts a hit of a Swift value once whether its cachedValue looks at L1 or not, and a miss or a copy to check once if it looks"
    )
    func ownWrapperCountsOnce() async throws {
        for looks in [true, false] {
            let fixture = TieredFixture()
            let wrapper = ForwardingStore(base: fixture.cache, forwardsCachedValue: looks)
            var counted = fixture.l1.requestsCountedForWindow
            func expectOneMore(_ what: String) {
                #expect(fixture.l1.requestsCountedForWindow == counted + 1, "\(what), cachedValue looking: \(looks)")
                counted = fixture.l1.requestsCountedForWindow
            }
            let options = EntryOptions(expires: "1min", grace: "1h")
            #expect(try await wrapper.getOrSet("k", as: String.self, options: options) { "computed" } == "computed")
            if looks { expectOneMore("a miss") }  // without a look, nothing counts a miss (see Tiering.md)
            #expect(try await wrapper.getOrSet("k", as: String.self, options: options) { "again" } == "computed")
            expectOneMore("a hit")
            try await fixture.l2.set("inL2", "from L2")
            #expect(try await wrapper.getOrSet("inL2", as: String.self, options: options) { "again" } == "from L2")
            if looks { expectOneMore("an L2 hit") }
            #expect(try await wrapper.getOrSet("inL2", as: String.self, options: options) { "again" } == "from L2")
            expectOneMore("its copy's hit")
            // A tagged copy to check again (the default looks, counts and declines it; the
            // compute path serves it uncounted): once with the default, none without a look.
            try await fixture.cache.set("tagged", "t", options: EntryOptions(expires: "1min", tags: ["x"]))
            try await fixture.cache.invalidate(tags: ["other"])
            counted = fixture.l1.requestsCountedForWindow
            #expect(try await wrapper.getOrSet("tagged", as: String.self, options: options) { "again" } == "t")
            #expect(
                fixture.l1.requestsCountedForWindow == counted + (looks ? 1 : 0),
                "a tagged copy checked again, cachedValue looking: \(looks)")
        }
    }
}
