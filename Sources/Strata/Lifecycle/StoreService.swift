#if ServiceLifecycle
public import ServiceLifecycle

/// A store in a `ServiceGroup`: runs its background work (sweepers, the invalidation
/// subscription of a tiered store) and closes it when the group shuts down, after the
/// services that use it have stopped (put it before them in the group's list: a group
/// shuts its services down in reverse order).
///
/// ```swift
/// let cache = TieredStore(l1: MemoryStore(maxEntries: 10_000), l2: try SQLiteStore(path: "cache.sqlite"))
/// let group = ServiceGroup(services: [StoreService(cache), server], logger: logger)
/// try await group.run()   // on SIGTERM: the server drains, then the store closes
/// ```
public struct StoreService: Service {
    /// The store run and closed.
    public let store: any KeyValueStore

    /// A service for `store`.
    public init(_ store: any KeyValueStore) {
        self.store = store
    }

    /// Runs the store's background work until graceful shutdown or cancellation, then
    /// closes the store (also when the background work failed, whose error is rethrown).
    public func run() async throws {
        var failure: (any Error)?
        do {
            if let work = store as? any BackgroundWork {
                try await work.run()
            } else {
                try? await gracefulShutdown()  // nothing to do until then; cancellation ends it too
            }
        } catch {
            failure = error
        }
        try await store.close()
        if let failure { throw failure }
    }
}

extension MemoryStore: Service {}
extension FolderStore: Service {}
extension TieredStore: Service {}
#endif
