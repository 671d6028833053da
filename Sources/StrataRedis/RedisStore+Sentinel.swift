import Strata

/// A store behind Sentinel (``RedisStore/Configuration/sentinel``): its settings checked,
/// and its pool made to follow the primary (``RedisSentinelMonitor``).
extension RedisStore {
    /// Refuses a Sentinel configuration it cannot use, and gives the sentinels the store's TLS.
    static func checkSentinel(_ configuration: inout Configuration, backend: String) throws {
        guard let sentinel = configuration.sentinel, configuration.clusterSeeds.isEmpty, !sentinel.sentinels.isEmpty,
            !sentinel.primaryName.isEmpty
        else {
            throw StrataError(
                code: .invalidConfiguration,
                message: "Sentinel needs at least one sentinel and the primary's name, and no cluster seeds", backend: backend)
        }
        // One set of TLS settings for the sentinels and the servers: a sentinel's own (a
        // rediss:// one, say) that is not the store's would be dropped, and its password
        // then sent in clear.
        let tls = configuration.tls
        if let other = sentinel.sentinels.first(where: { $0.tls != nil && $0.tls != tls }) {
            throw StrataError(
                code: .invalidConfiguration,
                message: "the sentinel \(other.address.shown) has TLS settings of its own: set them as the configuration's tls, "
                    + "which covers the sentinels and the servers", backend: backend)
        }
        configuration.sentinel?.sentinels = sentinel.sentinels.map { sentinel in
            var sentinel = sentinel
            sentinel.tls = tls
            return sentinel
        }
    }

    /// Finds the primary (waiting: the initializer's), and makes the pooled lanes to it,
    /// which move with it.
    static func sentinelPool(
        _ sentinel: RedisSentinel, configuration: Configuration, backend: String, tls: RedisTLSContext?, limits: RedisLane.Limits,
        ask: @escaping @Sendable (RedisEndpoint, [[[UInt8]]]) throws -> [RedisReply],
        describeConnectFailure: @escaping @Sendable (RedisEndpoint, any Error) -> any Error,
        onChange: (@Sendable (RedisLane.ConnectionChange) -> Void)?
    ) throws -> (RedisSentinelMonitor, [RedisLane]) {
        let monitor = try RedisSentinelMonitor(
            sentinel: sentinel, primary: configuration.endpoint, backend: backend, ask: ask,
            makeLane: { endpoint, onLoss, onPush in
                // A sentinel's subscription, or a replica being promoted: checked like the bus's.
                RedisLane(
                    endpoint: endpoint, tls: endpoint.tls == nil ? nil : tls,
                    limits: RedisLane.Limits(
                        commandTimeout: limits.commandTimeout, connectTimeout: limits.connectTimeout,
                        healthCheckInterval: .seconds(1), healthCheckTimeout: limits.commandTimeout),
                    onChange: onLoss, onPush: onPush)
            })
        let lanes = (0..<configuration.poolSize).map { _ in
            RedisLane(
                target: monitor.target, tls: tls, limits: limits,
                describeConnectFailure: { describeConnectFailure(monitor.target.endpoint, $0) },
                onChange: { change in
                    if case .lost(let error) = change { monitor.suspect(error) }  // the primary may have moved
                    onChange?(change)
                })
        }
        _ = monitor.follow { primary in
            lanes.forEach { $0.abandonConnection(RedisSentinelMonitor.Moved(primary: primary)) }
        }
        monitor.startFollowing()
        return (monitor, lanes)
    }
}
