import Synchronization

/// A read-through, write-through cache of two tiers: an in-process ``MemoryStore`` (L1)
/// in front of any ``KeyValueStore`` (L2): a folder, SQLite, Redis, or your own.
///
/// - **Read-through**: an L1 hit returns at once, as the Swift value it was stored as
///   (no decoding); on an L1 miss L2 is read, and an L2 hit is copied into L1.
/// - **TTL propagation**: the L1 copy expires when the L2 entry does, to the
///   millisecond, or sooner if `l1Expiry` is shorter, so an entry expired in L2 is never
///   served from L1.
/// - **Write-through**: `set` writes L2, then L1. If the L2 write fails, L1 drops the key
///   and the caller gets the error.
/// - `delete`, `expire`, `increment`, `setIfAbsent` and `clear(prefix:)` run on L2 (the
///   source of truth) and drop the L1 copies; prefix drops in L1 cost O(log n + matches).
/// - `getOrSet` and `memoize` compute once per key in the process across both tiers (a
///   value in L2 is not computed again), treat an entry that no longer decodes as a miss,
///   and still compute and return when L2 fails or hangs (see ``Configuration/l2Timeout``).
///   A computed value is written under a lease (see ``EntryLease``): it never replaces a
///   write, delete or clear that began after the computation's miss, in this process or in
///   another sharing L2.
/// - Concurrent calls in this process never leave L1 disagreeing with L2 once they
///   complete (but for a computed value L2 failed to take, kept in L1 for
///   ``Configuration/undeliveredL1Expiry`` at most); other instances' changes reach L1
///   through the invalidation bus, or when the L1 copy expires (the consistency guide,
///   `Docs/Consistency.md`, states every rule).
///
/// ```swift
/// let sqlite = try SQLiteStore(path: "./cache.sqlite")
/// let cache = TieredStore(l1: MemoryStore(maxEntries: 10_000), l2: sqlite,
///                         defaultExpiry: "10min", l1Expiry: "1min")
/// let report = try await cache.getOrSet("report", as: Report.self) { try await buildReport() }
/// print(cache.statistics.l1Hits)
/// ```
public final class TieredStore: KeyValueStore {
    /// The memory tier.
    public let l1: MemoryStore
    /// The durable or shared tier.
    public let l2: any KeyValueStore
    /// Lifetimes, failure handling and the observer.
    public let configuration: Configuration

    let tracker = WriteTracker()
    /// Wakes a `getOrSet` waiting for another instance's computation when its write is announced.
    let changeSignals = ChangeSignals()
    /// Whether anyone observes events: a hit reads the clock only then.
    @usableFromInline
    let observing: Bool
    let counters = TieredCounters()
    /// Tag invalidation instants known in this process.
    @usableFromInline
    let tagTable = TagTable()
    /// Its hybrid clock and envelope mark, kept here rather than in a registry that would
    /// hold the store weakly (see `StoreProcessState`).
    package let processState = StoreProcessState()
    /// Orders this store's tag invalidations against its writes.
    var hybridClock: HybridClock { processState.hybridClock }
    /// Whether the configured entry options refresh ahead (an L1 hit must then look at
    /// the entry's age).
    @usableFromInline
    let refreshesAheadByDefault: Bool
    /// L2's clock, kept so that an L1 hit asks it the time without going through L2.
    @usableFromInline
    let timeSource: any StrataClock
    /// The configured observer, and the logger's and metrics' (traits).
    let observers: [any TieredStoreObserver]
    /// Work that outlives the calls that started it (a late L2 write, a computation whose
    /// caller stopped waiting, an eager refresh): `close()` cancels and awaits it (a late
    /// L2 write is awaited, not cancelled).
    let background = OwnedTasks()
    /// Whether the configured invalidation source delivers other instances' changes now.
    let delivery: InvalidationDeliveryState

    /// A tiered store with the given lifetimes.
    ///
    /// ```swift
    /// let cache = TieredStore(l1: MemoryStore(maxEntries: 10_000), l2: folder, defaultExpiry: "10min")
    /// ```
    public convenience init(l1: MemoryStore, l2: any KeyValueStore, defaultExpiry: Expiry? = nil, l1Expiry: Expiry? = nil) {
        self.init(l1: l1, l2: l2, configuration: Configuration(defaultExpiry: defaultExpiry, l1Expiry: l1Expiry))
    }

    /// A tiered store made from a full ``Configuration``.
    public init(l1: MemoryStore, l2: any KeyValueStore, configuration: Configuration) {
        self.l1 = l1
        self.l2 = l2
        self.configuration = configuration
        self.backendName = "TieredStore(\(l1.backendName), \(l2.backendName))"
        self.timeSource = l2.clock
        self.refreshesAheadByDefault = configuration.entryOptions.refreshAhead != nil
        self.observers = configuration.observers(storeName: "TieredStore(\(l1.backendName), \(l2.backendName))")
        self.observing = !observers.isEmpty
        self.delivery = InvalidationDeliveryState(expectsSource: configuration.invalidationPublisher is any InvalidationSource)
    }

    /// `TieredStore(MemoryStore, <L2>)`, made once: every error and decoded read names it.
    public let backendName: String

    /// The configured default lifetime.
    public var defaultExpiry: Expiry? { configuration.defaultExpiry }

    /// The configured default entry options (``Configuration/entryOptions``), with
    /// ``Configuration/defaultExpiry`` as their lifetime when they set none.
    public var entryOptions: EntryOptions {
        var options = configuration.entryOptions
        if options.expires == nil { options.expires = configuration.defaultExpiry }
        return options
    }

    /// L2's clock: L2 holds the lifetimes that count.
    public var clock: any StrataClock { l2.clock }

    /// L1 over L2: every typed call, through any view or wrapper, takes this path.
    @inlinable  // built in place in a caller specialized for `TieredStore`
    public var pipeline: Pipeline { Pipeline(tiered: self, source: l2, memory: nil, keyPrefix: "") }

    /// What the store has done since it was made.
    public var statistics: Statistics {
        Statistics(
            l1Hits: counters.l1Hits.value,
            l2Hits: counters.l2Hits.load(ordering: .relaxed),
            misses: counters.misses.load(ordering: .relaxed),
            writes: counters.writes.load(ordering: .relaxed),
            computations: counters.computations.load(ordering: .relaxed),
            l1Evictions: l1.statistics.evictions,
            l2Errors: counters.l2Errors.load(ordering: .relaxed),
            undecodable: counters.undecodable.load(ordering: .relaxed),
            failSafes: counters.failSafes.load(ordering: .relaxed),
            softTimeouts: counters.softTimeouts.load(ordering: .relaxed),
            computeTimeouts: counters.computeTimeouts.load(ordering: .relaxed),
            refreshesAhead: counters.refreshesAhead.load(ordering: .relaxed),
            tagInvalidations: counters.tagInvalidations.load(ordering: .relaxed),
            staleWritesRefused: counters.staleWritesRefused.load(ordering: .relaxed))
    }

    // MARK: Reads

    /// The value at `key`: from L1 as the Swift value it was stored as (plain bytes, text
    /// and `Data` as their bytes), or through the read path (L2, decoded once, then kept in L1 as a Swift
    /// value).
    @inlinable  // the L1 hit specializes in the caller's module; the rest does not need to
    public func value<Value: Codable & Sendable>(forKey key: String, as type: Value.Type) async throws -> Value? {
        var now: Int64 = 0
        var absent = false
        if let value = try l1Hit(key, as: type, now: &now, absent: &absent) { return value }
        // L1 holds nothing for the key: the read path goes to L2 without a second look. A copy
        // the hit could not serve is looked at again, uncounted (W-TinyLFU counted the request).
        return try await pipeline.readValue(key, as: type, l1: absent ? .foundNothing : .again)
    }

    /// The unexpired entry for `key` as stored (an envelope included), with the expiry L2
    /// holds: L1, then L2, copied into L1.
    public func entry(forKey key: String) async throws -> StoredEntry? {
        let byteKey = ByteKey(key)
        let started = observing ? ContinuousClock.now : nil
        if let cached = try l1.lookUp(byteKey) {
            counters.l1Hits.increment()
            report(.hit, .l1, key, since: started)
            return StoredEntry(bytes: cached.bytes, expiresAt: cached.expiresAtTimestamp)
        }
        let snapshot = tracker.snapshot(byteKey)
        let entry: StoredEntry?
        do {
            entry = try await l2.entry(forKey: key)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            let failure = recordFailure(error, key: key, since: started)
            if configuration.l2ReadFailures.isMiss { return nil }
            throw failure
        }
        guard let entry else {
            countMiss(key, since: started)
            return nil
        }
        countL2Hit(key, since: started)
        fill(byteKey, entry, value: nil, snapshot: snapshot)
        return entry
    }

    /// Whether `key` holds a value a plain read returns (in L1, or else in L2).
    public func containsEntry(forKey key: String) async throws -> Bool {
        try await pipeline.contains(key)
    }

    /// The unexpired keys that start with `prefix`, from L2 (the source of truth).
    public func storedKeys(prefix: String) async throws -> [String] {
        try await l2.storedKeys(prefix: prefix)
    }

    /// L2's entries: L2 holds every entry the tiered store has written, so one batch read
    /// of it answers without an L2 round trip per key. L1 is neither read nor filled.
    public func storedEntries(prefix: String) async throws -> [(key: String, entry: StoredEntry)] {
        try await l2.storedEntries(prefix: prefix)
    }

    // MARK: Writes

    /// Writes `value` to L2, then keeps it in L1 as a Swift value.
    public func setValue<Value: Codable & Sendable>(_ value: Value, forKey key: String, expiresAt: Timestamp?) async throws {
        try await pipeline.write(key, value, expiresAt: expiresAt)
    }

    /// Writes `entry` to L2, then to L1.
    public func setEntry(_ entry: StoredEntry, forKey key: String) async throws {
        try await writeThrough(key, entry, value: nil, to: l2)
    }

    /// Writes to L2 if the key is absent there (the source of truth); drops the L1 copy.
    public func setEntryIfAbsent(_ entry: StoredEntry, forKey key: String) async throws -> Bool {
        try await changeInL2(key) { try await l2.setEntryIfAbsent(entry, forKey: key) }
    }

    /// Removes `key` from both tiers; `true` when L2 held an unexpired entry.
    @discardableResult
    public func removeEntry(forKey key: String) async throws -> Bool {
        try await changeInL2(key) { try await l2.removeEntry(forKey: key) }
    }

    /// Sets the expiry in L2 and drops the L1 copy.
    public func setExpiration(_ expiresAt: Timestamp?, forKey key: String) async throws -> Bool {
        try await changeInL2(key) { try await l2.setExpiration(expiresAt, forKey: key) }
    }

    /// Increments in L2 (atomic there) and drops the L1 copy.
    public func incrementEntry(forKey key: String, by delta: Int, expiresAt: Timestamp?) async throws -> Int {
        try await changeInL2(key) { try await l2.incrementEntry(forKey: key, by: delta, expiresAt: expiresAt) }
    }

    /// Removes every key that starts with `prefix` from L2, then from L1 (without a scan
    /// of L1), and announces it, whether or not L2 answered; returns how many unexpired
    /// entries L2 held.
    @discardableResult
    public func clear(prefix: String) async throws -> Int {
        defer { noteChange(under: prefix) }  // once cleared: flights of its keys are overtaken (C1, R1)
        let started = observing ? ContinuousClock.now : nil
        tracker.beginPrefixWrite()
        // Clear L1 whatever L2 did: after a failure L2 may be partly cleared.
        defer { tracker.finishPrefixWrite { try? l1.removeAll(prefix: prefix) } }
        do {
            let removed = try await l2.clear(prefix: prefix)
            report(.invalidate, .l2, prefix, since: started)
            await announce(prefix.isEmpty ? .everything : .prefix(prefix))
            return removed
        } catch {
            // Partly cleared, maybe, even when `closed`: a clear sends its removals in batches.
            await announce(prefix.isEmpty ? .everything : .prefix(prefix))
            throw l2Failure(error, key: prefix, since: started)
        }
    }

    /// Leases the key in L2 (the source of truth).
    public func leaseEntry(forKey key: String, lease: EntryLease, duration: Duration) async throws -> StoredEntry? {
        try await l2.leaseEntry(forKey: key, lease: lease, duration: duration)
    }

    /// Writes L2 while the lease holds, then drops the L1 copy (the typed path keeps it).
    public func setEntry(_ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool) async throws -> Bool {
        try await changeInL2(key) { try await l2.setEntry(entry, forKey: key, ifLeased: lease, keepingLease: keepingLease) }
    }

    /// Ends the lease in L2.
    public func releaseLease(_ lease: EntryLease, forKey key: String) async throws {
        try await l2.releaseLease(lease, forKey: key)
    }

    /// Sweeps both tiers; returns how many expired entries L2 removed.
    @discardableResult
    public func sweepExpired() async throws -> Int {
        try await l1.sweepExpired()
        return try await l2.sweepExpired()
    }

    /// Cancels the computations that outlived their callers (past a soft or hard timeout,
    /// or whose caller was cancelled) and the eager refreshes, and awaits them (a
    /// computation that ignores cancellation is awaited until it returns); awaits the L2
    /// writes past `l2Timeout` (not cancelled: a write already sent may land), and the work
    /// it must own taken on while it waits (started cancelled, and awaited, for three rounds
    /// at most; no eager refresh starts then); lets the
    /// invalidation publisher send what it still holds and closes it
    /// (``InvalidationPublisher/close()``; a `RedisInvalidationBus` refuses announcements
    /// after it, so give each store a bus of its own), then closes L2, then L1. A `getOrSet`
    /// waiting for another instance's computation is woken then, and finds L2 closed.
    ///
    /// ```swift
    /// try await cache.close()
    /// ```
    public func close() async throws {
        defer { changeSignals.signalAll() }
        await background.cancelAndWait()
        await configuration.invalidationPublisher?.close()
        try await l2.close()
        await l1.close()
    }
}

extension TieredStore: KeepsProcessState {}
