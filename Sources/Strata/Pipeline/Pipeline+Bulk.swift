/// The bulk read and write paths: the same checks as one key's (L1 first, tags, lifetimes,
/// the write tracker), with one call to the source for all the keys L1 did not answer.
extension Pipeline {
    /// The values of `keys` (caller keys) that L1 holds as Swift values ready to serve, and
    /// the keys it does not answer, in order (all of them for a store of one tier).
    @inlinable
    func l1Hits<Value: Sendable>(_ keys: [String], as type: Value.Type) throws -> (values: [String: Value], rest: [String]) {
        guard let tiered else { return ([:], keys) }
        var values: [String: Value] = [:]
        values.reserveCapacity(keys.count)
        var rest: [String] = []
        var now: Int64 = 0  // the batch is read at one instant
        for key in keys {
            if let value = try tiered.l1Hit(keyPrefix.isEmpty ? key : keyPrefix + key, as: type, now: &now) {
                values[key] = value
            } else {
                rest.append(key)
            }
        }
        return (values, rest)
    }

    /// ``l1Hits(_:as:)`` of `keys` as given (unchecked, maybe repeated), in one pass, when
    /// they are all ASCII and the store is tiered with no observers; `nil` otherwise (the
    /// caller checks the keys with ``BulkKeys/validated(_:backend:)`` then). Every key is
    /// checked before L1 is read (the error names the first bad one). ASCII keys equal as
    /// Swift strings are equal byte for byte, so a repeat is only a repeat: the result
    /// dictionary drops it, with no set of the keys seen, and L1's hits are counted once,
    /// by key, at the end. `rest` holds the keys L1 did not answer, without repeats.
    @inlinable
    func l1HitsOfASCIIKeys<Value: Sendable>(_ keys: [String], as type: Value.Type, backend: String) throws -> (
        values: [String: Value], rest: [String]
    )? {
        guard let tiered, !tiered.observing else { return nil }
        for key in keys {
            guard BulkKeys.isASCII(key) else { return nil }
            try KeyRules.validate(key, backend: backend)
        }
        var values: [String: Value] = [:]
        values.reserveCapacity(keys.count)
        var rest: [String] = []
        var hits = 0
        var now: Int64 = 0  // the batch is read at one instant
        if keyPrefix.isEmpty {
            for key in keys {
                if let value = try tiered.l1Value(key, as: type, now: &now) {
                    values[key] = value
                    hits += 1
                } else {
                    rest.append(key)
                }
            }
        } else {
            for key in keys {
                if let value = try tiered.l1Value(keyPrefix + key, as: type, now: &now) {
                    values[key] = value
                    hits += 1
                } else {
                    rest.append(key)
                }
            }
        }
        if values.count > 0 { tiered.recordL1Hits(values.count) }
        if rest.count > 1 || (!rest.isEmpty && hits != values.count) {
            // Repeats, or a key answered on one look and not on another: each key once.
            var seen = Set<String>(minimumCapacity: rest.count)
            rest = rest.filter { values[$0] == nil && seen.insert($0).inserted }
        }
        return (values, rest)
    }

    /// A plain read of `keys` (caller keys, validated and without repeats): L1 first, then one
    /// ``KeyValueStore/entries(forKeys:)`` batch for the rest, each hit checked and copied into
    /// L1 as a single read's is. A key missing, expired, past its lifetime or invalidated by a
    /// tag is absent.
    @usableFromInline
    func readValues<Value: Codable & Sendable>(_ keys: [String], as type: Value.Type) async throws -> [String: Value] {
        // Bytes and text, through copies of this path specialized for them: it is called
        // unspecialized from the caller's module (`get(_:as:)` is inlinable), and the generic
        // path looked its types up at run time for every key (about 1 µs a key of 100 in a
        // bulk read of Redis or SQLite). The types are the same, so each cast is none.
        if Value.self == [UInt8].self {
            return unsafeBitCast(try await readValuesOf(keys, as: [UInt8].self), to: [String: Value].self)
        }
        if Value.self == String.self {
            return unsafeBitCast(try await readValuesOf(keys, as: String.self), to: [String: Value].self)
        }
        return try await readValuesOf(keys, as: type)
    }

    /// `readValues`, to be specialized.
    private func readValuesOf<Value: Codable & Sendable>(_ keys: [String], as type: Value.Type) async throws -> [String: Value] {
        if tiered == nil, memory == nil {
            // A store of one tier that keeps no decoded values (SQLite, Redis, a folder): its
            // batch decoded straight into the result, each entry checked as a single read's.
            // No value returned here carries a lifetime, so a store that reads lifetimes apart
            // (Redis: `PTTL` beside each value) is spared them.
            let sourceKeys = keyPrefix.isEmpty ? keys : keys.map { keyPrefix + $0 }
            if let reader = source as? any ValueOnlySource {
                let entries = try await namingCallerKeys { try await reader.entriesWithoutLifetimes(forKeys: sourceKeys) }
                return try await plainValues(keys, sourceKeys, as: type) { entries[$0] }
            }
            let entries = try await namingCallerKeys { try await source.entries(forKeys: sourceKeys) }
            return try await plainValues(keys, sourceKeys, as: type) { entries[sourceKeys[$0]] }
        }
        var unavailable = false
        // The caller's hits looked at L1 for every key (`l1Hits`): the read looks again, uncounted.
        let found = try await readStored(keys.map { keyPrefix + $0 }, as: type, for: .plain, sourceUnavailable: &unavailable, l1: .again)
        var values: [String: Value] = [:]
        values.reserveCapacity(found.count)
        let now = clock.now().millisecondsSince1970
        if keyPrefix.isEmpty {
            for (key, hit) in found where hit.isFresh(nowMilliseconds: now) { values[key] = hit.value }
            return values
        }
        for key in keys {
            if let hit = found[keyPrefix + key], hit.isFresh(nowMilliseconds: now) { values[key] = hit.value }
        }
        return values
    }

    /// `read` of the source, its failure naming the caller's key, not the view's.
    private func namingCallerKeys<Result>(_ read: () async throws -> Result) async throws -> Result {
        do {
            return try await read()
        } catch var error as StrataError {
            error.key = error.key.map(callerKey)
            throw error
        }
    }

    /// What a plain read returns of each key's entry (`entry(index)` for `keys[index]`, read
    /// from the source as `sourceKeys[index]`), by key, each checked as a single read checks
    /// it (``plainValue(of:key:as:)``), so a bulk read fails where a single read fails. A tag
    /// that several entries carry is read from the source once for the batch.
    private func plainValues<Value: Codable & Sendable>(
        _ keys: [String], _ sourceKeys: [String], as type: Value.Type, entry: (Int) -> StoredEntry?
    ) async throws -> [String: Value] {
        var values: [String: Value] = [:]
        values.reserveCapacity(keys.count)
        var tagInstants: [ByteKey: Int64] = [:]
        for index in keys.indices {
            guard let entry = entry(index),
                let value = try await plainValue(of: entry, key: sourceKeys[index], as: type, tagInstants: &tagInstants)
            else { continue }
            values[keys[index]] = value
        }
        return values
    }

    /// `read(_:as:for:sourceUnavailable:)` for many keys (prefix applied): the values found,
    /// fresh or, for a computation, in grace, by key. L1 answers first; the source is asked
    /// once for the rest (within `l2Timeout` for a computation, whose failing source is a miss
    /// for every key it was asked for). For a plain read with `l2ReadFailures = .treatAsMiss`,
    /// a key whose own entry is damaged is a miss and the rest are asked again without it (up
    /// to ``BulkKeys/maximumUnreadableKeys`` keys).
    /// `l1`: `.again` when the caller has looked at L1 for every key (its looks counted them).
    func readStored<Value: Codable & Sendable>(
        _ keys: [String], as type: Value.Type, for purpose: ReadPurpose, sourceUnavailable: inout Bool, l1: L1Look = .first
    ) async throws -> [String: StoredValue<Value>] {
        var found: [String: StoredValue<Value>] = [:]
        found.reserveCapacity(keys.count)
        var rest: [String] = []
        var now: Int64 = 0  // L1's copies are read at one instant, but across no suspension
        for key in keys {
            if let memory {
                if let hit = try await memory.storedValue(ByteKey(key), as: type, for: purpose, in: self) { found[key] = hit }
                continue
            }
            if let tiered {
                switch try await tiered.l1Read(ByteKey(key), as: type, for: purpose, look: l1, now: &now) {
                case .fresh(let hit):
                    found[key] = hit
                    continue
                case .stale(let hit) where purpose == .compute: found[key] = hit  // kept unless L2 has better
                case .stale, .missing: break
                }
            }
            rest.append(key)
        }
        guard !rest.isEmpty else { return found }
        // Taken before the source is read: a write that begins after it keeps its copy out of L1.
        var snapshots = rest.map { tiered?.tracker.snapshot(ByteKey($0)) }
        let started = tiered?.observing == true ? ContinuousClock.now : nil
        var entries: [String: StoredEntry] = [:]
        var dropped = 0  // keys whose own entry could not be read, each a miss
        while true {
            do {
                if let tiered, purpose == .compute {
                    guard
                        let read = try await tiered.timedL2(
                            rest[0], since: started, timedOut: &sourceUnavailable,
                            { [source, rest] in
                                try await source.entries(forKeys: rest)
                            })
                    else { return found }  // failed or timed out: reported
                    entries = read
                } else {
                    entries = try await source.entries(forKeys: rest)
                }
                break
            } catch let error as StrataError where error.code == .closed {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if purpose == .compute, tiered == nil { return found }  // a computation's failing source is a miss
                guard let tiered else { throw error }
                let failure = tiered.recordFailure(error, key: (error as? StrataError)?.key ?? rest[0], since: started)
                guard tiered.configuration.l2ReadFailures.isMiss else { throw failure }
                // One key that cannot be read is a miss for that key alone, as its own read
                // would be: the batch is asked again for the others.
                guard let position = BulkKeys.unreadableKey(named: error, in: rest, retries: dropped) else { return found }
                dropped += 1
                rest.remove(at: position)
                snapshots.remove(at: position)
                if rest.isEmpty { return found }
            }
        }
        for (index, key) in rest.enumerated() {
            if let hit = try await accept(entries[key], key: key, as: type, for: purpose, snapshot: snapshots[index], since: started) {
                found[key] = hit
            }
        }
        return found
    }

    /// Writes `values` (caller keys, validated) with `options` merged with the store's, or
    /// with the plain format expiring at `expiresAt` when `options` is `nil`: every entry made
    /// first (a value that does not encode writes nothing), then one batch through the tiers.
    func writeValues<Value: Codable & Sendable>(_ values: [String: Value], options: EntryOptions?, expiresAt: Timestamp?) async throws {
        guard !values.isEmpty else { return }
        var batch: [BulkWrite] = []
        batch.reserveCapacity(values.count)
        var merged: EntryOptions?
        if let options {
            merged = options.overriding(defaultOptions)
            try merged!.validate(key: keyPrefix + values.first!.key, backend: backendName)
            await prepareTags(merged!.tags)
        }
        // The tag epoch before the write instant, as a lease takes them: an invalidation that
        // lands between the two (its instant at or after the write's) then changes the epoch
        // the L1 copies are stamped with, so L1 checks their tags again.
        let epoch = tiered?.tagTable.epoch.load(ordering: .acquiring) ?? 0
        let writtenAt = hybridClock.writeStamp(now: clock.now().millisecondsSince1970)
        for key in BulkKeys.byteOrdered(values.keys) {
            let value = values[key]!
            let full = keyPrefix + key
            let made: (StoredEntry, EntryEnvelope?)
            if let merged {
                made = try makeEntry(value, options: merged, writtenAt: writtenAt, key: full)
            } else {
                let payload = try encode(value, key: full)
                made = Self.entry(payload: payload, expiresAt: expiresAt, options: EntryOptions(), writtenAt: writtenAt)
            }
            let (entry, envelope) = made
            let kept: (any AnyObject & Sendable)? =
                if let tiered { tiered.kept(value, envelope, checkedEpoch: epoch) } else { envelope == nil ? Kept.wrap(value) : nil }
            batch.append(BulkWrite(key: full, entry: entry, value: kept, hasEnvelope: envelope != nil))
        }
        if batch.contains(where: \.hasEnvelope) { try await EnvelopeMarker.mark(source) }
        for write in batch { LocalLeases.shared.breakLease(store: ObjectIdentifier(source), key: write.key) }
        defer { noteChanges(of: batch.map(\.key)) }  // once written (C1, R1)
        do {
            if let tiered {
                try await tiered.writeThrough(batch, to: source)
            } else if let memory {
                try memory.insert(
                    batch.map(\.key), batch.map { MemoryEntry(bytes: $0.entry.bytes, value: $0.value, expiresAt: $0.entry.expiresAt) })
            } else {
                try await source.setEntries(Dictionary(uniqueKeysWithValues: batch.map { ($0.key, $0.entry) }))
            }
        } catch var error as StrataError {
            // The caller's keys, not the view's.
            error.writtenKeys = error.writtenKeys.map { $0.map(callerKey) }
            error.key = error.key.map(callerKey)
            throw error
        }
    }

    /// Removes `keys` (caller keys, validated) in one batch; how many held an unexpired entry.
    func removeValues(_ keys: [String]) async throws -> Int {
        guard !keys.isEmpty else { return 0 }
        let fullKeys = keys.map { keyPrefix + $0 }
        for key in fullKeys { LocalLeases.shared.breakLease(store: ObjectIdentifier(source), key: key) }
        defer { noteChanges(of: fullKeys) }  // once removed (C1, R1)
        do {
            if let tiered { return try await tiered.removeThrough(fullKeys, from: source) }
            return try await source.removeEntries(forKeys: fullKeys)
        } catch var error as StrataError {
            error.key = error.key.map(callerKey)  // the caller's key, not the view's
            throw error
        }
    }
}

extension Pipeline {
    /// Notes a change of each of `keys` (prefix applied) to this store's flights (on a
    /// tiered store as well as its write tracker: a caller that joins a failing flight after
    /// the change looks again rather than take the failure).
    func noteChanges(of keys: [String]) {
        guard SingleFlight.shared.isRunningAny else { return }
        SingleFlight.shared.noteChanges(scope: flightScope, keys: keys)
    }
}

/// One entry of a bulk write, as the tiers take it.
struct BulkWrite: Sendable {
    /// The key, the view's prefix applied.
    let key: String
    let entry: StoredEntry
    /// What L1 keeps beside the bytes: the Swift value, or it with its envelope.
    let value: (any AnyObject & Sendable)?
    let hasEnvelope: Bool
}
