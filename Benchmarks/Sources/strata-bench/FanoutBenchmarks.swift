import CHiredisBaseline
import Foundation
import Strata
import StrataRedis
import Synchronization

/// The invalidation bus's fan-out, for Docs/Scaling.md: one publisher, 1 to 64 subscribed
/// connections on one private redis-server. Each row publishes announcements the size of
/// the bus's key messages (30 bytes) in pipelined batches of 128, as the bus does, and
/// times them until every subscriber has read every one: messages delivered per second,
/// and the server's CPU (`INFO cpu`) per 10,000 announcements. Raw hiredis subscribers
/// (each on a thread of its own) measure Redis's side; one row with Strata's own buses
/// (subscriptions on the event loop, delivered to a store) measures the whole path.
nonisolated func fanoutBenchmarks(quick: Bool) async throws {
    heading("Invalidation fan-out: one publisher, N subscribed connections (Docs/Scaling.md)")
    let redis = try await LocalRedis()
    defer { redis.stop() }
    let report = Report.shared
    let announcements = quick ? 2_000 : 20_000
    for subscribers in quick ? [1, 4] : [1, 4, 16, 64] {
        let (elapsed, cpu) = try await rawFanout(port: redis.port, subscribers: subscribers, messages: announcements)
        let delivered = Double(subscribers * announcements) / elapsed
        report.record(
            "fanout", "deliveries per second, \(subscribers) raw subscribers", delivered, unit: "msg/s",
            x: Double(subscribers), series: "raw hiredis subscribers")
        report.record(
            "fanout", "Redis CPU per 10,000 announcements, \(subscribers) raw subscribers", cpu / Double(announcements) * 10_000,
            unit: "ms", x: Double(subscribers), series: "Redis CPU")
    }
    let strataSubscribers = quick ? 4 : 16
    for coalescesKeys in [false, true] {
        let (elapsed, cpu) = try await strataFanout(
            redis: redis, subscribers: strataSubscribers, messages: announcements, coalescesKeys: coalescesKeys)
        let kind = coalescesKeys ? "keys coalesced" : "one key a message"
        report.record(
            "fanout", "keys delivered per second, \(strataSubscribers) Strata buses in one process, \(kind)",
            Double(strataSubscribers * announcements) / elapsed, unit: "keys/s", x: Double(strataSubscribers),
            series: "Strata buses, \(kind)")
        report.record(
            "fanout", "Redis CPU per 10,000 announcements, \(strataSubscribers) Strata buses, \(kind)",
            cpu / Double(announcements) * 10_000, unit: "ms", x: Double(strataSubscribers), series: "Redis CPU (Strata, \(kind))")
    }
}

/// Seconds until `subscribers` raw connections have each read `messages` announcements,
/// and the server's CPU milliseconds meanwhile.
private func rawFanout(port: Int, subscribers: Int, messages: Int) async throws -> (Double, Double) {
    let channel = "fanout:\(subscribers)"
    let done = DispatchGroup()
    for _ in 0..<subscribers {
        let subscriber = RawRedis(port: port)
        subscriber.command(["SUBSCRIBE", channel])  // answered once subscribed
        done.enter()
        Thread.detachNewThread {
            for _ in 0..<messages {
                var reply: UnsafeMutableRawPointer?
                guard redisGetReply(subscriber.context, &reply) == REDIS_OK else { break }
                freeReplyObject(reply)
            }
            withExtendedLifetime(subscriber) {}
            done.leave()
        }
    }
    let publisher = RawRedis(port: port)
    let payload = String(repeating: "k", count: 30)
    let cpuBefore = serverCPU(publisher)
    let started = ContinuousClock.now
    publisher.pipeline((0..<messages).map { _ in ["PUBLISH", channel, payload] })
    await withCheckedContinuation { continuation in
        done.notify(queue: .global()) { continuation.resume() }
    }
    let elapsed = nanoseconds(ContinuousClock.now - started) / 1e9
    return (elapsed, serverCPU(publisher) - cpuBefore)
}

/// The same through Strata: `subscribers` buses (each its own store and subscription)
/// and one publishing bus.
private func strataFanout(
    redis: LocalRedis, subscribers: Int, messages: Int, coalescesKeys: Bool
) async throws -> (Double, Double) {
    final class Counter: InvalidationSubscriber {
        let keys = Atomic<Int>(0)
        func applyRemoteInvalidation(_ invalidation: Invalidation) {
            if case .key = invalidation { keys.add(1, ordering: .relaxed) }
        }
        func invalidationDeliveryChanged(isLive: Bool) {}
    }
    var buses: [(RedisInvalidationBus, Counter, Task<Void, any Error>)] = []
    for _ in 0..<subscribers {
        let bus = RedisInvalidationBus(redis: try RedisStore(url: redis.url))
        let counter = Counter()
        buses.append((bus, counter, Task { try await bus.run(delivering: counter) }))
    }
    defer { buses.forEach { $0.2.cancel() } }
    while !buses.allSatisfy({ $0.0.isSubscribed }) { try await Task.sleep(for: .milliseconds(10)) }
    let publisher = try RedisInvalidationBus(
        redis: try RedisStore(url: redis.url), configuration: .init(coalescesKeys: coalescesKeys))
    let raw = RawRedis(port: redis.port)
    let cpuBefore = serverCPU(raw)
    let started = ContinuousClock.now
    for index in 0..<messages { await publisher.publish(.key("user:\(index % 100_000)")) }
    while !buses.allSatisfy({ $0.1.keys.load(ordering: .relaxed) >= messages }) { try await Task.sleep(for: .milliseconds(1)) }
    let elapsed = nanoseconds(ContinuousClock.now - started) / 1e9
    await publisher.close()
    return (elapsed, serverCPU(raw) - cpuBefore)
}

/// The server's CPU time so far (user and system), in milliseconds.
func serverCPU(_ connection: RawRedis) -> Double {
    guard let reply = connection.run(["INFO", "cpu"]) else { return 0 }
    defer { freeReplyObject(reply) }
    let text = String(cString: reply.pointee.str)
    var total = 0.0
    for line in text.split(whereSeparator: \.isNewline) {
        for field in ["used_cpu_sys:", "used_cpu_user:"] where line.hasPrefix(field) {
            total += Double(line.dropFirst(field.count)) ?? 0
        }
    }
    return total * 1_000
}
