#if Logging && Metrics
import Strata
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Metrics
import MetricsTestKit
import StrataHTTP
@testable import StrataRedis
import StrataTesting
import StrataTestSupport
import Synchronization
import Testing

/// A `LogHandler` that keeps every message, for assertions.
struct RecordingLogHandler: LogHandler {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    final class Box: Sendable {
        let entries = Lock<[Entry]>([])
        var all: [Entry] { entries.withLock { $0 } }
        func messages(_ level: Logger.Level) -> [String] { all.filter { $0.level == level }.map(\.message) }
        func contains(_ level: Logger.Level, _ fragment: String) -> Bool { messages(level).contains { $0.contains(fragment) } }
    }

    let box: Box
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        box.entries.withLock { $0.append(Entry(level: event.level, message: "\(event.message)", metadata: event.metadata ?? [:])) }
    }

    /// A logger at `level` writing into a new box.
    static func logger(level: Logger.Level = .info) -> (Logger, Box) {
        let box = Box()
        return (Logger(label: "strata.test") { _ in RecordingLogHandler(box: box, logLevel: level) }, box)
    }
}

@Suite("Logs and metrics")
struct ObservabilityTests {
    @Test("a Redis restart is logged as a lost and a regained connection", .timeLimit(.minutes(1)))
    func redisRestart() async throws {
        let server = try await RedisTestServer()
        let (logger, logs) = RecordingLogHandler.logger()
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.unixURL), poolSize: 1)
        configuration.connectTimeout = .milliseconds(200)
        configuration.logger = logger
        let store = try RedisStore(configuration: configuration)
        try await store.set("k", "v")
        server.kill()
        await #expect(throws: StrataError(code: .backendUnavailable, message: "")) { try await store.set("k", "w") }
        try await server.start()
        try await store.set("k", "again")
        #expect(logs.contains(.warning, "connection to Redis lost"))
        #expect(logs.contains(.notice, "connection to Redis regained"))
        #expect(logs.all.first { $0.message.contains("lost") }?.metadata["strata.backend"] != nil)
    }

    @Test(
        "a connection that fails on a caller's write (before the event loop sees it end) is logged as lost, and the next one as regained",
        .timeLimit(.minutes(1)))
    func lostOnWrite() async throws {
        let server = try await RedisTestServer()
        let (logger, logs) = RecordingLogHandler.logger()
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.tcpURL), poolSize: 1)
        configuration.logger = logger
        let store = try RedisStore(configuration: configuration)
        try await store.set("k", "v")
        // The frozen server neither reads nor closes: only the caller's write can find the
        // connection broken (its sending half is shut here: TCP sends a FIN, which gives the
        // event loop nothing to read), and nothing reaches the event loop.
        server.send(SIGSTOP)
        let descriptor = try #require(store.lanes[0].state.withLock { $0.socket?.descriptor })
        shutdown(descriptor, Int32(SHUT_WR))
        await #expect(throws: StrataError(code: .backendUnavailable, message: "")) { try await store.set("k", "w") }
        server.send(SIGCONT)
        try await store.set("k", "again")
        #expect(logs.contains(.warning, "connection to Redis lost"))
        #expect(logs.contains(.notice, "connection to Redis regained"))
        try await store.close()
    }

    @Test("a gap in the bus's subscription is logged, with the L1 drop, by the bus and by the tiered store", .timeLimit(.minutes(1)))
    func busGap() async throws {
        let server = try await RedisTestServer()
        let (logger, logs) = RecordingLogHandler.logger()
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.unixURL))
        configuration.logger = logger
        let redis = try RedisStore(configuration: configuration)
        let bus = RedisInvalidationBus(redis: redis)
        var tiered = TieredStore.Configuration(invalidationPublisher: bus)
        tiered.logger = logger
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: tiered)
        let background = Task { try await cache.run() }  // runs the bus too
        defer { background.cancel() }
        try #require(await eventually { bus.isSubscribed }, "subscribed")
        try await cache.set("k", "v")
        try await server.cli("CLIENT", "KILL", "TYPE", "pubsub")
        #expect(try await eventually { logs.contains(.notice, "subscription restored") }, "the subscription came back")
        #expect(logs.contains(.warning, "invalidation subscription down"))
        #expect(logs.contains(.notice, "invalidation subscription restored; dropped all of L1"))
        #expect(logs.contains(.notice, "dropped all of L1 after a gap"), "the tiered store's own account of the drop")
        #expect(try await cache.l1.get("k", as: String.self) == nil)
    }

    @Test("an L2 timeout, failures, hits and misses: logged at their levels and counted with store and tier dimensions")
    func tieredEvents() async throws {
        let metrics = TestMetrics()
        let (logger, logs) = RecordingLogHandler.logger(level: .info)
        let l2 = FaultInjectingStore(wrapping: MemoryStore())
        var configuration = TieredStore.Configuration(l2Timeout: .milliseconds(100))
        configuration.logger = logger
        configuration.metrics = MetricsReporting(name: "prices", factory: metrics)
        let cache = TieredStore(l1: MemoryStore(), l2: l2, configuration: configuration)

        #expect(try await cache.get("a", as: Int.self) == nil)  // L2 miss
        try await cache.set("a", 1)
        #expect(try await cache.get("a", as: Int.self) == 1)  // L1 hit
        l2.inject(.hang, into: .reads)
        #expect(try await cache.getOrSet("b", as: Int.self) { 2 } == 2)  // L2 read times out, computed anyway
        l2.heal()
        l2.inject(.fail, into: .writes)
        await #expect(throws: StrataError.self) { try await cache.set("c", 3) }
        l2.heal()

        func count(_ tier: String, _ event: String) -> Int64 {
            metrics.counterTotal(label: "strata_tiered_events_total", dimensions: [("store", "prices"), ("tier", tier), ("event", event)])
        }
        #expect(count("l1", "hit") == 1)
        #expect(count("l2", "miss") >= 1)
        #expect(count("l2", "timeout") == 1)
        #expect(count("l2", "failure") == 1)
        #expect(count("l2", "write") == 1)
        #expect(
            try metrics.expectTimer("strata_tiered_event_duration", [("store", "prices"), ("tier", "l2"), ("event", "timeout")])
                .values.first.map { $0 >= 100_000_000 } == true, "the timeout's duration, in nanoseconds")
        #expect(logs.contains(.warning, "timed out"))
        #expect(logs.contains(.warning, "L2 call failed"))
        #expect(!logs.all.contains { $0.message == "hit" }, "hits are debug messages, not logged at info")

        let (debugLogger, debugLogs) = RecordingLogHandler.logger(level: .debug)
        var verbose = TieredStore.Configuration()
        verbose.logger = debugLogger
        let asked = TieredStore(l1: MemoryStore(), l2: MemoryStore(), configuration: verbose)
        try await asked.set("x", 1)
        _ = try await asked.get("x", as: Int.self)
        #expect(debugLogs.contains(.debug, "hit"), "hits logged when asked for (debug level)")
    }

    @Test("nothing is logged or counted without a logger or metrics")
    func silentByDefault() async throws {
        let metrics = TestMetrics()
        MetricsSystem.bootstrap(metrics)  // the only test that sets the process's factory
        let cache = TieredStore(l1: MemoryStore(), l2: MemoryStore())
        try await cache.set("a", 1)
        _ = try await cache.get("a", as: Int.self)
        _ = try await cache.get("missing", as: Int.self)
        #expect(metrics.counters.isEmpty && metrics.timers.isEmpty)
    }

    @Test("HTTPCache statistics as counters, and an unreachable origin logged")
    func httpCache() async throws {
        let metrics = TestMetrics()
        let (logger, logs) = RecordingLogHandler.logger()
        let origin = try LoopbackHTTPServer { _ in .init(status: 200, headers: [("Cache-Control", "max-age=60")], body: Array("hi".utf8)) }
        var configuration = HTTPCache.Configuration()
        configuration.logger = logger
        configuration.metrics = MetricsReporting(name: "api", factory: metrics)
        let cache = try HTTPCache(store: MemoryStore(), configuration: configuration)
        let url = URL(string: origin.baseURL + "/r")!
        _ = try await cache.response(for: URLRequest(url: url))
        _ = try await cache.response(for: URLRequest(url: url))
        func count(_ event: String) -> Int64 {
            metrics.counterTotal(label: "strata_http_events_total", dimensions: [("cache", "api"), ("event", event)])
        }
        #expect(count("originRequests") == 1 && count("stores") == 1 && count("hits") == 1)
        let down = URL(string: "http://127.0.0.1:\(try RedisTestServer.freePort())/gone")!
        await #expect(throws: StrataError.self) { try await cache.response(for: URLRequest(url: down)) }
        #expect(logs.contains(.warning, "origin unavailable"))
    }
}
#endif
