extension RedisInvalidationBus {
    /// How a ``RedisInvalidationBus`` checks that its subscription still delivers.
    ///
    /// A subscribed connection only receives, so a path that dies without a FIN or a
    /// reset (a dropped route, a peer frozen or powered off) would end nothing: the
    /// instance would keep serving L1 copies other instances changed. The subscriber sends
    /// `PING` on its connection every ``healthCheckInterval`` (the next one once the
    /// previous reply arrived) and takes the connection as lost when a reply is later than
    /// ``healthCheckTimeout``: it closes it, drops all of L1, and reconnects.
    ///
    /// ```swift
    /// let bus = try RedisInvalidationBus(
    ///     redis: redis, configuration: .init(healthCheckInterval: .milliseconds(500), healthCheckTimeout: .seconds(1)))
    /// bus.configuration.detectionBound   // 1.5 seconds
    /// ```
    public struct Configuration: Sendable, Hashable {
        /// How long after a `PING` was sent the next one is (1 s by default); when the reply
        /// comes later than that, the next `PING` follows the reply at once.
        public var healthCheckInterval: Duration
        /// How long a `PING`'s reply may take before the connection is taken as lost
        /// (2 s by default). A server busy for longer (a long script, say) counts as lost
        /// too: the instance then drops its L1 and resubscribes, which is safe.
        public var healthCheckTimeout: Duration

        /// A health check that sends `PING` every `healthCheckInterval` and waits
        /// `healthCheckTimeout` for its reply.
        ///
        /// ```swift
        /// let configuration = RedisInvalidationBus.Configuration(healthCheckTimeout: .seconds(1))
        /// ```
        public init(healthCheckInterval: Duration = .seconds(1), healthCheckTimeout: Duration = .seconds(2)) {
            self.healthCheckInterval = healthCheckInterval
            self.healthCheckTimeout = healthCheckTimeout
        }

        /// The longest a subscription that died silently goes unnoticed:
        /// ``healthCheckInterval`` + ``healthCheckTimeout`` (3 s by default), plus the
        /// moment the subscriber's thread takes to wake. A `PING` sent before the death is
        /// answered (the next one is due at most an interval after it) or not (its timeout
        /// runs from before the death).
        ///
        /// ```swift
        /// RedisInvalidationBus.Configuration().detectionBound   // 3 seconds
        /// ```
        public var detectionBound: Duration { healthCheckInterval + healthCheckTimeout }
    }
}
