#if ServiceLifecycle
import Foundation
import Logging
import ServiceLifecycle
import StrataRedis
import StrataSQLite
import StrataTesting
import Testing

/// The stores' background work in a real `ServiceGroup`.
@Suite("ServiceLifecycle")
struct LifecycleTests {
    @Test(
        "a ServiceGroup starts the stores' loops, and a graceful shutdown stops them all and closes every store",
        .timeLimit(.minutes(2)))
    func gracefulShutdown() async throws {
        let stores = IntegrationStores()
        let redis = try await stores.redis()
        let bus = RedisInvalidationBus(redis: redis)
        // Sweepers that would sleep for an hour: only a loop that honours the shutdown returns in time.
        let tiered = TieredStore(
            l1: MemoryStore(configuration: .init(sweepInterval: .seconds(3_600))), l2: redis,
            configuration: .init(invalidationPublisher: bus))
        let sqlite = try SQLiteStore(configuration: .init(path: stores.sqlitePath, sweepInterval: .seconds(3_600)))
        let memory = MemoryStore(configuration: .init(sweepInterval: .milliseconds(20)))
        try await memory.set("brief", 1, expires: Expiry(.milliseconds(10)))
        let group = ServiceGroup(
            services: [StoreService(tiered), StoreService(sqlite), StoreService(memory)],
            gracefulShutdownSignals: [], cancellationSignals: [], logger: Logger(label: "test"))
        let running = Task { try await group.run() }

        // Within the test's limit, not eventually's 10 s: at the start of the all-traits run,
        // with every suite starting at once, the subscription once took longer than that.
        #expect(try await eventually(within: .seconds(60)) { bus.isSubscribed }, "the tiered store's service runs its bus")
        #expect(try await eventually { memory.statistics.expirations == 1 }, "the memory store's sweeper ran")

        await group.triggerGracefulShutdown()
        // The group returns only when every loop honoured the shutdown: one that ignored it
        // would sleep for the sweepers' hour, past the test's time limit. (No wall-clock bound
        // here: a loaded CI machine once took 11 s to schedule the shutdown's tasks.)
        try await running.value
        #expect(!bus.isSubscribed)
        for store in [tiered, sqlite, memory] as [any KeyValueStore] {
            await #expect(throws: StrataError.closed) { try await store.get("k", as: Int.self) }
        }
        await #expect(throws: StrataError.closed) { try await redis.get("k", as: Int.self) }
    }

    @Test("a store's own Service conformance: run() returns on graceful shutdown without closing it")
    func storeAsService() async throws {
        let memory = MemoryStore(configuration: .init(sweepInterval: .seconds(3_600)))
        let group = ServiceGroup(services: [memory], gracefulShutdownSignals: [], cancellationSignals: [], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        try await Task.sleep(for: .milliseconds(50))
        await group.triggerGracefulShutdown()
        try await running.value
        try await memory.set("still", "open")
        #expect(try await memory.get("still", as: String.self) == "open")
    }
}
#endif

#if ServiceLifecycle
@Suite("ServiceLifecycle: the bus")
struct BusServiceTests {
    @Test(
        "the bus's subscription as a Service of its own: subscribed while the group runs, unsubscribed after shutdown",
        .timeLimit(.minutes(1)))
    func busService() async throws {
        let redis = try await IntegrationStores().redis()
        let bus = RedisInvalidationBus(redis: redis)
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: .init(invalidationPublisher: bus))
        let group = ServiceGroup(
            services: [bus.subscription(delivering: cache)], gracefulShutdownSignals: [], cancellationSignals: [],
            logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        #expect(try await eventually { bus.isSubscribed }, "the bus's service subscribed")
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(!bus.isSubscribed)
        try await redis.close()
    }
}
#endif
