import Synchronization

/// The default leases: kept in this process, for a store that does not implement them.
///
/// They hold against the changes this process makes through the typed API (`set`,
/// `delete`, `increment`, `expire`, `setIfAbsent` and `clear()` break them, see
/// ``LocalLeases/breakLease(of:in:)``), and the Vapor and Hummingbird adapters' writes and
/// removals, not against `clear(prefix:)` (the requirement itself, which the typed API
/// calls directly), other raw calls or other processes sharing the backend, and the check
/// and the write are two steps. Every store of this package
/// implements leases in its backend instead (one script on Redis, one transaction on
/// SQLite, one locked rename on a folder, one locked table update in memory); a store of
/// your own that other processes share should too (the conformance suite checks it).
extension KeyValueStore {
    /// Keeps `lease` in this process, then reads the entry.
    public func leaseEntry(forKey key: String, lease: EntryLease, duration: Duration) async throws -> StoredEntry? {
        try await leaseEntryInProcess(forKey: key, lease: lease, duration: duration)
    }

    /// Writes when this process's lease for `key` is `lease`.
    public func setEntry(_ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool) async throws -> Bool {
        try await setEntryInProcess(entry, forKey: key, ifLeased: lease, keepingLease: keepingLease)
    }

    /// Forgets this process's lease for `key` if it is `lease`.
    public func releaseLease(_ lease: EntryLease, forKey key: String) async throws {
        releaseLeaseInProcess(lease, forKey: key)
    }

    // The defaults by name, for a wrapper that implements the requirements and keeps its
    // leases in this process all the same (a test's store of your own).

    /// ``leaseEntry(forKey:lease:duration:)`` as the default keeps it: in this process.
    package func leaseEntryInProcess(forKey key: String, lease: EntryLease, duration: Duration) async throws -> StoredEntry? {
        LocalLeases.shared.take(
            lease, store: ObjectIdentifier(self), key: key,
            until: clock.now().adding(milliseconds: duration.wholeMilliseconds(roundingUp: true)))
        return try await entry(forKey: key)
    }

    /// ``setEntry(_:forKey:ifLeased:keepingLease:)`` against the lease kept in this process.
    package func setEntryInProcess(_ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool) async throws
        -> Bool
    {
        guard LocalLeases.shared.holds(lease, store: ObjectIdentifier(self), key: key, now: clock.now(), ending: !keepingLease) else {
            return false
        }
        try await setEntry(entry, forKey: key)
        return true
    }

    /// ``releaseLease(_:forKey:)`` of the lease kept in this process.
    package func releaseLeaseInProcess(_ lease: EntryLease, forKey key: String) {
        _ = LocalLeases.shared.holds(lease, store: ObjectIdentifier(self), key: key, now: clock.now(), ending: true)
    }
}

/// The leases of the stores that keep them in this process.
package final class LocalLeases: Sendable {
    package static let shared = LocalLeases()

    private struct Held {
        var token: UInt64
        var until: Timestamp
    }

    private struct Key: Hashable {
        let store: ObjectIdentifier
        let key: ByteKey
    }

    private let held = Lock([Key: Held]())
    /// How many leases are held, so that breaking them costs one load while there are none.
    private let count = Atomic<Int>(0)

    func take(_ lease: EntryLease, store: ObjectIdentifier, key: String, until: Timestamp) {
        held.withLock { held in
            if held.updateValue(Held(token: lease.token, until: until), forKey: Key(store: store, key: ByteKey(key))) == nil {
                count.add(1, ordering: .relaxed)
            }
        }
    }

    /// Whether `lease` is the live lease of `key`; ends it when `ending`.
    func holds(_ lease: EntryLease, store: ObjectIdentifier, key: String, now: Timestamp, ending: Bool) -> Bool {
        held.withLock { held in
            let name = Key(store: store, key: ByteKey(key))
            guard let current = held[name], current.token == lease.token else { return false }
            if ending || current.until <= now {
                held[name] = nil
                count.subtract(1, ordering: .relaxed)
            }
            return current.until > now
        }
    }

    /// Breaks the lease of `key` (as `store`'s typed API names it) where its pipeline keeps
    /// the key, if this process holds one: the typed API's changes call it.
    package func breakLease(of key: String, in store: some KeyValueStore) {
        guard count.load(ordering: .relaxed) > 0 else { return }
        let pipeline = store.pipeline
        breakLease(store: ObjectIdentifier(pipeline.source), key: pipeline.keyPrefix + key)
    }

    /// Breaks the leases of every key under `prefix` (as `store`'s typed API names it).
    package func breakLeases(under prefix: String, in store: some KeyValueStore) {
        guard count.load(ordering: .relaxed) > 0 else { return }
        let pipeline = store.pipeline
        breakLeases(store: ObjectIdentifier(pipeline.source), prefix: pipeline.keyPrefix + prefix)
    }

    /// Breaks the lease of `key` in `store`, if this process holds one (a change of the key).
    package func breakLease(store: ObjectIdentifier, key: String) {
        guard count.load(ordering: .relaxed) > 0 else { return }
        held.withLock { held in
            if held.removeValue(forKey: Key(store: store, key: ByteKey(key))) != nil { count.subtract(1, ordering: .relaxed) }
        }
    }

    /// Breaks the leases of every key of `store` that starts with `prefix`.
    package func breakLeases(store: ObjectIdentifier, prefix: String) {
        guard count.load(ordering: .relaxed) > 0 else { return }
        held.withLock { held in
            for name in held.keys where name.store == store && KeyRules.key(name.key.string, hasPrefix: prefix) {
                held[name] = nil
                count.subtract(1, ordering: .relaxed)
            }
        }
    }
}
