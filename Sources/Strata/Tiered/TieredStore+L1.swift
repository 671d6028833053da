import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// L1 as the pipeline uses it: one read of a copy (a Swift value, a value with its envelope,
/// or bytes), copies made from L2 hits and from writes, and the counters of each.
extension TieredStore {
    /// What L1 holds for a key, as the read path sees it.
    enum L1Read<Value: Sendable> {
        /// A copy a read may return: within its lifetime, tags valid.
        case fresh(StoredValue<Value>)
        /// A copy past its lifetime (within its grace), tags valid: a computation's fallback.
        case stale(StoredValue<Value>)
        /// No copy, or one that cannot be served (invalidated, of a later format, or not decodable).
        case missing
    }

    /// The L1 hit of a plain read or a `getOrSet`: a Swift value of the type asked for, bytes,
    /// text or `Data` held plain (no envelope), or a value with an envelope that is fresh and, when
    /// tagged, checked since the last change of the tag table (one atomic load). `nil` sends
    /// the call down the read path.
    @inlinable
    func l1Hit<Value: Sendable>(_ key: String, as type: Value.Type) throws -> Value? {
        var now: Int64 = 0
        return try l1Hit(key, as: type, now: &now)
    }

    /// ``l1Hit(_:as:)`` for one key of a batch read at one instant (see ``l1Value(_:as:now:)``).
    @inlinable
    func l1Hit<Value: Sendable>(_ key: String, as type: Value.Type, now: inout Int64) throws -> Value? {
        var absent = false
        return try l1Hit(key, as: type, now: &now, absent: &absent)
    }

    /// ``l1Hit(_:as:now:)``, setting `absent` when L1 holds no copy of `key` at all (not
    /// one the read path may still serve): the read path then need not look at L1 again.
    @inlinable
    func l1Hit<Value: Sendable>(_ key: String, as type: Value.Type, now: inout Int64, absent: inout Bool) throws -> Value? {
        let started = observing ? ContinuousClock.now : nil
        guard let value = try l1Value(key, as: type, now: &now, absent: &absent) else { return nil }
        recordL1Hit(key, since: started)
        return value
    }

    /// The L1 hit of a `getOrSet` with options: none when an eager refresh (the call's or
    /// the store's) may be due, which the compute path decides.
    @inlinable
    func l1HitWithOptions<Value: Sendable>(_ key: String, as type: Value.Type, options: EntryOptions) throws -> Value? {
        guard options.refreshAhead == nil, !refreshesAheadByDefault else { return nil }
        return try l1Hit(key, as: type)
    }

    /// The L1 hit of a `getOrSet` with options, without building the ``pipeline``: a fresh
    /// copy in L1, when no eager refresh (the call's or the store's) may be due.
    ///
    /// ```swift
    /// let hit = try cache.cachedValue(forKey: "rates", as: Rates.self, options: EntryOptions(grace: "1h"))
    /// ```
    @inlinable
    public func cachedValue<Value: Codable & Sendable>(forKey key: String, as type: Value.Type, options: EntryOptions) throws -> Value? {
        try l1HitWithOptions(key, as: type, options: options)
    }

    /// ``l1Hit(_:as:)`` without counting it: the caller counts its hits
    /// (``recordL1Hits(_:)``), as a bulk read of a store with no observers does.
    @inlinable
    func l1Value<Value: Sendable>(_ key: String, as type: Value.Type) throws -> Value? {
        var now: Int64 = 0
        return try l1Value(key, as: type, now: &now)
    }

    /// ``l1Value(_:as:)`` for one key of a batch read at one instant: `now` (0 until a copy
    /// with a lifetime needs the time) is the batch's, so the clock is read once for all its
    /// keys, not once a key (by hand, 100 hits with lifetimes took 13.3 µs against 10.3 µs
    /// without: the readings are about a quarter of such a hit).
    @inlinable
    func l1Value<Value: Sendable>(_ key: String, as type: Value.Type, now: inout Int64) throws -> Value? {
        var absent = false
        return try l1Value(key, as: type, now: &now, absent: &absent)
    }

    /// ``l1Value(_:as:now:)``, setting `absent` when L1 holds no copy of `key`.
    @inlinable
    func l1Value<Value: Sendable>(_ key: String, as type: Value.Type, now: inout Int64, absent: inout Bool) throws -> Value? {
        guard let cached = try l1.lookUp(ByteKey(key), now: &now, bytesBesideValue: false) else {
            absent = true
            return nil
        }
        if let value = Kept<Value>.read(cached.value) { return value }
        if cached.value == nil, Value.self == [UInt8].self || Value.self == String.self || Value.self == Data.self,
            let value = plainRawValue(cached.bytes, as: type)
        {
            return value
        }
        return servableEnvelopeValue(cached, as: type, now: now)
    }

    /// The bytes, text or data an L1 copy of raw bytes holds, when the copy is plain (no
    /// envelope: no lifetime or tags of its own to check): what the read path would decode
    /// from it (``ValueCoding/decode(_:as:key:backend:format:)``), without a second look at
    /// L1. `nil` sends the read down that path (an envelope, text that is not UTF-8).
    @usableFromInline
    func plainRawValue<Value: Sendable>(_ bytes: [UInt8], as type: Value.Type) -> Value? {
        guard !EntryEnvelope.hasMagic(bytes) else { return nil }
        return ValueCoding.raw(bytes, as: type)
    }

    /// The value of an L1 copy with an envelope when it may be served without another
    /// look: within its lifetime, and untagged or with no tag invalidated since its tags
    /// were last checked (one atomic load).
    @inlinable
    func servableEnvelopeValue<Value: Sendable>(_ cached: MemoryEntry, as type: Value.Type, now: Int64) -> Value? {
        guard let kept = KeptEnvelope<Value>.read(cached.value),
            kept.expiresAt > (now != 0 ? now : timeSource.now().millisecondsSince1970)
        else { return nil }
        if kept.isTagged,
            kept.checkedEpoch.load(ordering: .relaxed) != tagTable.epoch.load(ordering: .acquiring)
        {
            return nil
        }
        return kept.value
    }

    /// The read path's look at L1: the copy decoded as `type` when it must be, its tags
    /// checked (and its stamp renewed) when the tag table changed since.
    ///
    /// `look`: what the call saw of L1 before, which says whether this look counts the call
    /// in W-TinyLFU's sketch and window sample (see ``Pipeline/L1Look``).
    func l1Read<Value: Codable & Sendable>(
        _ key: ByteKey, as type: Value.Type, for purpose: Pipeline.ReadPurpose, look: Pipeline.L1Look
    ) async throws -> L1Read<Value> {
        var now: Int64 = 0
        return try await l1Read(key, as: type, for: purpose, look: look, now: &now)
    }

    /// ``l1Read(_:as:for:look:)`` for one key of a batch: `now` is L1's reading shared by the
    /// batch (see ``l1Value(_:as:now:)``), and is set back to 0 when this read suspends (a
    /// tag check), so no key is judged by a reading older than its own look.
    func l1Read<Value: Codable & Sendable>(
        _ key: ByteKey, as type: Value.Type, for purpose: Pipeline.ReadPurpose, look: Pipeline.L1Look, now: inout Int64
    ) async throws -> L1Read<Value> {
        let started = observing ? ContinuousClock.now : nil
        let copy = look == .first ? try l1.lookUp(key, now: &now, bytesBesideValue: false) : try l1.lookUpAgain(key, now: &now)
        guard let cached = copy else { return .missing }
        let keptUntil = cached.expiresAtTimestamp
        if let value = Kept<Value>.read(cached.value) {
            recordL1Hit(key.string, since: started)
            // A Swift value of the type asked for: the default `cachedValue` would have served
            // it, so no look of its counted this call. (`try?`: the value is decided; a store
            // closing meanwhile only misses the count.)
            if look == .afterCachedValue { try? l1.countRequest(key) }
            return .fresh(StoredValue(value: value, envelope: nil, keptUntil: keptUntil))
        }
        let found: StoredValue<Value>
        // Whether the hit (``l1Value(_:as:now:absent:)``, which the default `cachedValue`
        // uses) would have served this copy without the read path, if it is fresh: with
        // `.afterCachedValue`, only such a copy is counted here (see ``Pipeline/L1Look``).
        var servableByTheHit = false
        if let kept = KeptEnvelope<Value>.read(cached.value) {
            found = StoredValue(value: kept.value, envelope: kept.envelope, keptUntil: keptUntil)
            servableByTheHit = true
            if kept.isTagged {
                let epoch = tagTable.epoch.load(ordering: .acquiring)
                if kept.checkedEpoch.load(ordering: .relaxed) != epoch {
                    servableByTheHit = false
                    let valid = try await tagsAreValid(kept.envelope)
                    now = 0
                    guard valid else { return .missing }
                    kept.checkedEpoch.store(epoch, ordering: .relaxed)
                }
            }
        } else {
            // The hit left the bytes out of an entry holding a Swift value (of another type here).
            guard let bytes = cached.value == nil ? cached.bytes : try l1.peekEntry(key)?.bytes else { return .missing }
            do {
                guard
                    let decoded = try StoredValue.decode(
                        bytes, keptUntil: keptUntil, as: type, key: key.string, backend: backendName, format: valueFormat)
                else { return .missing }
                found = decoded
                servableByTheHit = cached.value == nil && decoded.envelope == nil && ValueCoding.isRaw(Value.self)
            } catch let error as StrataError where error.code == .decodingFailed && purpose == .compute {
                return .missing  // L2 decides, and counts it
            } catch let error as StrataError where error.code == .corruptEntry {
                return .missing  // L2 decides, and counts it
            }
            if let envelope = found.envelope, !envelope.tags.isEmpty {
                let valid = try await tagsAreValid(envelope)
                now = 0
                guard valid else { return .missing }
            }
        }
        // The tiered store's own reading, when L1 read none, is not shared with the batch: L1's
        // look at the next key reads L1's clock.
        let instant = now != 0 ? now : timeSource.now().millisecondsSince1970
        guard found.isFresh(nowMilliseconds: instant) else { return .stale(found) }
        recordL1Hit(key.string, since: started)
        // With `.afterCachedValue`, a copy that needed checking (its tags again, a decoding) is one
        // the default `cachedValue` looked at, counted and declined: not counted again.
        if look == .afterCachedValue, servableByTheHit { try? l1.countRequest(key) }
        return .fresh(found)
    }

    /// The L1 box for `value`: with its envelope when it has one, stamped with the tag
    /// epoch its tags were last checked at.
    func kept<Value: Codable & Sendable>(_ value: Value, _ envelope: EntryEnvelope?, checkedEpoch: Int) -> (any AnyObject & Sendable)? {
        guard let envelope else { return Kept.wrap(value) }
        return KeptEnvelope(value, envelope, epoch: checkedEpoch)
    }

    /// Copies an L2 hit into L1, with L2's expiry capped by `l1Expiry`, unless a write
    /// in this process may have changed the key since L2 was read.
    func fill(_ key: ByteKey, _ entry: StoredEntry, value: (any AnyObject & Sendable)?, snapshot: WriteTracker.ReadSnapshot) {
        assert(snapshot.keyHash == key.hashValue, "a fill judged by the snapshot of another key")
        let copy = MemoryEntry(bytes: entry.bytes, value: value, expiresAt: entry.expiresAt, keptUntil: l1Deadline())
        if tracker.fillIfUnchanged(since: snapshot, { try? l1.store(key, copy, hash: snapshot.keyHash) }, drop: { try? l1.remove(key) }) {
            report(.fill, .l1, key.string, since: nil)
        }
    }

    /// How long an L1 copy made now may be kept: `l1Expiry`, and while the invalidation
    /// source does not deliver (before its first subscription, or after it was lost)
    /// ``Configuration/undeliveredL1Expiry`` at most, so a change another instance makes
    /// meanwhile is seen within that bound.
    func l1Deadline() -> Timestamp? {
        let live = delivery.isLive
        // Most stores set neither bound while their source delivers: no clock to read.
        guard configuration.l1Expiry != nil || !live else { return nil }
        let now = clock.now()
        var deadline = configuration.l1Expiry?.deadline(from: now)
        if !live, let cap = configuration.undeliveredL1Expiry.deadline(from: now) {
            deadline = min(deadline ?? cap, cap)
        }
        return deadline
    }

    /// A copy of a value L2 may not hold (its write failed, or no lease could be taken):
    /// kept ``Configuration/undeliveredL1Expiry`` at most, like a copy made while no change
    /// of another instance can reach this one, so L1 and L2 agree again within that bound.
    func unconfirmed(_ copy: MemoryEntry) -> MemoryEntry {
        guard let cap = configuration.undeliveredL1Expiry.deadline(from: clock.now())?.millisecondsSince1970 else { return copy }
        var capped = copy
        capped.expiresAt = min(capped.expiresAt, cap)
        return capped
    }

    /// How a write made under a lease ended.
    enum LeasedWriteResult {
        /// L2 took it.
        case written
        /// The lease was broken: a change began after the miss; the value is not kept.
        case refused
        /// L2 failed (reported): the value is kept in L1 all the same, for
        /// `undeliveredL1Expiry` at most.
        case failed
    }

    /// Ends a write made under a lease: L1 keeps `copy` when L2 took it (or failed) and no
    /// change of the key began in this process since the miss; otherwise L1 drops the key.
    @discardableResult
    func finishLeasedWrite(
        _ ticket: WriteTracker.Ticket, since snapshot: WriteTracker.ReadSnapshot?, result: LeasedWriteResult, key: String,
        copy: MemoryEntry?
    ) -> WriteTracker.ReadSnapshot {
        let byteKey = ByteKey(key)
        let after = tracker.finishWrite(
            ticket, since: snapshot,
            keep: {
                switch result {
                case .written: if let copy { try? l1.store(byteKey, copy, hash: ticket.keyHash) }
                case .failed: if let copy { try? l1.store(byteKey, unconfirmed(copy), hash: ticket.keyHash) }
                case .refused: try? l1.remove(byteKey)
                }
            }, drop: { try? l1.remove(byteKey) })
        switch result {
        case .written:
            TieredCounters.bump(counters.writes)
            report(.write, .l2, key, since: nil)
        case .refused:
            TieredCounters.bump(counters.staleWritesRefused)
            report(.staleWriteRefused, .l2, key, since: nil)
        case .failed:
            break
        }
        return after
    }

    /// Keeps `copy` in L1 while the write `ticket` is still in flight, if no other change
    /// of the key began in this process since `snapshot`.
    func keepInL1IfUnchanged(_ ticket: WriteTracker.Ticket, _ key: ByteKey, _ copy: MemoryEntry, since snapshot: WriteTracker.ReadSnapshot?)
    {
        tracker.keepIfAlone(ticket, since: snapshot) { try? l1.store(key, copy, hash: ticket.keyHash) }
    }

    @usableFromInline
    func recordL1Hit(_ key: String, since started: ContinuousClock.Instant?) {
        counters.l1Hits.increment()
        if observing { report(.hit, .l1, key, since: started) }
    }

    /// Counts `count` L1 hits at once (of a store with no observers: nothing to report).
    @usableFromInline
    func recordL1Hits(_ count: Int) {
        counters.l1Hits.add(count)
    }

    func countL2Hit(_ key: String, since started: ContinuousClock.Instant?) {
        TieredCounters.bump(counters.l2Hits)
        report(.hit, .l2, key, since: started)
    }

    func countMiss(_ key: String, since started: ContinuousClock.Instant?) {
        TieredCounters.bump(counters.misses)
        report(.miss, .l2, key, since: started)
    }

    func countUndecodable(_ key: String) {
        TieredCounters.bump(counters.undecodable)
        report(.undecodable, .l2, key, since: nil)
    }
}
