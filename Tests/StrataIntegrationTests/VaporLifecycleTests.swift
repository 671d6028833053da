#if Vapor
import Strata
import StrataRedis
import StrataTesting
import StrataVapor
import Testing
import VaporTesting

@Suite("StoreLifecycle: a store's background work in a Vapor application")
struct VaporLifecycleTests {
    @Test(
        "booting starts the store's background work (L1's sweeper, the bus's subscription); asyncShutdown stops it and closes the store",
        .timeLimit(.minutes(1)))
    func bootAndShutdown() async throws {
        let redis = try await IntegrationStores().redis()
        let bus = RedisInvalidationBus(redis: redis)
        let l1 = MemoryStore(configuration: .init(sweepInterval: .milliseconds(20)))
        let cache = TieredStore(l1: l1, l2: redis, configuration: .init(invalidationPublisher: bus))

        let app = try await Application.make(.testing)
        app.lifecycle.use(StoreLifecycle(cache))
        #expect(!bus.isSubscribed, "nothing runs before the application boots")
        try await app.asyncBoot()
        #expect(try await eventually { bus.isSubscribed }, "the bus subscribed once the app booted")
        // After the subscription (which drops L1, a gap), so only the sweeper removes it.
        try await l1.set("brief", 1, expires: Expiry(.milliseconds(10)))
        #expect(try await eventually { l1.statistics.expirations == 1 }, "L1's sweeper ran once the app booted")

        try await app.asyncShutdown()
        #expect(!bus.isSubscribed, "the subscription ended with the app")
        await #expect(throws: StrataError.closed) { try await cache.get("k", as: Int.self) }
        await #expect(throws: StrataError.closed) { try await redis.get("k", as: Int.self) }
    }

    @Test("a store without background work is only closed at shutdown")
    func plainStore() async throws {
        let store = try await IntegrationStores().redis()
        try await withApp { app in
            app.lifecycle.use(StoreLifecycle(store))
            try await app.asyncBoot()
            try await store.set("k", 1)
            #expect(try await store.get("k", as: Int.self) == 1)
        }
        await #expect(throws: StrataError.closed) { try await store.get("k", as: Int.self) }
    }
}
#endif
