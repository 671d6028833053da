import Foundation
import Strata
import StrataTesting
import Testing

@testable import StrataRedis

@Suite("RedisInvalidationBus: sharded pub/sub on a cluster")
struct BusShardedTests {
    @Test(
        "with shardedPubSub, announcements go over 16 channels on every shard (SPUBLISH/SSUBSCRIBE), and keys, a tag and a prefix reach the other instance",
        .timeLimit(.minutes(2)))
    func sharded() async throws {
        let cluster = try await RedisTestCluster.shared
        let namespace = "shard:\(UUID().uuidString.prefix(8)):"
        func instance() async throws -> (TieredStore, RedisInvalidationBus, Task<Void, any Error>) {
            var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: cluster.seeds[0]))
            configuration.clusterSeeds = try cluster.seeds.map { try RedisEndpoint(url: $0) }
            configuration.keyNamespace = namespace
            let redis = try await makeStoreOffPool(configuration)
            let bus = try RedisInvalidationBus(redis: redis, configuration: .init(shardedPubSub: true))
            let store = TieredStore(
                l1: MemoryStore(maxEntries: 1_000), l2: redis, configuration: .init(l1Expiry: "10min", invalidationPublisher: bus))
            return (store, bus, Task { try await bus.run(delivering: store) })
        }
        let (writer, writerBus, writerRun) = try await instance()
        let (reader, readerBus, readerRun) = try await instance()
        defer { [writerRun, readerRun].forEach { $0.cancel() } }
        let subscribed = try await eventually(within: .seconds(20)) { writerBus.isSubscribed && readerBus.isSubscribed }
        try #require(subscribed)

        let keys = (0..<40).map { "k\($0)" }
        for key in keys { try await writer.set(key, "old") }
        for key in keys { #expect(try await reader.get(key, as: String.self) == "old") }
        for key in keys { try await writer.set(key, "new") }
        let seen = try await eventually(within: .seconds(10)) {
            for key in keys where try await reader.get(key, as: String.self) != "new" { return false }
            return true
        }
        #expect(seen, "every key's change reached the other instance")
        #expect(Set(keys.map { writerBus.shardedChannelIndex(of: .key($0)) }).count > 8, "the keys spread over the channels")

        try await writer.set("tagged", "1", options: .init(expires: "10min", tags: ["t"]))
        #expect(try await reader.get("tagged", as: String.self) == "1")
        try await writer.invalidate(tags: ["t"])
        let tagged = try await eventually(within: .seconds(5)) { (try? await reader.get("tagged", as: String.self)) == nil }
        #expect(tagged, "a tag's invalidation went over the first sharded channel")

        try await writer.clear(prefix: "k1")  // k1, k10…k19: their copies in the reader's L1 go
        let cleared = try await eventually(within: .seconds(5)) { (try? await reader.get("k12", as: String.self)) == nil }
        #expect(cleared, "a prefix's invalidation reached the other instance")
        #expect(try await reader.get("k2", as: String.self) == "new")

        // Each shard serves its share of the channels, with both instances subscribed.
        var shardsWithChannels = 0
        for primary in try await cluster.primaries() {
            let channels = try await primary.cli("PUBSUB", "SHARDCHANNELS", "strata:invalidations:\(namespace)*")
            if !channels.isEmpty { shardsWithChannels += 1 }
        }
        #expect(shardsWithChannels == 3, "sharded channels on each of the 3 shards")
        for server in cluster.servers {
            let classic = try await server.cli("PUBSUB", "NUMSUB", "strata:invalidations:\(namespace)")
            #expect(classic.hasSuffix("\n0\n"), "nobody on the cluster-wide channel on \(server.port): \(classic)")
        }
        #expect(writerBus.messagesPublished > 0 && writerBus.failedPublishes == 0)
        try await writer.close()
        try await reader.close()
    }

    @Test(
        "a sharded channel's slot moved to another shard: the server ends the subscription (sunsubscribe), L1 is dropped, and the instance subscribes again where the channel now is",
        .timeLimit(.minutes(2)))
    func channelSlotMoved() async throws {
        let cluster = try await RedisTestCluster()
        let redis = try await makeStoreOffPool(try cluster.configuration())
        let bus = try RedisInvalidationBus(redis: redis, configuration: .init(shardedPubSub: true))
        let l1 = MemoryStore(maxEntries: 100)
        let store = TieredStore(l1: l1, l2: redis, configuration: .init(l1Expiry: "10min", invalidationPublisher: bus))
        let run = Task { try await bus.run(delivering: store) }
        defer { run.cancel() }
        let subscribed = try await eventually(within: .seconds(20)) { bus.isSubscribed }
        try #require(subscribed)
        try await store.set("held", "1")
        _ = try await store.get("held", as: String.self)
        #expect(try await l1.get("held", as: String.self) == "1")

        let slot = RedisClusterSlot.of(bus.shardedChannel(0))
        let source = try cluster.owner(of: slot, in: redis)
        let target = try #require(try await cluster.primaries().first { $0 !== source })
        try await cluster.beginMigration(of: slot, from: source, to: target)
        try await cluster.finishMigration(of: slot, from: source, to: target)
        let dropped = try await eventually(within: .seconds(10)) { try await l1.get("held", as: String.self) == nil }
        #expect(dropped, "L1 dropped when the server ended the channel's subscription")
        let again = try await eventually(within: .seconds(20)) {
            guard bus.isSubscribed else { return false }
            let channels = try await target.cli("PUBSUB", "SHARDCHANNELS")
            return channels.contains(String(decoding: bus.shardedChannel(0), as: UTF8.self))
        }
        #expect(again, "subscribed again, on the channel's new shard")
        try await store.close()
    }
}
