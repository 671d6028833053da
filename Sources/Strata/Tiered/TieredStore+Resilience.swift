import Synchronization

/// `getOrSet` with options, tags and fail-safe over both tiers: L1 keeps an entry's
/// envelope beside its value, for its lifetime and its grace (TTL propagation carries
/// both), and checks a tagged hit with one atomic load while no tag changed.
extension TieredStore {
    /// The value of an L1 copy with an envelope when it may be served without another
    /// look: within its lifetime, and untagged or with no tag invalidated since its tags
    /// were last checked (one atomic load). `nil` sends the read down the slow path.
    @inlinable
    func servableEnvelopeValue<Value: Sendable>(_ cached: MemoryEntry, as type: Value.Type, now: Int64) -> Value? {
        guard let kept = KeptEnvelope<Value>.read(cached.value),
              kept.expiresAt > (now != 0 ? now : timeSource.now().millisecondsSince1970)
        else { return nil }
        if kept.isTagged,
           kept.checkedEpoch.load(ordering: .relaxed) != tagTable.epoch.load(ordering: .acquiring) {
            return nil
        }
        return kept.value
    }

    /// A `getOrSet` with options answered by L1 alone: a fresh copy, and no eager refresh
    /// to consider (the call's or the store's); `nil` takes the full path.
    @inlinable
    func l1HitWithOptions<Value: Sendable>(_ key: String, as type: Value.Type, options: EntryOptions) throws -> Value? {
        var now: Int64 = 0
        guard options.refreshAhead == nil, !refreshesAheadByDefault,
              let cached = try l1.lookUp(ByteKey(key), now: &now, bytesBesideValue: false),
              // Entries written with options usually carry an envelope: look for it first.
              let value = servableEnvelopeValue(cached, as: type, now: now) ?? Kept<Value>.read(cached.value)
        else { return nil }
        recordL1Hit(key, since: nil)
        return value
    }

    /// The L1 box for `value`: with its envelope when it has one.
    func kept<Value: Codable & Sendable>(_ value: Value, _ envelope: EntryEnvelope?) -> (any AnyObject & Sendable)? {
        guard let envelope else { return Kept.wrap(value) }
        return KeptEnvelope(value, envelope, epoch: tagTable.epoch.load(ordering: .acquiring))
    }

    func resilientGetOrSet<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, options: EntryOptions,
        compute: @escaping @Sendable (ComputeContext<Value>) async throws -> Value
    ) async throws -> Value {
        // The L1 hit, as cheap as a plain getOrSet's.
        if let cached = try l1.lookUp(ByteKey(key)) {
            if let value = Kept<Value>.read(cached.value) {
                recordL1Hit(key, since: nil)
                return value
            }
            if let kept = KeptEnvelope<Value>.read(cached.value), freshL1(kept) == true {
                recordL1Hit(key, since: nil)
                if options.refreshAhead != nil {
                    let found = StoredValue(value: kept.value, envelope: kept.envelope, keptUntil: cached.expiresAtTimestamp)
                    ResilientGetOrSet.refreshAheadIfDue(
                        TieredResilientStorage(tiered: self), key: key, found: found, options: options, compute: compute)
                }
                return kept.value
            }
        }
        return try await ResilientGetOrSet.run(
            TieredResilientStorage(tiered: self), key: key, as: type, options: options, compute: compute)
    }

    /// Whether an L1 copy with an envelope may be served now: `true` fresh with valid
    /// tags, `false` expired or invalidated, `nil` when a tag's instant must be loaded.
    func freshL1<Value>(_ kept: KeptEnvelope<Value>) -> Bool? {
        let now = clock.now().millisecondsSince1970
        if kept.envelope.isExpired(nowMilliseconds: now) { return false }
        if kept.envelope.tags.isEmpty { return true }
        let epoch = tagTable.epoch.load(ordering: .acquiring)
        if kept.checkedEpoch.load(ordering: .relaxed) == epoch { return true }
        for tag in kept.envelope.tags {
            guard let instant = tagTable.invalidatedAt(tag, now: now) else { return nil }
            if instant >= kept.envelope.writtenAt { return false }
        }
        kept.checkedEpoch.store(epoch, ordering: .relaxed)
        return true
    }

    /// A plain read of an L1 copy that is not the requested type's Swift value: decoded
    /// bytes, or an entry with an envelope (served within its lifetime while its tags are
    /// valid, else read again from L2, where another instance may have refreshed it).
    @usableFromInline
    func valueFromCopy<Value: Codable & Sendable>(
        _ key: String, _ byteKey: ByteKey, _ found: MemoryEntry, as type: Value.Type, started: ContinuousClock.Instant?
    ) async throws -> Value? {
        // The hit left the bytes out of an entry holding a Swift value (of another type here).
        guard let cached = found.value == nil ? found : try l1.peekEntry(byteKey) else {
            return try await valueFromL2(key, byteKey, as: type, started: started)
        }
        if !EntryEnvelope.hasMagic(cached.bytes) {
            recordL1Hit(key, since: started)
            return try ValueCoding.decode(cached.bytes, as: type, key: key, backend: backendName)
        }
        if let kept = KeptEnvelope<Value>.read(cached.value), freshL1(kept) == true {
            recordL1Hit(key, since: started)
            return kept.value
        }
        return try await valueFromL2(key, byteKey, as: type, started: started)
    }

    /// Whether an envelope's tags are all valid, loading unknown instants from L2.
    func tagsAreValid(_ envelope: EntryEnvelope) async throws -> Bool {
        let now = clock.now().millisecondsSince1970
        for tag in envelope.tags {
            var instant = tagTable.invalidatedAt(tag, now: now)
            if instant == nil {
                let loaded = try await TagInvalidations.invalidatedAt(tag, in: l2)
                tagTable.remember(tag, invalidatedAt: loaded, until: l1Deadline()?.millisecondsSince1970 ?? Int64.max)
                instant = loaded
            }
            if instant! >= envelope.writtenAt { return false }
        }
        return true
    }

    /// Records the tags' invalidation in L2, then in this process, then tells the other
    /// instances (as a change of the tag's reserved key, which their L1 applies).
    func invalidateTags(_ tags: [String]) async throws {
        let now = clock.now().millisecondsSince1970
        let started = observing ? ContinuousClock.now : nil
        do {
            try await TagInvalidations.record(tags, at: now, in: l2)
        } catch {
            throw recordFailure(error, key: tags.first ?? "", since: started)
        }
        for tag in tags {
            tagTable.remember(tag, invalidatedAt: now, until: l1Deadline()?.millisecondsSince1970 ?? Int64.max)
            TieredCounters.bump(counters.tagInvalidations)
            report(.tagInvalidation, .l2, tag, since: started)
            await announce(.key(TagInvalidations.key(for: tag)))
        }
    }

    /// Counts and reports a resilience event.
    func reportResilience(_ kind: Event.Kind, _ key: String, error: StrataError?) {
        switch kind {
        case .compute: TieredCounters.bump(counters.computations)
        case .failSafe: TieredCounters.bump(counters.failSafes)
        case .softTimeout: TieredCounters.bump(counters.softTimeouts)
        case .computeTimeout: TieredCounters.bump(counters.computeTimeouts)
        case .refreshAhead: TieredCounters.bump(counters.refreshesAhead)
        default: break
        }
        report(kind, .l1, key, since: nil, error: error)
    }
}

/// The tiered store as the resilient `getOrSet` sees it: L1, then L2 within `l2Timeout`;
/// computed values go to L1 even when L2 fails.
struct TieredResilientStorage: ResilientStorage {
    let tiered: TieredStore
    var store: any KeyValueStore { tiered }

    func read<Value: Codable & Sendable>(_ key: String, as type: Value.Type) async throws -> StoredValue<Value>? {
        let byteKey = ByteKey(key)
        let now = tiered.clock.now().millisecondsSince1970
        var stale: StoredValue<Value>?
        if let cached = try tiered.l1.lookUp(byteKey) {
            var found: StoredValue<Value>?
            if let value = Kept<Value>.read(cached.value) {
                found = StoredValue(value: value, envelope: nil, keptUntil: cached.expiresAtTimestamp)
            } else if let kept = KeptEnvelope<Value>.read(cached.value) {
                found = StoredValue(value: kept.value, envelope: kept.envelope, keptUntil: cached.expiresAtTimestamp)
            } else {
                found = try? StoredValue.decode(cached.bytes, keptUntil: cached.expiresAtTimestamp, as: type, key: key, backend: tiered.backendName)
            }
            if let found, try await valid(found) {
                if found.isFresh(nowMilliseconds: now) {
                    tiered.counters.l1Hits.increment()
                    tiered.report(.hit, .l1, key, since: nil)
                    return found
                }
                stale = found
            }
        }
        let snapshot = tiered.tracker.snapshot(byteKey)
        let read = try await tiered.timedL2(key, since: nil) { [l2 = tiered.l2] in try await l2.entry(forKey: key) }
        guard let read else { return stale }  // L2 failed or timed out (reported): what L1 kept
        guard let entry = read else {
            TieredCounters.bump(tiered.counters.misses)
            tiered.report(.miss, .l2, key, since: nil)
            return nil
        }
        guard let found = try? StoredValue.decode(entry.bytes, keptUntil: entry.expiresAt, as: type, key: key, backend: tiered.backendName)
        else {
            TieredCounters.bump(tiered.counters.undecodable)
            tiered.report(.undecodable, .l2, key, since: nil)
            return nil
        }
        guard try await valid(found) else { return nil }
        TieredCounters.bump(tiered.counters.l2Hits)
        tiered.report(.hit, .l2, key, since: nil)
        tiered.fill(byteKey, entry, value: tiered.kept(found.value, found.envelope), snapshot: snapshot)
        return found
    }

    private func valid<Value>(_ found: StoredValue<Value>) async throws -> Bool {
        guard let envelope = found.envelope, !envelope.tags.isEmpty else { return true }
        return try await tiered.tagsAreValid(envelope)
    }

    func write<Value: Codable & Sendable>(_ key: String, _ value: Value, _ entry: StoredEntry, _ envelope: EntryEnvelope?) async throws {
        let byteKey = ByteKey(key)
        let ticket = tiered.tracker.beginWrite(byteKey)
        let written: Void? = try await tiered.timedL2(key, since: nil) { [l2 = tiered.l2] in
            if envelope != nil { try await EnvelopeMarker.mark(l2) }
            try await l2.setEntry(entry, forKey: key)
        }
        if written != nil { TieredCounters.bump(tiered.counters.writes) }
        // Even when L2 failed, the value is right: keep it in L1 (for at most l1Expiry).
        let copy = MemoryEntry(
            bytes: entry.bytes, value: tiered.kept(value, envelope), expiresAt: entry.expiresAt, keptUntil: tiered.l1Deadline())
        tiered.tracker.finishWrite(ticket, keep: { try? tiered.l1.store(byteKey, copy) }, drop: { try? tiered.l1.remove(byteKey) })
        if written != nil { await tiered.announce(.key(key)) }
    }

    func report(_ kind: TieredStore.Event.Kind, _ key: String, error: StrataError?) {
        tiered.reportResilience(kind, key, error: error)
    }

    func acquireRefreshLock(_ key: String) async -> String? {
        guard let lock = tiered.configuration.computeLock else { return "" }
        do {
            return try await lock.acquire(key, lease: tiered.configuration.computeLockLease)
        } catch {
            _ = tiered.recordFailure(error, key: key, since: nil)
            return ""
        }
    }

    func releaseRefreshLock(_ key: String, token: String) async {
        guard !token.isEmpty, let lock = tiered.configuration.computeLock else { return }
        try? await lock.release(key, token: token)
    }
}
