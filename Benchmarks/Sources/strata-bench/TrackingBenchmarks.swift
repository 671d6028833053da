import Foundation
import Strata
import StrataRedis
import Synchronization

/// The bus in `.tracking` mode beside `.publish` (Docs/Redis.md, "Tracking"): one writing
/// instance and three reading ones on one Redis, the writer setting keys one after another;
/// messages per write (published and received, over every instance), the lag until every
/// reader dropped the key, and the server's CPU per 10,000 writes.
nonisolated func trackingBenchmarks(quick: Bool) async throws {
    heading("Invalidation bus: .tracking (CLIENT TRACKING) beside .publish")
    let redis = try await LocalRedis()
    defer { redis.stop() }
    let writes = quick ? 2_000 : 10_000
    for mode in [RedisInvalidationBus.Mode.publish, .tracking] {
        let name = mode == .tracking ? "tracking" : "publish"
        let run = try await trackingRun(redis: redis, mode: mode, writes: writes)
        let report = Report.shared
        report.record(
            "tracking", "messages per write, \(name) (published + received by 4 instances)", run.messagesPerWrite,
            unit: "msg", series: name)
        report.record("tracking", "lag until 3 readers dropped a key, median, \(name)", run.medianLag, unit: "µs", series: name)
        report.record("tracking", "lag until 3 readers dropped a key, p99, \(name)", run.p99Lag, unit: "µs", series: name)
        report.record("tracking", "Redis CPU per 10,000 writes, \(name)", run.cpuPer10k, unit: "ms", series: name)
        report.record("tracking", "time per write, \(name)", run.timePerWrite, unit: "µs", series: name)
    }
}

private struct TrackingRun {
    var messagesPerWrite: Double
    var medianLag: Double
    var p99Lag: Double
    var cpuPer10k: Double
    var timePerWrite: Double
}

/// When each key was dropped, per reader.
private final class Arrivals: InvalidationSubscriber {
    let seen = Mutex([String: ContinuousClock.Instant]())
    func applyRemoteInvalidation(_ invalidation: Invalidation) {
        guard case .key(let key) = invalidation else { return }
        let now = ContinuousClock.now
        seen.withLock { seen in if seen[key] == nil { seen[key] = now } }
    }
    func invalidationDeliveryChanged(isLive: Bool) {}
    var count: Int { seen.withLock { $0.count } }
}

private func trackingRun(redis: LocalRedis, mode: RedisInvalidationBus.Mode, writes: Int) async throws -> TrackingRun {
    let namespace = "tracking-\(mode == .tracking ? "t" : "p"):"
    func store() throws -> RedisStore {
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: redis.url))
        configuration.keyNamespace = namespace
        return try RedisStore(configuration: configuration)
    }
    var readers: [(RedisInvalidationBus, Arrivals, Task<Void, any Error>)] = []
    for _ in 0..<3 {
        let bus = RedisInvalidationBus(redis: try store(), mode: mode)
        let arrivals = Arrivals()
        readers.append((bus, arrivals, Task { try await bus.run(delivering: arrivals) }))
    }
    let writerRedis = try store()
    let writerBus = RedisInvalidationBus(redis: writerRedis, mode: mode)
    let writer = TieredStore(l1: MemoryStore(maxEntries: 100_000), l2: writerRedis, configuration: .init(invalidationPublisher: writerBus))
    let writerTask = Task { try await writerBus.run(delivering: writer) }
    defer {
        readers.forEach { $0.2.cancel() }
        writerTask.cancel()
    }
    while !(readers.allSatisfy { $0.0.isSubscribed } && writerBus.isSubscribed) { try await Task.sleep(for: .milliseconds(10)) }
    let raw = RawRedis(port: redis.port)
    let cpuBefore = serverCPU(raw)
    let receivedBefore = readers.reduce(writerBus.messagesReceived) { $0 + $1.0.messagesReceived }
    var written: [ContinuousClock.Instant] = []
    written.reserveCapacity(writes)
    let started = ContinuousClock.now
    for index in 0..<writes {
        try await writer.set("k\(index)", "v")
        written.append(.now)
    }
    let elapsed = ContinuousClock.now - started
    while !readers.allSatisfy({ $0.1.count >= writes }) { try await Task.sleep(for: .milliseconds(1)) }
    await writerBus.close()
    let cpu = serverCPU(raw) - cpuBefore
    let received = readers.reduce(writerBus.messagesReceived) { $0 + $1.0.messagesReceived } - receivedBefore
    let lags = (0..<writes).map { index -> Double in
        let last = readers.map { $0.1.seen.withLock { $0["k\(index)"]! } }.max()!
        return nanoseconds(last - written[index]) / 1_000
    }.sorted()
    return TrackingRun(
        messagesPerWrite: Double(received + writerBus.messagesPublished) / Double(writes),
        medianLag: lags[lags.count / 2], p99Lag: lags[lags.count * 99 / 100],
        cpuPer10k: cpu / Double(writes) * 10_000, timePerWrite: nanoseconds(elapsed) / 1_000 / Double(writes))
}
