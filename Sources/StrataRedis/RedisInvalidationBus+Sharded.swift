import Strata

/// Sharded pub/sub on a Redis Cluster (``RedisInvalidationBus/Configuration/shardedPubSub``):
/// announcements go over 16 channels spread over the slot space (`SPUBLISH`), and each
/// instance subscribes to each on the shard that serves it (`SSUBSCRIBE`), instead of one
/// channel that every node relays to every other over the cluster bus.
extension RedisInvalidationBus {
    /// Sharded channels.
    static let shardedChannelCount = 16

    /// Whether announcements go over sharded channels: asked for, and on a cluster.
    var isSharded: Bool { configuration.shardedPubSub && redis.cluster != nil }

    /// The `index`th sharded channel: the bus's channel and a hash tag that puts it in slot
    /// `index × 1,024 + 512`, so the 16 spread evenly over the slots, and so over the shards.
    func shardedChannel(_ index: Int) -> [UInt8] {
        let slot = index * (RedisClusterSlot.count / Self.shardedChannelCount) + RedisClusterSlot.count / Self.shardedChannelCount / 2
        return Array(channel.utf8) + [UInt8(ascii: "{")] + RedisClusterSlot.tag(for: slot) + [UInt8(ascii: "}")]
    }

    /// The sharded channel an announcement goes on: a key's is chosen by its slot's low bits
    /// (names that differ only at their end, `item:1`, `item:2`…, share their slot's high
    /// bits, and would crowd a few channels); anything else goes on the first. Order is kept
    /// per channel, so for each key; announcements only drop copies, so two of different
    /// keys arriving in another order change nothing.
    func shardedChannelIndex(of invalidation: Invalidation) -> Int {
        guard case .key(let key) = invalidation, TagInvalidations.tag(fromKey: key) == nil else { return 0 }
        return RedisClusterSlot.of(redis.redisKey(key)) % Self.shardedChannelCount
    }

    /// Publishes `queued` by `SPUBLISH`, each channel's announcements in order (coalesced,
    /// in pipelined batches routed to the channel's shard), the channels at once; the index
    /// of the first announcement of a batch that failed and is to be sent again, else `nil`
    /// (sending again from there repeats some that went out: an announcement twice only
    /// drops a copy twice).
    func publishSharded(_ queued: [Invalidation]) async -> Int? {
        var groups = [[Int]](repeating: [], count: Self.shardedChannelCount)
        for (index, invalidation) in queued.enumerated() { groups[shardedChannelIndex(of: invalidation)].append(index) }
        return await withTaskGroup(of: Int?.self) { group in
            for (channelIndex, indexes) in groups.enumerated() where !indexes.isEmpty {
                group.addTask { [self] in await publish(indexes.map { queued[$0] }, on: channelIndex).map { indexes[$0] } }
            }
            return await group.reduce(into: Int?.none) { first, failed in
                if let failed { first = min(first ?? failed, failed) }
            }
        }
    }

    /// Publishes `announcements` on one sharded channel, in order; the index of the first of
    /// a batch that failed and is to be sent again.
    private func publish(_ announcements: [Invalidation], on channelIndex: Int) async -> Int? {
        let name = shardedChannel(channelIndex)
        let messages = messages(announcements)
        for start in stride(from: 0, to: messages.count, by: Self.publishBatch) {
            let batch = messages[start..<min(start + Self.publishBatch, messages.count)]
            let first = batch.first!.first
            let count = (batch.endIndex < messages.count ? messages[batch.endIndex].first : announcements.count) - first
            do {
                _ = try await redis.send(batch.map { redis.command("SPUBLISH", name, $0.payload) }, routing: name) { _ in nil }
                publishedMessages.add(batch.count, ordering: .relaxed)
            } catch {
                let error =
                    error as? StrataError
                    ?? StrataError(code: .backendUnavailable, message: "SPUBLISH failed", backend: redis.backendName, underlying: error)
                publishFailed(error, messages: count)
                if error.code == .backendUnavailable || error.code == .timeout { return first }
                // Refused (an ACL without SPUBLISH, say): not sent again, as with PUBLISH.
            }
        }
        return nil
    }

    /// The shards' nodes and the sharded channels each serves, from the slot map.
    var shardedSubscriptions: [(endpoint: RedisEndpoint, channels: [[UInt8]])] {
        guard let cluster = redis.cluster else { return [] }
        var byNode: [(endpoint: RedisEndpoint, channels: [[UInt8]])] = []
        for index in 0..<Self.shardedChannelCount {
            let name = shardedChannel(index)
            guard let endpoint = cluster.owner(of: RedisClusterSlot.of(name))?.endpoint ?? cluster.primaries.first?.endpoint else {
                continue
            }
            if let existing = byNode.firstIndex(where: { $0.endpoint == endpoint }) {
                byNode[existing].channels.append(name)
            } else {
                byNode.append((endpoint, [name]))
            }
        }
        return byNode
    }
}
