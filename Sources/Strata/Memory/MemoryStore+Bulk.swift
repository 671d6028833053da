/// Bulk calls in one pass: the keys are grouped by shard, and each shard's lock is taken
/// once for all its keys, which it handles in the order given exactly as single calls
/// would (the same request counting, recency, lease breaking, eviction and sweep steps).
extension MemoryStore {
    /// The unexpired entries of `keys`, each marked most recently used; one lock per shard.
    public func entries(forKeys keys: [String]) async throws -> [String: StoredEntry] {
        var found = [StoredEntry?](repeating: nil, count: keys.count)
        let batch = keys.map(ByteKey.init)
        var now: Int64 = 0  // the batch is read at one instant
        try forEachShard(of: batch) { state, indices, hashes in
            for (index, hash) in zip(indices, hashes) {
                guard let slot = state.table.slotCountingRequest(of: batch[index], hash: UInt32(truncatingIfNeeded: hash)),
                    !expireIfNeeded(slot, in: &state, now: &now)
                else { continue }
                state.table.touch(slot)
                let entry = state.table.entry(at: slot)
                found[index] = StoredEntry(bytes: entry.bytes, expiresAt: entry.expiresAtTimestamp)
            }
        }
        return StoredEntry.byKey(keys, found)
    }

    /// Writes every entry, breaking each key's lease, one lock per shard. An entry larger
    /// than its shard's share of `maxBytes` is refused before anything is written
    /// (`valueTooLarge`, with empty ``StrataError/writtenKeys``); a store closed part-way
    /// reports the keys it wrote.
    public func setEntries(_ entries: [String: StoredEntry]) async throws {
        let keys = BulkKeys.byteOrdered(entries.keys)
        try insert(keys, keys.map { MemoryEntry(bytes: entries[$0]!.bytes, value: nil, expiresAt: entries[$0]!.expiresAt) })
    }

    /// Inserts `made[i]` at `keys[i]` (sorted by their bytes) as ``setEntries(_:)`` does: every
    /// size checked before anything is written, then one pass per shard; the typed bulk `set`
    /// uses it with the Swift values beside the bytes.
    func insert(_ keys: [String], _ made: [MemoryEntry]) throws {
        let batch = keys.map(ByteKey.init)
        for (index, key) in batch.enumerated() {
            do {
                try checkSize(key, made[index], maxBytes: shareOfMaxBytes(hash: key.hashValue))
            } catch {
                throw BulkKeys.partialWrite(error, written: [], key: keys[index], backend: backendName)
            }
        }
        var written: [String] = []
        do {
            try forEachShard(of: batch) { state, indices, hashes in
                for (index, hash) in zip(indices, hashes) {
                    state.breakLease(batch[index])
                    state.table.set(batch[index], made[index], hash: UInt32(truncatingIfNeeded: hash))
                    afterWrite(&state)
                    written.append(keys[index])
                }
            }
        } catch {
            let done = Set(written)
            throw BulkKeys.partialWrite(error, written: written, key: keys.first { !done.contains($0) } ?? keys[0], backend: backendName)
        }
    }

    /// Removes `keys`, breaking their leases, one lock per shard; how many held an unexpired entry.
    @discardableResult
    public func removeEntries(forKeys keys: [String]) async throws -> Int {
        let batch = keys.map(ByteKey.init)
        var removed = 0
        try forEachShard(of: batch) { state, indices, hashes in
            for (index, hash) in zip(indices, hashes) {
                let key = batch[index]
                state.breakLease(key)
                guard let slot = state.table.slot(of: key, hash: UInt32(truncatingIfNeeded: hash)),
                    !expireIfNeeded(slot, in: &state)
                else { continue }
                state.table.remove(at: slot)
                removed += 1
            }
        }
        return removed
    }

    /// Runs `body` once per shard that holds one of `keys`, under that shard's lock, with the
    /// positions of its keys in `keys` (in order) and their hashes. Shards in index order,
    /// one lock at a time; a closed store throws at the first shard.
    func forEachShard(of keys: [ByteKey], _ body: (inout State, [Int], [Int]) throws -> Void) throws {
        guard !keys.isEmpty else {
            return try shards.withLock(0) { state in if state.isClosed { throw closedError } }
        }
        var groups = [(indices: [Int], hashes: [Int])](repeating: ([], []), count: shards.count)
        for (index, key) in keys.enumerated() {
            let hash = key.hashValue
            let shard = (hash >> 40) & shardMask
            groups[shard].indices.append(index)
            groups[shard].hashes.append(hash)
        }
        for group in groups where !group.indices.isEmpty {
            try withOpenTable(hash: group.hashes[0]) { state in try body(&state, group.indices, group.hashes) }
        }
    }

    /// The share of `maxBytes` of the shard a key whose `hashValue` is `hash` lives in.
    func shareOfMaxBytes(hash: Int) -> Int {
        guard let maxBytes = configuration.maxBytes else { return .max }
        return Self.share(of: maxBytes, shard: (hash >> 40) & shardMask, count: shards.count)
    }
}
