import Foundation
import StrataRedis
import StrataTestSupport
import StrataTesting
import Testing

@testable import Strata

/// X2 (Docs/Consistency.md): while an instance's bus does not deliver other instances'
/// changes, its L1 keeps what it copies for `undeliveredL1Expiry` at most.
@Suite("L1 lifetimes while the invalidation bus does not deliver")
struct UndeliveredL1ExpiryTests {
    /// How long from now L1 serves its copy of `key`, in milliseconds; `nil` without one.
    /// (`l1.entry(forKey:)` reports the L2 entry's expiry, which readers are told; the copy
    /// itself may be served for less.)
    static func servedFor(_ cache: TieredStore, _ key: String) throws -> Int64? {
        guard let copy = try cache.l1.lookUp(ByteKey(key)) else { return nil }
        return copy.expiresAt - cache.l1.clock.now().millisecondsSince1970
    }

    /// While A's bus does not deliver: A copies B's `old` value at `key` from L2 into L1 for
    /// 1 s at most (undeliveredL1Expiry), and reads B's next write within that bound (and
    /// a margin for a loaded machine), when the copy ends.
    static func expectBriefCopy(
        _ a: TieredStore, _ b: TieredStore, _ key: String, old: String, new: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        #expect(try await a.get(key, as: String.self) == old, sourceLocation: sourceLocation)  // an L2 hit, copied into L1
        let copied = ContinuousClock.now
        let servedFor = try #require(try Self.servedFor(a, key), "the L2 hit was copied into L1", sourceLocation: sourceLocation)
        #expect(
            servedFor > 0 && servedFor <= 1_000,
            "the copy is served for \(servedFor) ms: undeliveredL1Expiry (1 s), not l1Expiry (10 min) nor L2's hour",
            sourceLocation: sourceLocation)
        try await b.set(key, new, expires: "1h")
        // 1 s, and a margin for a 2-core machine running the whole suite at once (the copy's
        // own lifetime, checked above, is the bound; this shows the change is then read).
        let limit = Duration.seconds(6)
        let seen = try await eventually(within: copied + limit - ContinuousClock.now, poll: .milliseconds(5)) {
            try await a.get(key, as: String.self) == new
        }
        #expect(seen, "A read B's change once its copy ended (1 s, and a margin for a loaded machine)", sourceLocation: sourceLocation)
    }

    @Test(
        "X2: while the bus does not deliver, L1 copies live briefly: undeliveredL1Expiry at most before the first subscription and after a loss, l1Expiry while subscribed",
        .timeLimit(.minutes(1)))
    func undeliveredCopiesLiveBriefly() async throws {
        let url = try await RedisTestServer.shared
        let namespace = "x2:\(UUID().uuidString):"
        func redis() throws -> RedisStore {
            var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: url))
            configuration.keyNamespace = namespace
            return try RedisStore(configuration: configuration)
        }
        let redisA = try redis()
        let bus = RedisInvalidationBus(redis: redisA)
        var configuration = TieredStore.Configuration(l1Expiry: "10min", invalidationPublisher: bus)
        configuration.undeliveredL1Expiry = 1
        let a = TieredStore(l1: MemoryStore(maxEntries: 1_000), l2: redisA, configuration: configuration)
        // Another instance on the same Redis, which announces nothing: A reads its changes
        // from L2 once A's copies end.
        let b = TieredStore(l1: MemoryStore(maxEntries: 1_000), l2: try redis())

        // Before the first subscription (run() not started).
        try await b.set("k", "v1", expires: "1h")
        try await Self.expectBriefCopy(a, b, "k", old: "v1", new: "v2")

        // Subscribed: delivery is live, and a copy lives for l1Expiry.
        let subscription = Task { try await bus.run(delivering: a) }
        #expect(try await eventually(within: .seconds(10)) { bus.isSubscribed }, "subscribed")
        try await b.set("k2", "w1", expires: "1h")
        #expect(try await a.get("k2", as: String.self) == "w1")
        let live = try #require(try Self.servedFor(a, "k2"), "the L2 hit was copied into L1")
        #expect(live > 590_000 && live <= 600_000, "the copy is served for \(live) ms: l1Expiry (10 min), not capped")

        // The subscription lost (its task stopped): L1 is dropped, and copies are capped again.
        subscription.cancel()
        try await subscription.value
        #expect(!bus.isSubscribed)
        #expect(try Self.servedFor(a, "k2") == nil, "the loss dropped L1")
        try await Self.expectBriefCopy(a, b, "k2", old: "w1", new: "w2")

        _ = try await b.clear()
        try await a.close()
        try await b.close()
    }
}
