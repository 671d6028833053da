/// The write path: an entry made from a value and its options, written through the tiers
/// (the write tracker keeps L1 from holding a value that disagrees with L2), and announced;
/// and tag invalidations.
extension Pipeline {
    /// The entry to store for `value`: plain when no option needs metadata (and its bytes do
    /// not look like an envelope), else an envelope kept until its grace ends. `writtenAt` is
    /// when the write or the computation began, for its tags.
    func makeEntry<Value: Codable & Sendable>(
        _ value: Value, options: EntryOptions, writtenAt: Int64, key: String
    ) throws -> (StoredEntry, EntryEnvelope?) {
        // The options a computation chose (ComputeContext) are checked here, as the call's were.
        try options.validate(key: key, backend: backendName)
        let payload = try encode(value, key: key)
        let expiresAt = store.deadline(for: options.expires)
        return Self.entry(payload: payload, expiresAt: expiresAt, options: options, writtenAt: writtenAt)
    }

    /// The entry for an encoded value.
    static func entry(payload: [UInt8], expiresAt: Timestamp?, options: EntryOptions, writtenAt: Int64) -> (StoredEntry, EntryEnvelope?) {
        guard options.needsEnvelope || EntryEnvelope.hasMagic(payload) else {
            return (StoredEntry(bytes: payload, expiresAt: expiresAt), nil)
        }
        let envelope = EntryEnvelope(
            expiresAt: expiresAt?.millisecondsSince1970 ?? Int64.max, writtenAt: writtenAt, tags: options.tags ?? [])
        var keptUntil = expiresAt
        if let expiresAt, let grace = options.grace {
            keptUntil = grace.milliseconds.map { expiresAt.adding(milliseconds: $0) }
        }
        return (StoredEntry(bytes: envelope.encode(payload: payload), expiresAt: keptUntil), envelope)
    }

    /// `set(_:_:options:)`: `options` merged with the store's and checked, then written.
    func write<Value: Codable & Sendable>(_ key: String, _ value: Value, options: EntryOptions) async throws {
        let key = keyPrefix + key
        let merged = options.overriding(defaultOptions)
        try merged.validate(key: key, backend: backendName)
        await prepareTags(merged.tags)
        // The tag epoch before the write instant (see `store`).
        let epoch = tiered?.tagTable.epoch.load(ordering: .acquiring) ?? 0
        let writtenAt = hybridClock.writeStamp(now: clock.now().millisecondsSince1970)
        let (entry, envelope) = try makeEntry(value, options: merged, writtenAt: writtenAt, key: key)
        try await store(value, entry, envelope, forKey: key, checkedEpoch: epoch)
    }

    /// `set(_:_:expires:)`: the plain format, unless the value's bytes look like an envelope.
    func write<Value: Codable & Sendable>(_ key: String, _ value: Value, expiresAt: Timestamp?) async throws {
        let key = keyPrefix + key
        let payload = try encode(value, key: key)
        let epoch = tiered?.tagTable.epoch.load(ordering: .acquiring) ?? 0
        let writtenAt = EntryEnvelope.hasMagic(payload) ? hybridClock.writeStamp(now: clock.now().millisecondsSince1970) : 0
        let (entry, envelope) = Self.entry(payload: payload, expiresAt: expiresAt, options: EntryOptions(), writtenAt: writtenAt)
        try await store(value, entry, envelope, forKey: key, checkedEpoch: epoch)
    }

    /// The entry a plain write stores for bytes an adapter encoded itself (Vapor's and
    /// Hummingbird's stores): the bytes as they are, or inside an envelope when they begin as
    /// one does, as ``write(_:_:expiresAt:)`` stores a value's, so that no read takes a value's
    /// own bytes for Strata's metadata. The store is marked as holding envelopes then.
    package func plainEntry(_ payload: [UInt8], expiresAt: Timestamp?) async throws -> StoredEntry {
        guard EntryEnvelope.hasMagic(payload) else { return StoredEntry(bytes: payload, expiresAt: expiresAt) }
        let writtenAt = hybridClock.writeStamp(now: clock.now().millisecondsSince1970)
        try await EnvelopeMarker.mark(source)
        return Self.entry(payload: payload, expiresAt: expiresAt, options: EntryOptions(), writtenAt: writtenAt).0
    }

    /// Writes through the tiers: L2, then L1 (the Swift value beside its bytes), announced.
    /// `checkedEpoch`: the tag epoch loaded before the entry's write instant was taken, which
    /// its L1 copy is stamped with. Loaded after (past the envelope mark's await), it could
    /// count an invalidation whose instant is at or after the write's as checked, and L1
    /// would serve an entry L2 holds as invalidated (T1, R4).
    private func store<Value: Codable & Sendable>(
        _ value: Value, _ entry: StoredEntry, _ envelope: EntryEnvelope?, forKey key: String, checkedEpoch epoch: Int
    ) async throws {
        await PipelineGates.shared.pass(.beforeSet, key: key, scope: flightScope)
        if envelope != nil { try await EnvelopeMarker.mark(source) }
        defer { noteChanges(of: [key]) }  // once written (C1, R1)
        LocalLeases.shared.breakLease(store: ObjectIdentifier(source), key: key)
        if let tiered {
            try await tiered.writeThrough(key, entry, value: tiered.kept(value, envelope, checkedEpoch: epoch), to: source)
        } else if let memory {
            try memory.insert(
                ByteKey(key), MemoryEntry(bytes: entry.bytes, value: envelope == nil ? Kept.wrap(value) : nil, expiresAt: entry.expiresAt))
        } else {
            try await source.setEntry(entry, forKey: key)
        }
    }

    /// Makes every entry carrying any of `tags` unreadable: records each tag's invalidation
    /// instant in the store (max-merged), and through a tiered store in its tag table and,
    /// with its bus, in other instances'.
    func invalidate(tags: [String]) async throws {
        for tag in tags { try EntryEnvelope.validateTag(tag, backend: backendName) }
        let instant = hybridClock.invalidationStamp(now: clock.now().millisecondsSince1970)
        for tag in tags {
            if let tiered {
                try await tiered.raiseRecord(named: ReservedRecords.tagRecord(tag), to: instant, in: source)
            } else {
                try await source.raiseRecord(named: ReservedRecords.tagRecord(tag), to: instant)
            }
        }
    }

    /// The entry at `key` as a plain read sees it: the value's bytes (an envelope removed)
    /// and the end of its lifetime (its grace not counted); `nil` when missing, past its
    /// lifetime, or invalidated by a tag.
    func readableEntry(_ key: String) async throws -> StoredEntry? {
        guard let found = try await read(keyPrefix + key, as: [UInt8].self, for: .plain) else { return nil }
        let expiresAt =
            found.envelope.map { $0.expiresAt == Int64.max ? nil : Timestamp(millisecondsSince1970: $0.expiresAt) }
            ?? found.keptUntil
        return StoredEntry(bytes: found.value, expiresAt: expiresAt)
    }

    /// Whether `key` holds an entry a plain read returns. An entry the backend cannot read
    /// (foreign data) counts as present. Read as a plain `get` of bytes reads it, which asks
    /// a store of one tier for no lifetime (Redis: `GET` without `PTTL`), since none is kept.
    func contains(_ key: String) async throws -> Bool {
        do {
            return try await readValue(key, as: [UInt8].self) != nil
        } catch let error as StrataError where error.code == .corruptEntry {
            return true
        }
    }

    /// Writes `entry` at `key` only if a plain read finds no value there: nothing, an
    /// expired entry, one past its lifetime (kept for its grace) or invalidated by a tag. Of
    /// racing callers at most one wins (exactly one over nothing, where the backend's own
    /// `setEntryIfAbsent` decides): an entry a plain read does not return is first removed
    /// under a lease (so a value written meanwhile is never removed), then the backend
    /// decides. A caller whose removal keeps losing to other changes gives up after 8 rounds.
    package func setIfAbsent(_ key: String, _ entry: StoredEntry) async throws -> Bool {
        let key = keyPrefix + key
        let store = self.store
        defer { noteChanges(of: [key]) }  // it may have written or removed (C1, R1)
        for _ in 0..<8 {
            LocalLeases.shared.breakLease(store: ObjectIdentifier(source), key: key)
            if try await store.setEntryIfAbsent(entry, forKey: key) { return true }
            // A value a plain read returns is there: nothing to do (and no lease taken, so a
            // computation's lease on the key holds).
            guard try await !isReadable(key, in: store) else { return false }
            let lease = EntryLease.random()
            let current: StoredEntry?
            do {
                current = try await store.leaseEntry(forKey: key, lease: lease, duration: .seconds(60))
            } catch let error as StrataError where error.code == .corruptEntry {
                return false  // something is there, which the store cannot read: present
            }
            var tagInstants: [ByteKey: Int64] = [:]
            if let current, try await readableOffset(current.bytes, tagInstants: &tagInstants) != nil {
                try? await store.releaseLease(lease, forKey: key)
                return false
            }
            // Past its lifetime, or gone meanwhile: remove it (an entry already expired), unless it changed.
            let expired = StoredEntry(bytes: [], expiresAt: Timestamp(millisecondsSince1970: 0))
            _ = try await store.setEntry(expired, forKey: key, ifLeased: lease, keepingLease: false)
        }
        return false
    }

    /// Whether `key` (prefix applied) holds an entry a plain read returns; an entry the store
    /// cannot read counts as one.
    private func isReadable(_ key: String, in store: any KeyValueStore) async throws -> Bool {
        let current: StoredEntry?
        do {
            current = try await store.entry(forKey: key)
        } catch let error as StrataError where error.code == .corruptEntry {
            return true
        }
        guard let current else { return false }
        var tagInstants: [ByteKey: Int64] = [:]
        return try await readableOffset(current.bytes, tagInstants: &tagInstants) != nil
    }
}
