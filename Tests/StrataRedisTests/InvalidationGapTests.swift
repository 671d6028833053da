import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Testing

/// An instance whose bus reaches the server through a ``TCPProxy`` while its L2 is a
/// direct connection: freezing the proxy kills the bus's path and nothing else. Its
/// subscription starts only when the test says so.
final class ProxiedInstance: Sendable {
    let proxy: TCPProxy
    let bus: RedisInvalidationBus
    let cache: TieredStore
    let events = RedisEventLog()
    private let subscription = Lock<Task<Void, any Error>?>(nil)

    init(server: RedisTestServer, configuration: RedisInvalidationBus.Configuration = .init()) throws {
        proxy = try TCPProxy(upstream: .unix(path: server.socket))
        var proxied = RedisStore.Configuration(endpoint: try RedisEndpoint(url: "redis://127.0.0.1:\(proxy.port)"))
        // A SUBSCRIBE sent into the frozen path gives up after this, then retries.
        proxied.commandTimeout = .seconds(1)
        bus = try RedisInvalidationBus(redis: try RedisStore(configuration: proxied), configuration: configuration)
        cache = TieredStore(
            l1: MemoryStore(maxEntries: 1_000), l2: try RedisStore(url: server.unixURL),
            configuration: .init(l1Expiry: "10min", observer: events, invalidationPublisher: bus))
    }

    deinit { proxy.close() }

    /// Starts `run(delivering:)` and waits until the bus says it is subscribed.
    func subscribe() async throws {
        let (bus, cache) = (bus, cache)
        subscription.withLock { $0 = Task { try await bus.run(delivering: cache) } }
        #expect(try await eventually(within: .seconds(10)) { bus.isSubscribed }, "subscribed")
    }

    /// Cancels `run(delivering:)` and waits until it returned.
    func unsubscribe() async throws {
        let task = subscription.withLock { task in
            defer { task = nil }
            return task
        }
        task?.cancel()
        try await task?.value
    }
}

/// A fresh server; A (through its proxy, not subscribed yet), B, and a witness subscribed
/// all along, which confirms that each of B's writes of "k" was announced.
final class GapScene: Sendable {
    let server: RedisTestServer
    let a: ProxiedInstance
    let b: Instance
    let witness: Instance

    init() async throws {
        server = try await RedisTestServer()
        a = try ProxiedInstance(server: server)
        b = try Instance(url: server.unixURL)
        witness = try Instance(url: server.unixURL)
        try await witness.waitUntilSubscribed(via: b)
    }

    func stop() { [b, witness].forEach { $0.subscription.cancel() } }

    /// B writes `value` to "k" and waits until its announcement reached the witness, so
    /// the message has surely been published (and is lost to A if A's subscription is not
    /// live) before the test goes on. Every write of "k" goes through here, so the
    /// witness's count grows by this write's message alone.
    func write(_ value: String) async throws {
        let heard = witness.events.count(.remoteInvalidation, key: .some("k"))
        try await b.cache.set("k", value)
        #expect(
            try await eventually { witness.events.count(.remoteInvalidation, key: .some("k")) > heard },
            "the witness heard B's write of \(value)")
    }
}

@Suite("Invalidation gaps: every subscription and every loss drops L1")
struct InvalidationGapTests {
    @Test("the first subscription is a gap: a copy read before it is dropped", .timeLimit(.minutes(1)))
    func firstSubscription() async throws {
        let scene = try await GapScene()
        defer { scene.stop() }
        let a = scene.a
        try await scene.write("old")
        #expect(try await a.cache.get("k", as: String.self) == "old")  // into A's L1, no subscription yet
        try await scene.write("new")  // A cannot hear of it
        try await a.subscribe()
        #expect(try await a.cache.get("k", as: String.self) == "new")
        try await a.unsubscribe()
    }

    @Test("a restarted run() is a gap: a copy kept across the restart is dropped", .timeLimit(.minutes(1)))
    func restartedRun() async throws {
        let scene = try await GapScene()
        defer { scene.stop() }
        let a = scene.a
        try await a.subscribe()
        try await scene.write("old")
        #expect(try await a.cache.get("k", as: String.self) == "old")
        try await a.unsubscribe()
        #expect(!a.bus.isSubscribed)
        #expect(try await a.cache.get("k", as: String.self) == "old")  // in A's L1 while it hears nothing
        try await scene.write("new")
        try await a.subscribe()
        #expect(try await a.cache.get("k", as: String.self) == "new")
        try await a.unsubscribe()
    }

    @Test(
        "a silently dead path (frozen: no FIN, no RST) is found by the health check within its bound",
        .timeLimit(.minutes(1)))
    func frozenPath() async throws {
        let scene = try await GapScene()
        defer { scene.stop() }
        let a = scene.a
        try await a.subscribe()
        try await scene.write("old")
        // The announcement of "old" may reach A after the witness and drop a copy made
        // meanwhile: read until the copy stays.
        #expect(
            try await eventually {
                guard try await a.cache.get("k", as: String.self) == "old" else { return false }
                try await Task.sleep(for: .milliseconds(20))
                return try await a.cache.l1.has("k")
            }, "A holds a copy while its subscription is live")

        await a.proxy.freeze()
        let frozen = ContinuousClock.now
        try await scene.write("new")  // lost on A's frozen path
        let bound = Duration.seconds(5)
        var served: Duration?
        var noticed: Duration?
        _ = try await eventually(within: bound + .seconds(1), poll: .milliseconds(5)) {
            if noticed == nil && !a.bus.isSubscribed { noticed = ContinuousClock.now - frozen }
            if served == nil, try await a.cache.get("k", as: String.self) == "new" { served = ContinuousClock.now - frozen }
            return served != nil && noticed != nil
        }
        print(
            "frozen path: isSubscribed false after \(noticed.map { "\($0)" } ?? "never"), B's value served after \(served.map { "\($0)" } ?? "never")"
        )
        #expect(
            served.map { $0 <= bound } == true, "A served B's value within \(bound) of the freeze (after \(String(describing: served)))")
        #expect(noticed.map { $0 <= bound } == true, "isSubscribed went false within \(bound)")
        #expect(a.events.count(.remoteInvalidation, key: .some(nil)) >= 2, "L1 dropped at the subscription and at the loss")

        await a.proxy.thaw()
        #expect(try await eventually(within: .seconds(10)) { a.bus.isSubscribed }, "subscribed again after the thaw")
        #expect(try await a.cache.get("k", as: String.self) == "new")
        try await scene.b.cache.set("k", "newer")
        #expect(try await eventually { try await a.cache.get("k", as: String.self) == "newer" }, "messages flow again")
        try await a.unsubscribe()
    }
}
