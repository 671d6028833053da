#if Vapor
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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

    @Test(
        "asyncShutdown closes the store after the server stopped: a request in flight at shutdown still reads it",
        .timeLimit(.minutes(1)))
    func requestInFlightAtShutdown() async throws {
        let store = MemoryStore()
        try await store.set("greeting", "hi")
        // `vapor` alone runs the default command, serve (not the test runner's arguments).
        let app = try await Application.make(Environment(name: "testing", arguments: ["vapor"]))
        app.lifecycle.use(StoreLifecycle(store))
        let entered = AsyncStream<Void>.makeStream()
        let release = AsyncStream<Void>.makeStream()
        app.get("slow") { _ async throws -> String in
            entered.continuation.yield()
            for await _ in release.stream { break }  // held until the test lets it go
            return try await store.get("greeting", as: String.self) ?? "?"
        }
        app.http.server.configuration.hostname = "127.0.0.1"
        app.http.server.configuration.port = 0
        do {
            try await app.startup()  // boots and serves, as app.execute() does
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
        guard let port = app.http.server.shared.localAddress?.port else {
            try await app.asyncShutdown()
            Issue.record("the server has no port")
            return
        }
        let url = try #require(URL(string: "http://127.0.0.1:\(port)/slow"))
        let request = Task { () -> (Int, String) in
            let (body, response) = try await URLSession(configuration: .ephemeral).data(from: url)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: body, as: UTF8.self))
        }
        for await _ in entered.stream { break }

        let shutdown = Task { try await app.asyncShutdown() }
        // The server has begun to stop once it takes no new connection (its listening socket
        // is closed, while it waits for the request in flight).
        #expect(try await eventually { await Self.refusesConnections(url) }, "the server stopped listening")
        release.continuation.yield()
        let (status, body) = try await request.value
        #expect(status == 200 && body == "hi", "the request in flight read the store (got \(status) \(body))")
        try await shutdown.value
        await #expect(throws: StrataError.closed) { try await store.get("greeting", as: String.self) }
    }

    /// Whether a new connection to `url`'s server is refused.
    static func refusesConnections(_ url: URL) async -> Bool {
        var probe = URLRequest(url: url)
        probe.timeoutInterval = 1
        do {
            _ = try await URLSession(configuration: .ephemeral).data(for: probe)
            return false
        } catch {
            return (error as? URLError)?.code == .cannotConnectToHost
        }
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
