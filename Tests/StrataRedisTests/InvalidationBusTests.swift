import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Testing

@testable import StrataRedis

@Suite("RedisInvalidationBus: delivery, health check, owned publication")
struct InvalidationBusTests {
    @Test(
        "each confirmed subscription drops L1 then goes live; each loss, the stop included, goes not live then drops L1",
        .timeLimit(.minutes(1)))
    func deliveryChanges() async throws {
        let server = try await RedisTestServer()
        let bus = RedisInvalidationBus(redis: try RedisStore(url: server.unixURL))
        let recorder = DeliveryRecorder()
        let subscription = Task { try await bus.run(delivering: recorder) }
        #expect(try await eventually(within: .seconds(10)) { bus.isSubscribed })
        let subscribed: [DeliveryRecorder.Call] = [.invalidation(.everything), .live(true)]
        let lost: [DeliveryRecorder.Call] = [.live(false), .invalidation(.everything)]
        #expect(recorder.calls == subscribed, "isSubscribed turns true only after L1 was dropped")

        try await server.cli("CLIENT", "KILL", "TYPE", "pubsub")
        #expect(try await eventually(within: .seconds(10)) { recorder.calls.count == 6 }, "lost, then subscribed again")
        #expect(recorder.calls == subscribed + lost + subscribed)
        #expect(bus.lastSubscribeError?.code == .backendUnavailable, "the loss is kept")

        subscription.cancel()
        try await subscription.value
        #expect(!bus.isSubscribed)
        #expect(recorder.calls == subscribed + lost + subscribed + lost, "stopping is a loss too")
    }

    @Test(
        "a bus delivers to one store: a second run(delivering:) for another store while the first runs throws invalidConfiguration (each would drop the other's announcements as its own); the same store again, or another once the first stopped, runs; while two runs for the same store overlap, the end of one leaves delivery live",
        .timeLimit(.minutes(1)))
    func oneStorePerBus() async throws {
        let server = try await RedisTestServer()
        let bus = RedisInvalidationBus(redis: try RedisStore(url: server.unixURL))
        let first = DeliveryRecorder()
        let subscription = Task { try await bus.run(delivering: first) }
        #expect(try await eventually(within: .seconds(10)) { bus.isSubscribed })
        let second = DeliveryRecorder()
        let refusal = await #expect(throws: StrataError.self) { try await bus.run(delivering: second) }
        #expect(refusal?.code == .invalidConfiguration && refusal?.backend == bus.redis.backendName, "\(String(describing: refusal))")
        #expect(second.calls.isEmpty, "nothing was delivered to the second store")
        let again = Task { try await bus.run(delivering: first) }  // a user's run beside the store's own
        #expect(
            try await eventually(within: .seconds(10)) { first.calls.filter { $0 == .live(true) }.count == 2 },
            "the same store's second run subscribes too")
        subscription.cancel()
        try await subscription.value
        // The second run still delivers: the store is not told delivery stopped, and the bus
        // still says it is subscribed.
        #expect(!first.calls.contains(.live(false)), "one run of two ended: delivery is still live")
        #expect(bus.isSubscribed)
        again.cancel()
        try await again.value
        #expect(first.calls.suffix(2) == [.live(false), .invalidation(.everything)], "the last run's end: \(first.calls.suffix(3))")
        #expect(!bus.isSubscribed)
        let later = Task { try await bus.run(delivering: second) }
        #expect(
            try await eventually(within: .seconds(10)) { second.calls.contains(.live(true)) }, "once the first stopped, another may run")
        later.cancel()
        try await later.value
    }

    @Test("a bus's announcements reach other instances in the order they were queued", .timeLimit(.minutes(1)))
    func publicationOrder() async throws {
        let server = try await RedisTestServer()
        let publisher = RedisInvalidationBus(redis: try RedisStore(url: server.unixURL))
        let listener = try await RecordingListener.subscribed(to: server)
        defer { listener.stop() }

        let sent = (0..<2_000).map { "key:\($0)" }
        for key in sent { await publisher.publish(.key(key)) }
        #expect(try await eventually(within: .seconds(20)) { listener.keys.count == sent.count })
        let received = listener.keys
        let firstOutOfOrder = zip(received, sent).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(firstOutOfOrder == nil, "received in order; the first out of place: \(firstOutOfOrder.map { received[$0] } ?? "none")")
        #expect(publisher.failedPublishes == 0)
    }

    @Test(
        "close() returns once every queued announcement reached the server; later ones are counted as failed",
        .timeLimit(.minutes(1)), arguments: [false, true])
    func closeFlushes(coalescesKeys: Bool) async throws {
        let server = try await RedisTestServer()
        let bus = try RedisInvalidationBus(
            redis: try RedisStore(url: server.unixURL), configuration: .init(coalescesKeys: coalescesKeys))
        let listener = try await RecordingListener.subscribed(to: server)
        defer { listener.stop() }
        let sent = (0..<1_000).map { "key:\($0)" }
        for key in sent { await bus.publish(.key(key)) }
        await bus.close()
        let messages = bus.messagesPublished
        let statistics = try await server.cli("INFO", "commandstats")
        #expect(statistics.contains("cmdstat_publish:calls=\(messages),"), "every PUBLISH ran before close() returned")
        #expect(coalescesKeys ? messages < 1_000 : messages == 1_000)
        #expect(try await eventually(within: .seconds(10)) { listener.keys.count == sent.count })
        #expect(listener.keys == sent, "the messages published before close() held every key, in order")
        #expect(bus.failedPublishes == 0)

        await bus.publish(.key("late"))
        #expect(bus.failedPublishes == 1)
        #expect(bus.lastPublishError?.code == .closed)
        await bus.close()  // again: nothing to wait for
    }

    @Test("a shorter health check notices a frozen path sooner", .timeLimit(.minutes(1)))
    func configuredHealthCheck() async throws {
        let server = try await RedisTestServer()
        let configuration = RedisInvalidationBus.Configuration(
            healthCheckInterval: .milliseconds(100), healthCheckTimeout: .milliseconds(200))
        #expect(configuration.detectionBound == .milliseconds(300))
        let a = try ProxiedInstance(server: server, configuration: configuration)
        try await a.subscribe()
        // Measured from just before the freeze: on a loaded machine a 200 ms check can fail a
        // moment before (a reply late through the proxy), which is the same verdict, sooner.
        let beforeFreeze = ContinuousClock.now
        await a.proxy.freeze()
        let frozen = ContinuousClock.now
        #expect(
            try await eventually(within: .seconds(5)) {
                !a.bus.isSubscribed && a.events.first(.deliveryChanged, after: beforeFreeze) != nil
            })
        // When the store learnt that delivery stopped and dropped L1 (what a reader relies
        // on), not when this task next ran: on a loaded machine the test's own polling can
        // be late by a second.
        let dropped = try #require(a.events.first(.deliveryChanged, after: beforeFreeze))
        let noticed = max(.zero, dropped - frozen)
        print(
            "frozen path, PING after 100 ms of silence with 200 ms to answer: L1 dropped after \(noticed), seen by the test after \(ContinuousClock.now - frozen)"
        )
        #expect(noticed < configuration.detectionBound + .seconds(1))
        #expect(a.bus.lastSubscribeError?.message.contains("PING") == true, "the reason names the health check")
        await a.proxy.thaw()
        try await a.unsubscribe()
    }

    @Test(
        "a health check that is not positive is refused",
        arguments: [
            RedisInvalidationBus.Configuration(healthCheckInterval: .zero),
            RedisInvalidationBus.Configuration(healthCheckTimeout: .milliseconds(-1)),
        ])
    func invalidConfiguration(_ configuration: RedisInvalidationBus.Configuration) async throws {
        let redis = try RedisStore(url: try await RedisTestServer.shared)
        let error = #expect(throws: StrataError.self) { try RedisInvalidationBus(redis: redis, configuration: configuration) }
        #expect(error?.code == .invalidConfiguration)
        try await redis.close()
    }
}
