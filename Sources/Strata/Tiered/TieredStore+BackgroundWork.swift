extension TieredStore: BackgroundWork, InvalidationSubscriber {
    /// Runs everything the store does in the background, until cancelled (or, with the
    /// `ServiceLifecycle` trait, a graceful shutdown): L1's sweeper, L2's when it has one
    /// (SQLite, memory), and the subscription of its invalidation publisher when that
    /// also receives (``InvalidationSource``, such as `RedisInvalidationBus`).
    ///
    /// ```swift
    /// let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: .init(invalidationPublisher: bus))
    /// let background = Task { try await cache.run() }
    /// ...
    /// background.cancel()
    /// ```
    public func run() async throws {
        let (l1, l2, source) = (l1, l2, configuration.invalidationPublisher as? any InvalidationSource)
        try await Background.untilShutdown { [self] in
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await l1.run() }
                if let l2 = l2 as? any BackgroundWork { group.addTask { try await l2.run() } }
                if let source { group.addTask { try await source.run(delivering: self) } }
            }
        }
    }
}
