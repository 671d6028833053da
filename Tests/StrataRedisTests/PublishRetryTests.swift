import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Testing

/// X1: an announcement this bus could not publish (Redis out of reach for it alone) is not
/// lost: the other instances' subscriptions are healthy, so nothing else would tell them.
@Suite("RedisInvalidationBus: publishing that fails")
struct PublishRetryTests {
    @Test(
        "a PUBLISH that fails while Redis cannot be reached is sent again, in order, once it can; the other instance drops its copies",
        .timeLimit(.minutes(1)))
    func failedPublishIsSentAgain() async throws {
        let server = try await RedisTestServer()
        // The publishing instance reaches Redis through a proxy; the subscriber directly.
        let proxy = try TCPProxy(upstream: .unix(path: server.socket))
        defer { proxy.close() }
        var proxied = RedisStore.Configuration(endpoint: try RedisEndpoint(url: "redis://127.0.0.1:\(proxy.port)"))
        proxied.commandTimeout = .milliseconds(300)
        let publisher = RedisInvalidationBus(redis: try RedisStore(configuration: proxied))
        let shared = try RedisStore(url: server.unixURL)
        let subscriberBus = RedisInvalidationBus(redis: try RedisStore(url: server.unixURL))
        let subscriber = TieredStore(
            l1: MemoryStore(maxEntries: 100), l2: shared, configuration: .init(invalidationPublisher: subscriberBus))
        let running = Task { try await subscriberBus.run(delivering: subscriber) }
        defer { running.cancel() }
        #expect(try await eventually(within: .seconds(10)) { subscriberBus.isSubscribed })

        try await shared.set("a", "a1")
        try await shared.set("b", "b1")
        #expect(try await subscriber.get("a", as: String.self) == "a1")  // copies in the subscriber's L1
        #expect(try await subscriber.get("b", as: String.self) == "b1")
        try await shared.set("a", "a2")  // another instance's writes, announced below
        try await shared.set("b", "b2")

        await proxy.freeze()  // the publisher's path dies silently
        await publisher.publish(.key("a"))
        await publisher.publish(.key("b"))
        #expect(try await eventually(within: .seconds(10)) { publisher.failedPublishes >= 2 }, "the PUBLISH failed")
        #expect(try await subscriber.get("a", as: String.self) == "a1", "not delivered yet")
        await proxy.cut()  // what the frozen path held is lost with it
        await proxy.thaw()
        let delivered = try await eventually(within: .seconds(10)) {
            let a = try await subscriber.get("a", as: String.self)
            let b = try await subscriber.get("b", as: String.self)
            return a == "a2" && b == "b2"
        }
        #expect(delivered, "the announcements were sent again and the subscriber dropped its copies")
        await publisher.close()
        let published = try await server.cli("INFO", "commandstats")
        #expect(published.contains("cmdstat_publish:"), "\(published)")
    }
}
