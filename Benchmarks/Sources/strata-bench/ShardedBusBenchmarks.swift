import Foundation
import Strata
import StrataRedis
import Synchronization

/// The bus on a cluster, classic `PUBLISH` beside sharded pub/sub (`shardedPubSub`): one
/// bus announces keys (coalescing off, one message a key, as writes spread in time send
/// them), four others read; the whole cluster's CPU per 10,000 announcements and the
/// busiest node's, and deliveries per second.
func shardedBusFigures(nodes: [LocalRedis], quick: Bool) async throws {
    let announcements = quick ? 2_000 : 10_000
    for sharded in [false, true] {
        final class Counter: InvalidationSubscriber {
            let keys = Atomic<Int>(0)
            func applyRemoteInvalidation(_ invalidation: Invalidation) {
                if case .key = invalidation { keys.add(1, ordering: .relaxed) }
            }
            func invalidationDeliveryChanged(isLive: Bool) {}
        }
        let namespace = sharded ? "sharded:" : "classic:"
        func bus(coalescing: Bool) throws -> RedisInvalidationBus {
            var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: nodes[0].url))
            configuration.clusterSeeds = try nodes.map { try RedisEndpoint(url: $0.url) }
            configuration.keyNamespace = namespace
            return try RedisInvalidationBus(
                redis: try RedisStore(configuration: configuration), configuration: .init(coalescesKeys: coalescing, shardedPubSub: sharded)
            )
        }
        var readers: [(RedisInvalidationBus, Counter, Task<Void, any Error>)] = []
        for _ in 0..<4 {
            let reader = try bus(coalescing: true)
            let counter = Counter()
            readers.append((reader, counter, Task { try await reader.run(delivering: counter) }))
        }
        defer { readers.forEach { $0.2.cancel() } }
        while !readers.allSatisfy({ $0.0.isSubscribed }) { try await Task.sleep(for: .milliseconds(10)) }
        let publisher = try bus(coalescing: false)
        let connections = nodes.map { RawRedis(port: $0.port) }
        let before = connections.map(serverCPU)
        let started = ContinuousClock.now
        for index in 0..<announcements { await publisher.publish(.key("user:\(index)")) }
        while !readers.allSatisfy({ $0.1.keys.load(ordering: .relaxed) >= announcements }) { try await Task.sleep(for: .milliseconds(1)) }
        let elapsed = nanoseconds(ContinuousClock.now - started) / 1e9
        await publisher.close()
        let cpu = zip(connections.map(serverCPU), before).map { $0 - $1 }
        let name = sharded ? "sharded pub/sub" : "classic PUBLISH"
        let per10k = 10_000 / Double(announcements)
        Report.shared.record(
            "cluster", "bus on a cluster, \(name): cluster CPU per 10,000 announcements, 4 readers",
            cpu.reduce(0, +) * per10k, unit: "ms", series: name)
        Report.shared.record(
            "cluster", "bus on a cluster, \(name): busiest node's CPU per 10,000 announcements",
            cpu.max()! * per10k, unit: "ms", series: name)
        Report.shared.record(
            "cluster", "bus on a cluster, \(name): deliveries per second, 4 readers",
            Double(4 * announcements) / elapsed, unit: "msg/s", series: name)
    }
}
