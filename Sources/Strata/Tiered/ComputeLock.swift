/// A lock shared by every process using one L2, so that processes missing the same key
/// compute it once between them (`getOrSet` and `memoize` in a ``TieredStore``).
///
/// A lock is held for a lease, so a holder that dies does not block the others for long.
///
/// A lock that shares a server with the store it guards can also take the key's entry
/// lease with the lock, and release the lock with the leased write, each in one step
/// (``acquire(_:lease:leasing:for:in:)`` and ``setEntry(_:forKey:ifLeased:releasing:in:)``):
/// a miss then waits for two round trips fewer. Their defaults answer `nil` ("not for this
/// store"), and the tiered store takes the two steps one after the other.
///
/// ```swift
/// let cache = TieredStore(l1: MemoryStore(), l2: redis,
///                         configuration: .init(computeLock: RedisComputeLock(redis: redis)))
/// ```
public protocol ComputeLock: Sendable {
    /// Takes the lock for `key` for at most `lease`: a token when taken, `nil` when
    /// another holder has it.
    func acquire(_ key: String, lease: Duration) async throws -> String?

    /// Releases the lock for `key` if `token` still holds it (never another holder's).
    func release(_ key: String, token: String) async throws

    /// Takes the lock for `key` for at most `lease` and, once it is taken, `entryLease` on
    /// `key` in `store` for `duration`, reading the key under that lease, as one step (what
    /// ``acquire(_:lease:)`` and then ``KeyValueStore/leaseEntry(forKey:lease:duration:)``
    /// do in two). When another holder has the lock, no entry lease is taken. `nil` when
    /// this lock cannot do it for `store` (the default): the caller then takes the two
    /// steps itself.
    ///
    /// ```swift
    /// switch try await lock.acquire("report", lease: .seconds(10), leasing: .random(), for: .seconds(60), in: redis) {
    /// case .taken(let token, let entry)?: print("computing; the key was", entry == nil ? "missing" : "there")
    /// case .heldByAnother?: print("another instance computes it")
    /// case nil: print("two steps for this store")
    /// }
    /// ```
    func acquire(
        _ key: String, lease: Duration, leasing entryLease: EntryLease, for duration: Duration, in store: any KeyValueStore
    ) async throws -> LeasedLock?

    /// Writes `entry` at `key` in `store` only while `entryLease` holds the key (ending the
    /// lease, as ``KeyValueStore/setEntry(_:forKey:ifLeased:keepingLease:)`` does) and
    /// releases the lock for `key` if `token` still holds it, whether or not the write was
    /// refused, as one step. Whether it wrote; `nil` when this lock cannot do it for
    /// `store` (the default): the caller writes, then releases.
    ///
    /// ```swift
    /// let wrote = try await lock.setEntry(entry, forKey: "report", ifLeased: lease, releasing: token, in: redis)
    /// ```
    func setEntry(
        _ entry: StoredEntry, forKey key: String, ifLeased entryLease: EntryLease, releasing token: String, in store: any KeyValueStore
    ) async throws -> Bool?
}

extension ComputeLock {
    /// `nil`: this lock takes the lock and the entry lease in two steps.
    public func acquire(
        _ key: String, lease: Duration, leasing entryLease: EntryLease, for duration: Duration, in store: any KeyValueStore
    ) async throws -> LeasedLock? {
        nil
    }

    /// `nil`: this lock writes and releases in two steps.
    public func setEntry(
        _ entry: StoredEntry, forKey key: String, ifLeased entryLease: EntryLease, releasing token: String, in store: any KeyValueStore
    ) async throws -> Bool? {
        nil
    }
}
