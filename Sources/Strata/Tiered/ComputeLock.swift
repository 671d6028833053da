/// A lock shared by every process using one L2, so that processes missing the same key
/// compute it once between them (`getOrSet` and `memoize` in a ``TieredStore``).
///
/// A lock is held for a lease, so a holder that dies does not block the others for long.
///
/// A lock kept by the very store it guards (`RedisComputeLock` on the tiered store's L2)
/// can also read the key and take the lock with the key's entry lease when it is missing,
/// take the lock with the lease, and release the lock with the leased write, each in one
/// step (``readOrAcquire(_:lease:leasing:for:in:)``, ``acquire(_:lease:leasing:for:in:)``
/// and ``setEntry(_:forKey:ifLeased:releasing:in:)``, where ``leasesWithLock(in:)`` is
/// `true`): a miss then waits for two round trips where the separate steps take five. By
/// default a lock does not, and the tiered store takes the steps one after the other. The
/// read with the lock is bounded by the tiered store's `l2Timeout`, as the read it replaces
/// (a lock it takes past the timeout is released when it answers, or, once the store's
/// `close()` has begun, ends with its lease); like
/// ``acquire(_:lease:)``, taking the lock with the lease is not; the write with the release
/// is, as any leased write (past it, the write goes on and is awaited later).
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

    /// Makes the lock for `key` last `lease` from now, if `token` still holds it: whether it
    /// did. A tiered store renews the lock it holds every third of its lease while it
    /// computes, so a computation longer than the lease keeps it (and other instances keep
    /// waiting for its value instead of taking the lock over), while a holder that dies
    /// loses it within one lease. `false` by default: a lock that cannot renew is held for
    /// its lease only.
    ///
    /// ```swift
    /// if try await lock.renew("report", token: token, lease: .seconds(10)) == false {
    ///     print("the lease ran out, and the lock may be another's")
    /// }
    /// ```
    func renew(_ key: String, token: String, lease: Duration) async throws -> Bool

    /// Whether this lock takes the key's entry lease with the lock, and releases the lock
    /// with the leased write, in `store` (one step each). `false` by default. When `true`, a
    /// tiered store's `getOrSet` that misses L1 also asks ``readOrAcquire(_:lease:leasing:for:in:)``
    /// for its first read of L2 (reading on its own when that answers `nil`).
    ///
    /// ```swift
    /// let oneStep = RedisComputeLock(redis: redis).leasesWithLock(in: redis)   // true on one server
    /// ```
    func leasesWithLock(in store: any KeyValueStore) -> Bool

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
    /// case .takenUnread(let token, let error)?: print("computing, but the key could not be read:", error)
    /// case .heldByAnother?: print("another instance computes it")
    /// case nil: print("two steps for this store")
    /// }
    /// ```
    func acquire(
        _ key: String, lease: Duration, leasing entryLease: EntryLease, for duration: Duration, in store: any KeyValueStore
    ) async throws -> LeasedLock?

    /// Reads `key` in `store` and, only when it is missing, takes the lock for `key` for at
    /// most `lease` and then `entryLease` on `key` for `duration`, as one step: what a read
    /// that misses and then ``acquire(_:lease:leasing:for:in:)`` do in two, with no change of
    /// the key possible between them. A key that is there takes nothing. `nil` when this
    /// lock cannot do it for `store` (the default): the caller reads, then locks.
    ///
    /// A tiered store's `getOrSet` that misses L1 starts with it, so a miss waits for two
    /// round trips (this one, then the write with the release) and an L2 hit for one.
    ///
    /// ```swift
    /// if case .taken(let token)? = try await lock.readOrAcquire(
    ///     "report", lease: .seconds(10), leasing: lease, for: .seconds(60), in: redis) {
    ///     // compute, then write under `lease` and release with `token`
    /// }
    /// ```
    func readOrAcquire(
        _ key: String, lease: Duration, leasing entryLease: EntryLease, for duration: Duration, in store: any KeyValueStore
    ) async throws -> LockedRead?
    /// Writes `entry` at `key` in `store` only while `entryLease` holds the key (ending the
    /// lease, as ``KeyValueStore/setEntry(_:forKey:ifLeased:keepingLease:)`` does) and
    /// releases the lock for `key` if `token` still holds it, whether the lease held or not,
    /// as one step. Whether it wrote; `nil` when this lock cannot do it for `store` (the
    /// default): the caller writes, then releases. A server that refuses the write throws,
    /// and the lock may still be held: the caller releases it.
    ///
    /// ```swift
    /// let wrote = try await lock.setEntry(entry, forKey: "report", ifLeased: lease, releasing: token, in: redis)
    /// ```
    func setEntry(
        _ entry: StoredEntry, forKey key: String, ifLeased entryLease: EntryLease, releasing token: String, in store: any KeyValueStore
    ) async throws -> Bool?

    /// ``setEntry(_:forKey:ifLeased:releasing:in:)``, publishing `announcement` in the same
    /// step when it wrote (see ``CarriedAnnouncement``): whether it wrote, and whether the
    /// announcement went out (`false`: nothing written, or the server refused it, and the
    /// caller publishes the announcement of a write itself). `nil` when this lock cannot
    /// write for `store`. The default writes with
    /// ``setEntry(_:forKey:ifLeased:releasing:in:)`` and carries nothing.
    ///
    /// ```swift
    /// let outcome = try await lock.setEntry(entry, forKey: "report", ifLeased: lease, releasing: token, in: redis, announcing: announcement)
    /// ```
    func setEntry(
        _ entry: StoredEntry, forKey key: String, ifLeased entryLease: EntryLease, releasing token: String, in store: any KeyValueStore,
        announcing announcement: CarriedAnnouncement
    ) async throws -> (written: Bool, announced: Bool)?
}

extension ComputeLock {
    /// ``setEntry(_:forKey:ifLeased:releasing:in:)``, the announcement not carried.
    public func setEntry(
        _ entry: StoredEntry, forKey key: String, ifLeased entryLease: EntryLease, releasing token: String, in store: any KeyValueStore,
        announcing announcement: CarriedAnnouncement
    ) async throws -> (written: Bool, announced: Bool)? {
        try await setEntry(entry, forKey: key, ifLeased: entryLease, releasing: token, in: store).map { ($0, false) }
    }

    /// `false`: this lock cannot renew; it is held for its lease only.
    public func renew(_ key: String, token: String, lease: Duration) async throws -> Bool {
        false
    }

    /// `false`: this lock takes the lock and the entry lease in two steps.
    public func leasesWithLock(in store: any KeyValueStore) -> Bool {
        false
    }

    /// `nil`: this lock takes the lock and the entry lease in two steps.
    public func acquire(
        _ key: String, lease: Duration, leasing entryLease: EntryLease, for duration: Duration, in store: any KeyValueStore
    ) async throws -> LeasedLock? {
        nil
    }

    /// `nil`: this lock reads, then takes the lock and the entry lease, in separate steps.
    public func readOrAcquire(
        _ key: String, lease: Duration, leasing entryLease: EntryLease, for duration: Duration, in store: any KeyValueStore
    ) async throws -> LockedRead? {
        nil
    }
    /// `nil`: this lock writes and releases in two steps.
    public func setEntry(
        _ entry: StoredEntry, forKey key: String, ifLeased entryLease: EntryLease, releasing token: String, in store: any KeyValueStore
    ) async throws -> Bool? {
        nil
    }
}
