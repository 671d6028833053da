import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Testing

/// Two instances of an application on one Redis, as two processes have them: each its own
/// `RedisStore` (its own connections) on one server and key namespace, its own L1, and its
/// own invalidation bus, subscribed.
struct BusInstances {
    let a: TieredStore
    let b: TieredStore
    private let subscriptions: [Task<Void, any Error>]

    init(namespace: String = "instances:\(UUID().uuidString):") async throws {
        let url = try await RedisTestServer.shared
        func instance() throws -> (TieredStore, RedisInvalidationBus) {
            var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: url))
            configuration.keyNamespace = namespace
            let redis = try RedisStore(configuration: configuration)
            let bus = RedisInvalidationBus(redis: redis)
            return (
                TieredStore(
                    // l2Timeout: a computed write past it stays in L1 only (R4's exception), which
                    // CI's loaded all-traits run reached with the default 2 s.
                    l1: MemoryStore(maxEntries: 1_000), l2: redis,
                    configuration: .init(l1Expiry: "10min", l2Timeout: .seconds(60), invalidationPublisher: bus)), bus
            )
        }
        let (a, busA) = try instance()
        let (b, busB) = try instance()
        (self.a, self.b) = (a, b)
        subscriptions = [Task { try await busA.run(delivering: a) }, Task { try await busB.run(delivering: b) }]
        let subscribed = try await eventually(within: .seconds(10)) { busA.isSubscribed && busB.isSubscribed }
        if !subscribed { await stop() }
        try #require(subscribed, "both buses subscribed")
    }

    /// Ends the subscriptions, removes the namespace's keys and closes both instances.
    func stop() async {
        for subscription in subscriptions {
            subscription.cancel()
            _ = await subscription.result
        }
        _ = try? await a.clear()
        try? await a.close()
        try? await b.close()
    }

    /// How an instance sees the other's changes: the bus delivers them (X1); polled for 5 s.
    static func delivered(_ reader: TieredStore, _ condition: () async throws -> Bool) async throws -> Bool {
        try await eventually(within: .seconds(5), condition)
    }
}

/// Docs/Consistency.md's rules across instances that share a Redis.
@Suite("Consistency across instances sharing Redis")
struct RedisConsistencyAcrossInstancesTests {
    @Test(
        "C2 stale-set across instances on Redis: a computed value never replaces another instance's set, delete, clear or tag invalidation that began after its miss",
        .timeLimit(.minutes(1)), arguments: StaleSetAcrossInstances.Change.allCases)
    func staleSetAcrossInstances(change: StaleSetAcrossInstances.Change) async throws {
        let instances = try await BusInstances()
        do {
            try await StaleSetAcrossInstances.check(
                change, computingIn: instances.a, changingIn: instances.b, seeing: BusInstances.delivered)
        } catch {
            await instances.stop()
            throw error
        }
        await instances.stop()
    }
}
