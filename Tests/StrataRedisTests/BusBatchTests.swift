import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Testing

@testable import StrataRedis

/// `publish(_ invalidations: [Invalidation])`: a bulk write's keys are queued together, so
/// they go out in as few messages as coalescing allows.
@Suite("RedisInvalidationBus: batches")
struct BusBatchTests {
    @Test("a batch of 600 keys goes out as 3 messages (256 keys each at most), and reaches another instance whole", .timeLimit(.minutes(1)))
    func batchInFewMessages() async throws {
        let server = try await RedisTestServer()
        let publisher = RedisInvalidationBus(redis: try RedisStore(url: server.unixURL))
        let listener = try await RecordingListener.subscribed(to: server)
        defer { listener.stop() }

        let keys = (0..<600).map { "key:\($0)" }
        await publisher.publish(keys.map(Invalidation.key))
        await publisher.close()
        #expect(publisher.messagesPublished == 3)
        #expect(publisher.failedPublishes == 0)
        #expect(try await eventually { listener.keys == keys }, "every key, in order")
    }

    @Test("a TieredStore's bulk write and removal are each announced as one message", .timeLimit(.minutes(1)))
    func tieredBulkWrite() async throws {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: server.unixURL)
        let bus = RedisInvalidationBus(redis: redis)
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: .init(invalidationPublisher: bus))
        let entries = Dictionary(uniqueKeysWithValues: (0..<100).map { ("k\($0)", StoredEntry(bytes: [UInt8($0)], expiresAt: nil)) })
        try await cache.setEntries(entries)
        // The bus coalesces what is queued together: the removal waits until the write's
        // announcement has gone out, so each batch is its own message.
        #expect(try await eventually { bus.messagesPublished == 1 }, "the write's batch went out as one message")
        #expect(try await cache.removeEntries(forKeys: Array(entries.keys)) == 100)
        await bus.close()
        #expect(bus.messagesPublished == 2)
    }

    @Test("in .tracking mode a batch's keys are left out (Redis reports them), its prefixes published; after close, each is counted")
    func trackingAndClosed() async throws {
        let server = try await RedisTestServer()
        let bus = RedisInvalidationBus(redis: try RedisStore(url: server.unixURL), mode: .tracking)
        await bus.publish([.key("a"), .key("b")])
        await bus.close()
        #expect(bus.messagesPublished == 0)
        let again = RedisInvalidationBus(redis: try RedisStore(url: server.unixURL), mode: .tracking)
        await again.publish([.key("a"), .prefix("user:"), .key("b")])
        await again.close()
        #expect(again.messagesPublished == 1)
        await again.publish([.prefix("p:"), .everything])
        #expect(again.failedPublishes == 2, "refused after close, counted per announcement")
    }

}
