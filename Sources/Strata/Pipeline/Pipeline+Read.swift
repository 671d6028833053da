/// The read path: L1, then the store that holds the entries, then a copy into L1.
///
/// An entry is checked before anything is served or copied: an envelope of a later version
/// is a miss, a value past its lifetime is kept only as a computation's fallback (its grace),
/// and an entry one of whose tags was invalidated at or after it was written is a miss. The
/// tag check comes before the copy into L1, and the copy is stamped with the tag epoch read
/// before the check, so an invalidation that lands meanwhile is checked again on the next hit.
extension Pipeline {
    /// What a read is for.
    enum ReadPurpose {
        /// `get`, `has` and the adapters: a fresh entry with valid tags, or nothing; a value
        /// that does not decode as the type asked for throws `decodingFailed`.
        case plain
        /// `getOrSet`: a fresh entry, or one in its grace (the fallback); an undecodable
        /// value is a miss; a failing or slow L2 (past `l2Timeout`) is reported and is a miss.
        case compute
    }

    /// Where a read stands with L1 when the read path takes it: a call's looks count one
    /// request in the sample that sizes W-TinyLFU's window, and at most one hit in its
    /// sketch, however many times the call's path looks at L1. (Behind a store's own
    /// `cachedValue` that declines without a look, a miss, and a hit of a copy that needed
    /// checking, count none: see ``afterCachedValue``.)
    @usableFromInline
    enum L1Look: Sendable {
        /// The read path's look is the call's first: it counts the request.
        case first
        /// The caller looked and L1 holds no copy at all: the read goes to the store without
        /// another look.
        case foundNothing
        /// The call looked at L1 before (a hit that found a copy it could not serve at once,
        /// a computation's earlier read): the read path looks again, counting nothing.
        case again
        /// A `getOrSet` with options after the `cachedValue` of a store that is neither a
        /// tiered store nor a view of one: its own answer, which may or may not have looked
        /// (the default looks; `nil` without a look is a correct answer too). The read path's
        /// look counts the call only when it serves a copy the default would have served at
        /// once: such a hit is never left uncounted, and what the default looked at and
        /// declined is not counted again.
        case afterCachedValue
    }

    /// A plain read of the value at `key` (the view's prefix is added here). `l1`: what the
    /// caller (a tiered store's own read, whose view has no prefix) has seen of L1.
    @usableFromInline
    func readValue<Value: Codable & Sendable>(_ key: String, as type: Value.Type, l1: L1Look = .first) async throws -> Value? {
        // Bytes and text, through copies of the read path specialized for them: this is
        // called unspecialized (from a store's default `value(forKey:as:)`, or from the
        // caller's module), and the generic path looked its types up at run time and
        // decoded through the generic coder on every read (most of the 0.6 µs the typed
        // layer added to a 3.4 µs SQLite get of bytes). The types are the same, so each
        // cast is none.
        if Value.self == [UInt8].self {
            return unsafeBitCast(try await readValueOf(key, as: [UInt8].self, l1: l1), to: Value?.self)
        }
        if Value.self == String.self {
            return unsafeBitCast(try await readValueOf(key, as: String.self, l1: l1), to: Value?.self)
        }
        return try await readValueOf(key, as: type, l1: l1)
    }

    /// `readValue`, to be specialized.
    private func readValueOf<Value: Codable & Sendable>(_ key: String, as type: Value.Type, l1: L1Look) async throws -> Value? {
        let key = keyPrefix + key
        if tiered == nil, memory == nil {
            // A store of one tier that keeps no decoded values (SQLite, Redis, a folder):
            // there is no L1 to look in or fill, no miss to count, and the source's errors
            // go to the caller as they are, so the read is the entry and its checks. Nothing
            // returned here carries a lifetime, so a store that reads lifetimes apart (Redis:
            // `PTTL` beside `GET`) is spared it.
            let entry: StoredEntry?
            if let reader = source as? any ValueOnlySource {
                entry = try await reader.entryWithoutLifetime(forKey: key)
            } else {
                entry = try await source.entry(forKey: key)
            }
            guard let entry else { return nil }
            return try await plainValue(of: entry, key: key, as: type)
        }
        var unavailable = false
        return try await read(key, as: type, for: .plain, sourceUnavailable: &unavailable, l1: l1)?.value
    }

    /// The value at `key` (prefix applied) as `type`, with its envelope: fresh, or for a
    /// computation also within its grace; `nil` for a miss.
    func read<Value: Codable & Sendable>(_ key: String, as type: Value.Type, for purpose: ReadPurpose) async throws -> StoredValue<Value>? {
        var unavailable = false
        return try await read(key, as: type, for: purpose, sourceUnavailable: &unavailable)
    }

    /// `read`, telling whether the source passed `l2Timeout` (the computation then does not
    /// wait on it again; after a failure, which costs no wait, it asks once more).
    ///
    /// `l1`: what the call has seen of L1 before (see ``L1Look``): with `.foundNothing`, L1
    /// is not looked at again; with `.again`, the look counts no new request; with
    /// `.afterCachedValue`, it counts one only when it serves a copy the hit would have served.
    func read<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, for purpose: ReadPurpose, sourceUnavailable: inout Bool, l1: L1Look = .first
    ) async throws -> StoredValue<Value>? {
        var staleInL1: StoredValue<Value>?
        if let tiered, l1 != .foundNothing {
            switch try await tiered.l1Read(ByteKey(key), as: type, for: purpose, look: l1) {
            case .fresh(let found): return found
            case .stale(let found): staleInL1 = found
            case .missing: break
            }
        }
        guard let found = try await readSource(key, as: type, for: purpose, unavailable: &sourceUnavailable) else {
            return purpose == .compute ? staleInL1 : nil
        }
        // An entry without an envelope has no lifetime of its own to check: no clock to read.
        if found.envelope == nil || found.isFresh(nowMilliseconds: clock.now().millisecondsSince1970) { return found }
        return purpose == .compute ? found : nil
    }

    /// The source's entry for `key` as `type`, tags checked, copied into L1: fresh or in grace.
    private func readSource<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, for purpose: ReadPurpose, unavailable: inout Bool
    ) async throws -> StoredValue<Value>? {
        let byteKey = ByteKey(key)
        let snapshot = tiered?.tracker.snapshot(byteKey)
        let started = tiered?.observing == true ? ContinuousClock.now : nil
        let entry: StoredEntry?
        if let memory {
            return try await memory.storedValue(byteKey, as: type, for: purpose, in: self)
        }
        do {
            if let tiered, purpose == .compute {
                guard
                    let read = try await tiered.timedL2(
                        key, since: started, timedOut: &unavailable,
                        { [source] in
                            try await source.entry(forKey: key)
                        })
                else { return nil }  // failed or timed out: reported
                entry = read
            } else {
                entry = try await source.entry(forKey: key)
            }
        } catch let error as StrataError where error.code == .closed {
            throw error
        } catch is CancellationError {
            throw CancellationError()  // the caller's, not L2's: never a miss
        } catch {
            guard let tiered else { throw error }
            let failure = tiered.recordFailure(error, key: key, since: started)
            if purpose == .compute || tiered.configuration.l2ReadFailures.isMiss { return nil }
            throw failure
        }
        return try await accept(entry, key: key, as: type, for: purpose, snapshot: snapshot, since: started)
    }

    /// What the source answered for `key` (prefix applied), checked: decoded, its tags valid,
    /// then copied into L1 unless a write of the key began after `snapshot` was taken (before
    /// the source was read). Counted as an L2 hit or a miss.
    func accept<Value: Codable & Sendable>(
        _ entry: StoredEntry?, key: String, as type: Value.Type, for purpose: ReadPurpose,
        snapshot: WriteTracker.ReadSnapshot?, since started: ContinuousClock.Instant?
    ) async throws -> StoredValue<Value>? {
        guard let entry else {
            tiered?.countMiss(key, since: started)
            return nil
        }
        guard let found = try decode(entry, key: key, as: type, for: purpose) else { return nil }
        let epoch = tiered?.tagTable.epoch.load(ordering: .acquiring) ?? 0
        guard try await tagsAreValid(found.envelope) else {
            tiered?.countMiss(key, since: started)
            return nil
        }
        if let tiered, let snapshot {
            // A value past its lifetime (in its grace) is copied for computations' fallback,
            // but a plain read returns nothing: for its caller, and in the counts, a miss.
            if purpose == .plain, found.envelope != nil, !found.isFresh(nowMilliseconds: clock.now().millisecondsSince1970) {
                tiered.countMiss(key, since: started)
            } else {
                tiered.countL2Hit(key, since: started)
            }
            await PipelineGates.shared.pass(.beforeFill, key: key, scope: flightScope)
            tiered.fill(ByteKey(key), entry, value: tiered.kept(found.value, found.envelope, checkedEpoch: epoch), snapshot: snapshot)
        }
        return found
    }

    /// A plain read's value of an entry already read, checked in the read path's order:
    /// decoded, then its tags valid, then within its lifetime at the time read after them
    /// (a plain entry has neither: no suspension, no clock read); `nil` otherwise.
    func plainValue<Value: Codable & Sendable>(of entry: StoredEntry, key: String, as type: Value.Type) async throws -> Value? {
        var tagInstants: [ByteKey: Int64] = [:]  // empty: no allocation unless the entry has tags
        return try await plainValue(of: entry, key: key, as: type, tagInstants: &tagInstants)
    }

    /// ``plainValue(of:key:as:)`` for one entry of a batch read: `tagInstants` remembers the
    /// tags' instants read from the source, so a batch of entries sharing a tag reads it once
    /// (as ``readableOffset(_:tagInstants:)`` does for a listing), not once an entry.
    func plainValue<Value: Codable & Sendable>(
        of entry: StoredEntry, key: String, as type: Value.Type, tagInstants: inout [ByteKey: Int64]
    ) async throws -> Value? {
        guard let found = try decode(entry, key: key, as: type, for: .plain) else { return nil }
        guard let envelope = found.envelope else { return found.value }
        guard try await tagsAreValid(envelope, tagInstants: &tagInstants), found.isFresh(nowMilliseconds: clock.now().millisecondsSince1970)
        else { return nil }
        return found.value
    }

    /// `entry` decoded as `type`: `nil` for an envelope this version cannot read, and for a
    /// computation, for a value that does not decode; a plain read throws then.
    func decode<Value: Codable & Sendable>(
        _ entry: StoredEntry, key: String, as type: Value.Type, for purpose: ReadPurpose
    ) throws -> StoredValue<Value>? {
        do {
            return try StoredValue.decode(
                entry.bytes, keptUntil: entry.expiresAt, as: type, key: callerKey(key), backend: backendName, format: valueFormat)
        } catch let error as StrataError where error.code == .decodingFailed && purpose == .compute {
            return nil
        } catch let error as StrataError where error.code == .corruptEntry {
            // A compressed value that does not expand: a miss, counted (a computation's
            // miss is counted where it decides to compute).
            if purpose == .plain { tiered?.countUndecodable(key) }
            return nil
        }
    }

    /// Whether every tag of `envelope` was last invalidated before the entry was written
    /// (an entry without tags is valid): from the tiered store's tag table, loading what it
    /// does not know, or from the source's records.
    func tagsAreValid(_ envelope: EntryEnvelope?) async throws -> Bool {
        guard let envelope else { return true }
        var tagInstants: [ByteKey: Int64] = [:]
        return try await tagsAreValid(envelope, tagInstants: &tagInstants)
    }

    /// ``tagsAreValid(_:)`` for one entry of a batch: the instants of tags not in
    /// `tagInstants` are read from the source in one call and remembered there.
    func tagsAreValid(_ envelope: EntryEnvelope, tagInstants: inout [ByteKey: Int64]) async throws -> Bool {
        guard !envelope.tags.isEmpty else { return true }
        if let tiered { return try await tiered.tagsAreValid(envelope) }
        // By the tags' bytes, as stores record them: "é" precomposed or not are two tags.
        let unknown = envelope.tags.filter { tagInstants[ByteKey($0)] == nil }
        if !unknown.isEmpty {
            let instants = try await source.records(named: unknown.map(ReservedRecords.tagRecord))
            for (tag, instant) in zip(unknown, instants) { tagInstants[ByteKey(tag)] = instant }
        }
        return envelope.tags.allSatisfy { (tagInstants[ByteKey($0)] ?? .max) < envelope.writtenAt }
    }

    /// Where a plain read's value starts in stored `bytes` (0 for a plain entry, past the
    /// envelope for one within its lifetime whose tags are valid); `nil` when a plain read
    /// returns nothing. `tagInstants` remembers the instants read, for a batch.
    func readableOffset(_ bytes: [UInt8], tagInstants: inout [ByteKey: Int64]) async throws -> Int? {
        guard EntryEnvelope.hasMagic(bytes) else { return 0 }
        guard case .envelope(let envelope, let offset) = EntryEnvelope.parse(bytes),
            !envelope.isExpired(nowMilliseconds: clock.now().millisecondsSince1970)
        else { return nil }
        return try await tagsAreValid(envelope, tagInstants: &tagInstants) ? offset : nil
    }

    /// A plain read's value of stored `bytes` (see ``readableOffset(_:tagInstants:)``).
    func readableValue<Value: Codable & Sendable>(
        _ bytes: [UInt8], as type: Value.Type, key: String, tagInstants: inout [ByteKey: Int64]
    ) async throws -> Value? {
        guard let offset = try await readableOffset(bytes, tagInstants: &tagInstants) else { return nil }
        let payload = offset == 0 ? bytes : Array(bytes[offset...])
        do {
            return try ValueCoding.decode(payload, as: type, key: key, backend: backendName, format: valueFormat)
        } catch let error as StrataError where error.code == .corruptEntry {
            return nil  // a compressed value that does not expand: left out, as a miss
        }
    }

    /// `key` as the caller named it: without the view's prefix, for messages.
    func callerKey(_ key: String) -> String {
        guard !keyPrefix.isEmpty, KeyRules.key(key, hasPrefix: keyPrefix) else { return key }
        return String(decoding: key.utf8.dropFirst(keyPrefix.utf8.count), as: UTF8.self)
    }

    /// The compute path's read: a store that fails counts as a miss (it was reported), and
    /// says so through `sourceUnavailable`. `l1` says what the call has seen of L1 (see
    /// ``L1Look``): only its first look counts its request (not a waiter's looks, nor a lock
    /// holder's polls).
    func readForComputation<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, sourceUnavailable: inout Bool, l1: L1Look
    ) async throws -> StoredValue<Value>? {
        do {
            return try await read(key, as: type, for: .compute, sourceUnavailable: &sourceUnavailable, l1: l1)
        } catch let error as StrataError where error.code == .closed {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return nil  // a store of one tier that failed: compute, as getOrSet always has
        }
    }

    /// `readForComputation` when whether the source answered does not matter.
    func readForComputation<Value: Codable & Sendable>(_ key: String, as type: Value.Type, l1: L1Look) async throws -> StoredValue<Value>? {
        var unavailable = false
        return try await readForComputation(key, as: type, sourceUnavailable: &unavailable, l1: l1)
    }
}
