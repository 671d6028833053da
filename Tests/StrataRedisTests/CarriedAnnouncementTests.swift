import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Testing

@testable import StrataRedis

/// A tiered store's write of one key over its bus's own `RedisStore` carries the bus's
/// announcement in the same round trip (`CarriedAnnouncement`): nothing is left in the
/// bus's queue, and the `PUBLISH` has run when the write returns.
@Suite("RedisInvalidationBus: the announcement travels with the write")
struct CarriedAnnouncementTests {
    /// The three writes of one key a tiered store makes: a plain `set`, a computed value
    /// with `RedisComputeLock` (its write-and-release script), and one without a lock (the
    /// leased write's script).
    enum Write: String, CaseIterable, CustomTestStringConvertible {
        case set, computedWithLock, computedWithoutLock
        var testDescription: String { rawValue }
    }

    @Test(
        "a tiered store's write of one key publishes its announcement in the same step: run when the write returns, nothing through the bus's queue, and another instance hears of it",
        .timeLimit(.minutes(1)), arguments: Write.allCases)
    func announcedWithTheWrite(_ write: Write) async throws {
        let server = try await RedisTestServer()
        let listener = try await RecordingListener.subscribed(to: server)
        defer { listener.stop() }
        let redis = try RedisStore(url: server.unixURL)
        let bus = RedisInvalidationBus(redis: redis)
        var configuration = write == .computedWithLock ? TieredStore.Configuration.lockTest(redis) : .init()
        configuration.invalidationPublisher = bus
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: configuration)
        try await server.cli("CONFIG", "RESETSTAT")
        switch write {
        case .set: try await cache.set("report", "fresh")
        case .computedWithLock, .computedWithoutLock: #expect(try await cache.getOrSet("report", as: String.self) { "fresh" } == "fresh")
        }
        let statistics = try await server.cli("INFO", "commandstats")
        #expect(statistics.contains("cmdstat_publish:calls=1,"), "the PUBLISH had run when the write returned: \(statistics)")
        #expect(try await eventually { listener.keys == ["report"] }, "another instance hears of the change")
        await bus.close()
        #expect(bus.messagesPublished == 0, "nothing went through the bus's queue")
        #expect(bus.failedPublishes == 0)
        #expect(try await redis.get("report", as: String.self) == "fresh")
        #expect(try await server.cli("INFO", "commandstats").contains("cmdstat_publish:calls=1,"), "announced once")
        try await cache.close()
    }

    @Test(
        "a refused PUBLISH (an ACL without the channel) leaves the write made: the announcement falls back to the bus's queue, whose refusal is counted",
        .timeLimit(.minutes(1)), arguments: Write.allCases)
    func refusedAnnouncement(_ write: Write) async throws {
        let server = try await RedisTestServer()
        try await server.cli("ACL", "SETUSER", "app", "on", ">app pw", "~*", "resetchannels", "+@all")
        let redis = try RedisStore(url: "redis://app:app%20pw@127.0.0.1:\(server.port)")
        let bus = RedisInvalidationBus(redis: redis)
        var configuration = write == .computedWithLock ? TieredStore.Configuration.lockTest(redis) : .init()
        configuration.invalidationPublisher = bus
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: configuration)
        switch write {
        case .set: try await cache.set("report", "fresh")
        case .computedWithLock, .computedWithoutLock: #expect(try await cache.getOrSet("report", as: String.self) { "fresh" } == "fresh")
        }
        #expect(try await redis.get("report", as: String.self) == "fresh", "the write was made")
        await bus.close()
        #expect(bus.failedPublishes == 1, "the queue tried the announcement and was refused")
        #expect(bus.lastPublishError?.code == .accessDenied, "\(String(describing: bus.lastPublishError))")
        try await cache.close()
    }

    @Test("writes to another store, in .tracking mode, or after close() carry no announcement")
    func notCarried() async throws {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: server.unixURL)
        let bus = RedisInvalidationBus(redis: redis)
        #expect(bus.carriedAnnouncement(ofChangeTo: "k", writtenTo: redis) != nil, "its own store, on one server")
        #expect(bus.carriedAnnouncement(ofChangeTo: "k", writtenTo: try RedisStore(url: server.unixURL)) == nil, "another store")
        #expect(bus.carriedAnnouncement(ofChangeTo: "k", writtenTo: MemoryStore()) == nil)
        let tracking = RedisInvalidationBus(redis: redis, mode: .tracking)
        #expect(tracking.carriedAnnouncement(ofChangeTo: "k", writtenTo: redis) == nil, "Redis reports the change itself")
        await bus.close()
        #expect(bus.carriedAnnouncement(ofChangeTo: "k", writtenTo: redis) == nil, "closed: counted as not published instead")
    }
}
