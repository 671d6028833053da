#if ServiceLifecycle
public import ServiceLifecycle
public import Strata

extension RedisInvalidationBus {
    /// The bus's subscription as a `Service` of its own, for a `ServiceGroup` (with the
    /// `ServiceLifecycle` trait): `run()` needs no argument and returns on graceful
    /// shutdown. A `TieredStore`'s own `run()` already includes it; use this form when
    /// the store's other background work runs elsewhere.
    ///
    /// ```swift
    /// let group = ServiceGroup(services: [bus.subscription(delivering: cache), server], logger: logger)
    /// ```
    public func subscription(delivering store: any InvalidationSubscriber) -> Subscription {
        Subscription(bus: self, store: store)
    }

    /// ``RedisInvalidationBus/run(delivering:)`` as a `Service`.
    public struct Subscription: Service {
        /// The bus that subscribes.
        public let bus: RedisInvalidationBus
        /// What other instances' invalidations are applied to.
        public let store: any InvalidationSubscriber

        /// Subscribes until cancelled or a graceful shutdown, then returns.
        public func run() async throws {
            try await bus.run(delivering: store)
        }
    }
}
#endif
