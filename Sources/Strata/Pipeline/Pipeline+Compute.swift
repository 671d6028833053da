import Synchronization

/// The compute path: `getOrSet` with or without options, `memoize`, eager refresh and
/// fail-safe all run here.
///
/// 1. Read (L1, then the store): a fresh value is returned (and may start an eager refresh).
///    With a compute lock that leases with the lock in the store (`leasesWithLock(in:)`:
///    `RedisComputeLock` on the tiered store's own L2, on one server), only L1 is read here:
///    the flight's leader reads the store in step 3, with the lock when the lock can
///    (`readOrAcquire`), taking the lock and the lease (step 4) there when the key is missing.
/// 2. Single flight: one computation per key in this process; the others wait for it.
/// 3. Across instances, the compute lock (when configured): take it, or wait for its holder's value.
/// 4. The lease: the key is read again under a lease. That read is the computation's miss.
/// 5. The computation runs, inline or, with timeouts, in a task of its own.
/// 6. Its value is written only while the lease holds, so it never replaces a write,
///    removal or clear that began after the miss, here or in another process; a tag
///    invalidated after the miss makes it unreadable (its envelope records the start).
/// 7. On failure or timeout, the kept value (grace) is served and re-armed under the lease.
extension Pipeline {
    /// The value at `key`, or the computation's, stored with `options` (merged and checked).
    /// `l1`: what the caller has seen of L1 for this call (its hit's look).
    func getOrSet<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, options: EntryOptions, computation: Computation<Value>, l1: L1Look
    ) async throws -> Value {
        let key = keyPrefix + key
        if let tiered, let lock = tiered.configuration.computeLock, lock.leasesWithLock(in: source) {
            // L1, then L2 read with the lock in one step, by the flight's leader: a miss
            // takes the lock and the lease as it reads (see `awaitComputeLock`).
            var kept: StoredValue<Value>?
            if l1 != .foundNothing {
                switch try await tiered.l1Read(ByteKey(key), as: type, for: .compute, look: l1) {
                case .fresh(let found):
                    if computation.mayOutliveCall { refreshAheadIfDue(key, found: found, options: options, computation: computation) }
                    return found.value
                case .stale(let found): kept = found
                case .missing: break
                }
            }
            return try await computeMissing(
                key, as: type, options: options, computation: computation, found: kept, sourceUnavailable: false, storeRead: false)
        }
        var unavailable = false
        let found = try await readForComputation(key, as: type, sourceUnavailable: &unavailable, l1: l1)
        if let found, found.isFresh(nowMilliseconds: clock.now().millisecondsSince1970) {
            if computation.mayOutliveCall { refreshAheadIfDue(key, found: found, options: options, computation: computation) }
            return found.value
        }
        return try await computeMissing(
            key, as: type, options: options, computation: computation, found: found, sourceUnavailable: unavailable)
    }

    /// Steps 2 to 7 for `key` (prefix applied), after a read that found no fresh value:
    /// `found` is what it kept (in grace), `sourceUnavailable` whether the source passed
    /// `l2Timeout`. With `storeRead` false only L1 was read: the flight's leader reads the
    /// source with the compute lock (`awaitComputeLock`).
    func computeMissing<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, options: EntryOptions, computation: Computation<Value>, found: StoredValue<Value>?,
        sourceUnavailable: Bool, storeRead: Bool = true
    ) async throws -> Value {
        var storeRead = storeRead
        var unavailable = sourceUnavailable
        var kept = found
        var sourceIsUnavailable = unavailable
        // A caller that waited for another's flight takes its answer only when it still holds:
        // a value that flight found in the store, or computed but could not store because the
        // key changed, may predate a change this caller must see. It then looks again.
        var attempt = 0
        while true {
            var led = false
            var overtaken = false
            let shared: Shared<Value>?
            do {
                shared = try await SingleFlight.shared.run(scope: flightScope, key: key, overtaken: &overtaken) {
                    led = true
                    return try await computeOnce(
                        key, as: type, options: options, computation: computation, found: kept, sourceUnavailable: sourceIsUnavailable,
                        storeRead: storeRead)
                }
            } catch let error as StrataError where error.code == .notComputed && !led {
                // The flight was a bulk computation's that did not return this key: the
                // caller's own computation may (it looks again, as after a refused value).
                shared = nil
            } catch is SingleFlight.OvertakenFailure {
                // The flight had nothing for the caller (it failed, its leader was cancelled),
                // and the caller joined it after a change of the key: it looks again (the change
                // may have set a value), as after a refused value.
                shared = nil
            }
            if let shared, led { return shared.value }
            if let shared, !overtaken, await holdsForWaiter(shared) { return shared.value }
            if attempt >= 8 {
                // Changes keep racing this caller's lookups: rather than take a value that
                // may predate one, it computes under a lease of its own, outside the flight.
                return try await computeOnce(
                    key, as: type, options: options, computation: computation, found: kept, sourceUnavailable: sourceIsUnavailable
                ).value
            }
            attempt += 1
            unavailable = false
            storeRead = true
            kept = try await readForComputation(key, as: type, sourceUnavailable: &unavailable, l1: .again)  // the call looked before
            if let kept, kept.isFresh(nowMilliseconds: clock.now().millisecondsSince1970) { return kept.value }
            sourceIsUnavailable = unavailable
        }
    }

    /// What a flight's leader found or computed, and whether callers that waited may take it.
    struct Shared<Value: Sendable>: Sendable {
        let value: Value
        /// The value was stored (nothing changed the key since the miss), or the store could
        /// not be reached (waiters would meet the same outage), or it is the fallback of a
        /// failed computation whose re-arm was not refused. `false`: found in the store, or
        /// refused because the key changed.
        let holdsForWaiters: Bool
        /// The value's envelope (its tags and the start they are judged from), checked again
        /// for each caller that waited: a tag invalidated during the flight concerns them.
        var envelope: EntryEnvelope? = nil
        /// A tiered store's write tracker right after the flight's write (or at its lease):
        /// a change of the key since then, a delete after the write say, sends the callers
        /// that waited to look again.
        var since: WriteTracker.ReadSnapshot? = nil
        /// A tiered store's tag epoch at the flight's lease, as its L1 copy is stamped: an
        /// invalidation known here since then sends the callers that waited to look again.
        var tagEpoch: Int? = nil
    }

    /// Whether a caller that waited for a flight may take its value: the flight says it
    /// holds, nothing changed the key in this process since (a tiered store's write tracker:
    /// a change after the flight's write, before the flight ended, would be hidden), and the
    /// value's tags are still valid (an invalidation during the flight, T1: on a tiered store,
    /// by the tag table alone, with no L2 call; a tag it does not know sends the caller to
    /// look again). Otherwise the
    /// caller looks again (C1, R1), and finds the flight's L1 copy when it still holds. A
    /// store of one tier keeps no tracker: a change through its typed API is noted to the
    /// key's flight instead (`SingleFlight.noteChange`), and a caller that joined after
    /// one is told so by the flight (`overtaken`) and looks again too.
    func holdsForWaiter<Value: Sendable>(_ shared: Shared<Value>) async -> Bool {
        guard shared.holdsForWaiters else { return false }
        if let tiered {
            guard let since = shared.since, tiered.tracker.isUnchanged(since: since) else { return false }
            guard let envelope = shared.envelope, !envelope.tags.isEmpty,
                tiered.tagTable.epoch.load(ordering: .acquiring) != shared.tagEpoch
            else { return true }
            return tiered.tagsAreKnownValid(envelope)  // the table changed: each tag by what it knows
        }
        return (try? await tagsAreValid(shared.envelope)) == true
    }

    /// `getOrSet(_:as:options:compute:)`: `options` merged with the store's and checked.
    /// `l1`: what the caller has seen of L1 (see ``l1LookOfCachedValue(of:options:)``).
    @usableFromInline
    func getOrSet<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, options: EntryOptions, l1: L1Look = .first,
        compute: @escaping @Sendable (ComputeContext<Value>) async throws -> Value
    ) async throws -> Value {
        let merged = options.overriding(defaultOptions)
        try merged.validate(key: key, backend: backendName)
        return try await getOrSet(key, as: type, options: merged, computation: .detachable(compute), l1: l1)
    }

    /// What `store`'s ``KeyValueStore/cachedValue(forKey:as:options:)`` saw of L1 before a
    /// `getOrSet` with `options` took the compute path. None when an eager refresh may be due
    /// (the call's or the store's): the default and a ``TieredStore``'s decline then without
    /// a look (`.first`; a store's own that looked anyway is counted twice). Otherwise `.again` for a store known to have looked (a ``TieredStore``, a
    /// view of one: ``LooksAtL1ForCachedValue``), and `.afterCachedValue` for any other store
    /// over a tiered pipeline, whose `cachedValue` is its own or the default.
    @usableFromInline
    func l1LookOfCachedValue(of store: any KeyValueStore, options: EntryOptions) -> L1Look {
        guard let tiered, options.refreshAhead == nil, !tiered.refreshesAheadByDefault else { return .first }
        return (store as? any LooksAtL1ForCachedValue)?.cachedValueLooksAtL1 == true ? .again : .afterCachedValue
    }

    /// A `getOrSet` with options answered by L1 alone: a fresh copy, and no eager refresh to
    /// consider (the call's or the store's); `nil` takes the compute path.
    @inlinable
    package func l1HitWithOptions<Value: Sendable>(_ key: String, as type: Value.Type, options: EntryOptions) throws -> Value? {
        try tiered?.l1HitWithOptions(keyPrefix.isEmpty ? key : keyPrefix + key, as: type, options: options)
    }

    /// `getOrSet(_:as:expires:compute:)`: the same path, the computation run inline in the
    /// caller's task (its closure does not escape), with only a lifetime as options.
    /// `l1`: what the caller has seen of L1 for this call (a tiered store's hit).
    @usableFromInline
    func getOrSet<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, expires: Expiry?, l1: L1Look = .first, compute: () async throws -> Value
    ) async throws -> Value {
        try await withoutActuallyEscaping(compute) { compute in
            try await getOrSet(
                key, as: type, options: EntryOptions(expires: expires),
                computation: Computation(body: { _ in try await compute() }, mayOutliveCall: false), l1: l1)
        }
    }

    /// Steps 3 to 7, as the flight's leader.
    private func computeOnce<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, options: EntryOptions, computation: Computation<Value>, found: StoredValue<Value>?,
        sourceUnavailable: Bool, storeRead: Bool = true
    ) async throws -> Shared<Value> {
        var kept = found
        var sourceUnavailable = sourceUnavailable
        // A flight that finished just before this one began has filled L1; L2 is read again
        // under the lease below, so a store of one tier is not read twice. The call looked at
        // L1 before (its read): this look counts no new request.
        if let tiered {
            switch try await tiered.l1Read(ByteKey(key), as: type, for: .compute, look: .again) {
            case .fresh(let again): return Shared(value: again.value, holdsForWaiters: false)
            case .stale(let again): kept = kept ?? again
            case .missing: break
            }
        }
        await prepareTags(options.tags, skipsL2: sourceUnavailable)  // before the lease's start
        var heldLock: HeldComputeLock?
        var leasedRead: LeasedRead?
        var taking: LeaseTaking = sourceUnavailable ? .skipped : .leased
        if let tiered, let lock = tiered.configuration.computeLock, !sourceUnavailable {
            switch try await tiered.awaitComputeLock(
                lock, key: key, as: type, pipeline: self, readsStore: !storeRead, kept: &kept, sourceUnavailable: &sourceUnavailable)
            {
            case .value(let value): return Shared(value: value, holdsForWaiters: false)
            case .found(let found):
                if computation.mayOutliveCall { refreshAheadIfDue(key, found: found, options: options, computation: computation) }
                return Shared(value: found.value, holdsForWaiters: false)
            case .token(let token, let read):
                heldLock = tiered.holdComputeLock(key, token: token)
                leasedRead = read
            case .computeWithoutLock: taking = sourceUnavailable ? .skipped : .leased
            case .computeWithoutLease: taking = .readPlainly
            }
        }
        let leased: ComputationLease<Value>
        // A lease taken with the lock passed this point before the lock (`awaitComputeLock`).
        if leasedRead == nil { await PipelineGates.shared.pass(.beforeLease, key: key, scope: flightScope) }
        do {
            switch try await takeLease(
                key, as: type, kept: kept, lock: heldLock, leasedRead: leasedRead, taking: taking)
            {
            case .value(let value):
                await releaseComputeLock(key, heldLock)
                return Shared(value: value, holdsForWaiters: false)
            case .lease(let lease):
                leased = lease
            }
        } catch {
            await releaseComputeLock(key, heldLock)
            throw error
        }
        await PipelineGates.shared.pass(.afterMiss, key: key, scope: flightScope)
        return try await run(computation, leased, options: options)
    }
}
