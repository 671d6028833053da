import Synchronization

/// What this process keeps about one store for the store's pipeline: the clock that orders
/// its tag invalidations against its writes, when this process last marked it (or found
/// it marked) as holding envelopes, and the tags whose records it read before a write.
///
/// Strata's stores (memory, folder, SQLite, Redis, tiered, prefixed) keep theirs as a
/// property (``KeepsProcessState``). Another store's is
/// found in a registry that holds the store weakly, so that a new store at a freed store's
/// address is not taken for it. A weak reference moves an object's reference count to a
/// side table for the rest of its life, which makes every retain and release of it slower
/// (the options path of a tiered hit retains its L2 once: 8% of that hit in a profile), so
/// Strata's stores are never held weakly.
package final class StoreProcessState: Sendable {
    package let hybridClock = HybridClock()
    let envelopesMarkedAt = Lock<ContinuousClock.Instant?>(nil)
    /// The tags whose record a store of one tier read before a write carrying them
    /// (``Pipeline/prepareTags(_:)``).
    let preparedTags = Lock(Set<ByteKey>())

    package init() {}

    /// The state of `store`: its own, or the registry's.
    static func of(_ store: some KeyValueStore) -> StoreProcessState {
        if let keeper = store as? any KeepsProcessState { return keeper.processState }
        return registry.withLock { registry in
            let id = ObjectIdentifier(store)
            if let known = registry[id], known.store === store { return known.state }
            if registry.count >= 1_024 { registry = registry.filter { $0.value.store != nil } }
            let state = StoreProcessState()
            registry[id] = Registered(store: store, state: state)
            return state
        }
    }

    private struct Registered: @unchecked Sendable {  // only read and written under `registry`'s lock
        weak var store: AnyObject?
        let state: StoreProcessState
    }
    private static let registry = Lock([ObjectIdentifier: Registered]())
}

/// A store that keeps its ``StoreProcessState`` itself (Strata's own stores).
package protocol KeepsProcessState: AnyObject {
    var processState: StoreProcessState { get }
}
