extension RedisInvalidationBus {
    /// How a ``RedisInvalidationBus`` checks that its subscription still delivers.
    ///
    /// A subscribed connection only receives, so a path that dies without a FIN or a
    /// reset (a dropped route, a peer frozen or powered off) would end nothing: the
    /// instance would keep serving L1 copies other instances changed. The event loop that
    /// reads the subscribed connection sends `PING` on it once nothing arrived for
    /// ``healthCheckInterval`` (a message or a reply) and takes the connection as lost when
    /// nothing arrives within ``healthCheckTimeout`` after it: it closes it, all of L1 is
    /// dropped at once (however busy Swift's cooperative threads are), and the subscriber
    /// reconnects.
    ///
    /// ```swift
    /// let bus = try RedisInvalidationBus(
    ///     redis: redis, configuration: .init(healthCheckInterval: .milliseconds(500), healthCheckTimeout: .seconds(1)))
    /// bus.configuration.detectionBound   // 1.5 seconds
    /// ```
    public struct Configuration: Sendable, Hashable {
        /// How long the subscribed connection may be silent (no message, no reply) before a
        /// `PING` is sent (1 s by default).
        public var healthCheckInterval: Duration
        /// How long a `PING`'s reply may take before the connection is taken as lost
        /// (2 s by default). A server busy for longer (a long script, say) counts as lost
        /// too: the instance then drops its L1 and resubscribes, which is safe.
        public var healthCheckTimeout: Duration
        /// Whether keys announced together (queued while the previous batch was being
        /// published: a burst of writes) go out as one message, up to 256 keys a message,
        /// rather than one message each (`true` by default). Each instance then reads one
        /// message per burst instead of one per key, and Redis copies one to every instance.
        /// Instances of Strata before this message existed ignore it: during a rolling
        /// deploy from such a version, set `false` until every instance runs this one.
        public var coalescesKeys: Bool
        /// Where the bus learns of changes to keys: announcements of Strata's own writes
        /// (`.publish`, the default), or Redis's tracking of every client's (`.tracking`).
        ///
        /// ```swift
        /// let configuration = RedisInvalidationBus.Configuration(mode: .tracking)
        /// ```
        public var mode: Mode
        /// On a Redis Cluster (Redis 7 or later), whether announcements go over sharded
        /// channels (`SPUBLISH`/`SSUBSCRIBE`: 16 channels spread over the shards, each key's
        /// announcements on one of them) instead of one channel every node relays to every
        /// other (`false` by default; ignored on one server). Every instance sharing a
        /// namespace must agree: they listen where they publish.
        ///
        /// ```swift
        /// let configuration = RedisInvalidationBus.Configuration(shardedPubSub: true)
        /// ```
        public var shardedPubSub: Bool

        /// A health check that sends `PING` after `healthCheckInterval` of silence and waits
        /// `healthCheckTimeout` for its reply.
        ///
        /// ```swift
        /// let configuration = RedisInvalidationBus.Configuration(healthCheckTimeout: .seconds(1))
        /// ```
        public init(
            healthCheckInterval: Duration = .seconds(1), healthCheckTimeout: Duration = .seconds(2), coalescesKeys: Bool = true,
            mode: Mode = .publish, shardedPubSub: Bool = false
        ) {
            self.healthCheckInterval = healthCheckInterval
            self.healthCheckTimeout = healthCheckTimeout
            self.coalescesKeys = coalescesKeys
            self.mode = mode
            self.shardedPubSub = shardedPubSub
        }

        /// The longest a subscription that died silently goes unnoticed:
        /// ``healthCheckInterval`` + ``healthCheckTimeout`` (3 s by default), plus the
        /// moment the event loop takes to wake. Whatever arrived last before the death, the
        /// next `PING` is sent at most an interval after it, and its timeout runs from then.
        ///
        /// ```swift
        /// RedisInvalidationBus.Configuration().detectionBound   // 3 seconds
        /// ```
        public var detectionBound: Duration { healthCheckInterval + healthCheckTimeout }
    }
}
