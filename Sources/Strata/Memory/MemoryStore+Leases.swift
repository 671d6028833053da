/// Leases and records, under the shard's lock: a check and the write it guards are one
/// step, and every change of a key (`set`, `delete`, `increment`, `expire`, `setIfAbsent`
/// that wrote, `clear` of a prefix) breaks its lease in the same step.
extension MemoryStore {
    /// Makes `lease` the key's lease, then reads the entry.
    public func leaseEntry(forKey key: String, lease: EntryLease, duration: Duration) async throws -> StoredEntry? {
        let byteKey = ByteKey(key)
        let now = clock.now()
        let until = now.adding(milliseconds: max(1, duration.wholeMilliseconds(roundingUp: true))).millisecondsSince1970
        return try withOpenTable(byteKey) { state in
            state.leases[byteKey] = (lease.token, until)
            guard let slot = state.table.slot(of: byteKey), !expireIfNeeded(slot, in: &state) else { return nil }
            let entry = state.table.entry(at: slot)
            return StoredEntry(bytes: entry.bytes, expiresAt: entry.expiresAtTimestamp)
        }
    }

    /// Writes while `lease` is the key's live lease.
    public func setEntry(_ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool) async throws -> Bool {
        try setEntry(
            MemoryEntry(bytes: entry.bytes, value: nil, expiresAt: entry.expiresAt), forKey: ByteKey(key), ifLeased: lease,
            keepingLease: keepingLease)
    }

    /// `setEntry(_:forKey:ifLeased:keepingLease:)` of a memory entry (which may keep the Swift value).
    func setEntry(_ entry: MemoryEntry, forKey key: ByteKey, ifLeased lease: EntryLease, keepingLease: Bool) throws -> Bool {
        let hash = key.hashValue
        let now = clock.now().millisecondsSince1970
        return try withOpenTable(hash: hash) { state in
            guard let held = state.leases[key], held.token == lease.token else { return false }
            guard held.until > now else {
                state.leases[key] = nil
                return false
            }
            try checkSize(key, entry, in: state)
            if !keepingLease { state.leases[key] = nil }
            state.table.set(key, entry, hash: UInt32(truncatingIfNeeded: hash))
            afterWrite(&state)
            return true
        }
    }

    /// Ends `lease` if it is the key's lease.
    public func releaseLease(_ lease: EntryLease, forKey key: String) async throws {
        let byteKey = ByteKey(key)
        try withOpenTable(byteKey) { state in
            if state.leases[byteKey]?.token == lease.token { state.leases[byteKey] = nil }
        }
    }

    /// The records' values; 0 for a name never recorded.
    public func records(named names: [String]) async throws -> [Int64] {
        try checkOpen()
        return recordValues.withLock { records in names.map { records[ByteKey($0)] ?? 0 } }
    }

    /// Keeps the greater of `value` and the recorded value.
    public func raiseRecord(named name: String, to value: Int64) async throws {
        try checkOpen()
        let name = ByteKey(name)
        recordValues.withLock { records in records[name] = max(records[name] ?? 0, value) }
    }

    private func checkOpen() throws {
        if shards.withLock(0, { $0.isClosed }) { throw closedError }
    }
}
