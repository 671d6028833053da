/// Bulk calls on a tiered store: L1 answers what it holds, L2 is asked once for the rest,
/// and a batch of changes is announced to other instances as one.
extension TieredStore {
    /// The unexpired entries of `keys` as stored: L1's copies, then one L2 batch for the rest,
    /// copied into L1 (unless a write of the key began meanwhile).
    public func entries(forKeys keys: [String]) async throws -> [String: StoredEntry] {
        var found: [String: StoredEntry] = [:]
        var rest: [String] = []
        var now: Int64 = 0  // L1's copies are read at one instant
        for key in keys {
            if let cached = try l1.lookUp(ByteKey(key), now: &now) {
                counters.l1Hits.increment()
                report(.hit, .l1, key, since: nil)
                found[key] = StoredEntry(bytes: cached.bytes, expiresAt: cached.expiresAtTimestamp)
            } else {
                rest.append(key)
            }
        }
        guard !rest.isEmpty else { return found }
        var snapshots = rest.map { tracker.snapshot(ByteKey($0)) }
        let started = observing ? ContinuousClock.now : nil
        var read: [String: StoredEntry] = [:]
        var dropped = 0  // keys whose own entry could not be read, each a miss
        while true {
            do {
                read = try await l2.entries(forKeys: rest)
                break
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let failure = recordFailure(error, key: (error as? StrataError)?.key ?? rest[0], since: started)
                guard configuration.l2ReadFailures.isMiss else { throw failure }
                // One key that cannot be read is a miss for that key alone; the others are asked again.
                guard let position = BulkKeys.unreadableKey(named: error, in: rest, retries: dropped) else { return found }
                dropped += 1
                rest.remove(at: position)
                snapshots.remove(at: position)
                if rest.isEmpty { return found }
            }
        }
        // Two keys Swift compares equal whose bytes differ are one key of `read`: which of them
        // its entry is, is unknown, so neither is copied into L1 (a read of either asks L2).
        let ambiguous = BulkKeys.equalAsStringsOnly(rest)
        for (index, key) in rest.enumerated() {
            guard let entry = read[key] else {
                countMiss(key, since: started)
                continue
            }
            countL2Hit(key, since: started)
            if !ambiguous.contains(key) { fill(ByteKey(key), entry, value: nil, snapshot: snapshots[index]) }
            found[key] = entry
        }
        return found
    }

    /// Writes every entry to L2 in one batch, then to L1; announced as one batch.
    public func setEntries(_ entries: [String: StoredEntry]) async throws {
        let batch = BulkKeys.byteOrdered(entries.keys).map {
            BulkWrite(key: $0, entry: entries[$0]!, value: nil, hasEnvelope: false)
        }
        try await writeThrough(batch, to: l2)
    }

    /// Removes `keys` from L2 in one batch and drops their L1 copies; announced as one batch.
    @discardableResult
    public func removeEntries(forKeys keys: [String]) async throws -> Int {
        try await removeThrough(keys, from: l2)
    }

    /// Removes `keys` from `source` (L2, or a view of it) in one batch and drops their L1
    /// copies; announced as one batch, whether or not L2 answered.
    func removeThrough(_ keys: [String], from source: any KeyValueStore) async throws -> Int {
        guard !keys.isEmpty else { return 0 }
        let started = observing ? ContinuousClock.now : nil
        let tickets = tracker.beginWrites(keys.map(ByteKey.init))
        let removed: Int
        do {
            removed = try await source.removeEntries(forKeys: keys)
        } catch {
            for (index, key) in keys.enumerated() { finishDroppingL1Copy(tickets[index], ByteKey(key)) }
            // Some may be gone from L2: other instances must not keep them. Even when it
            // throws `closed`: a batch sent in chunks may have sent some before the store closed.
            await announce(keys)
            throw l2Failure(error, key: (error as? StrataError)?.key ?? keys[0], since: started)
        }
        for (index, key) in keys.enumerated() {
            finishDroppingL1Copy(tickets[index], ByteKey(key))
            report(.invalidate, .l2, key, since: started)
        }
        await announce(keys)
        return removed
    }

    /// Writes `batch` to `source` (L2, or a view of it) in one call, then keeps each value (or
    /// its bytes) in L1 if no other write of its key in this process raced it; announces the
    /// batch as one. A batch that fails drops every key's L1 copy and announces every key:
    /// L2 may hold the new value or the old one of any key it did not answer for.
    func writeThrough(_ batch: [BulkWrite], to source: any KeyValueStore) async throws {
        guard !batch.isEmpty else { return }
        let started = observing ? ContinuousClock.now : nil
        let tickets = tracker.beginWrites(batch.map { ByteKey($0.key) })
        do {
            try await source.setEntries(Dictionary(uniqueKeysWithValues: batch.map { ($0.key, $0.entry) }))
        } catch {
            for (index, write) in batch.enumerated() { finishDroppingL1Copy(tickets[index], ByteKey(write.key)) }
            await announce(batch.map(\.key))  // even when `closed`: as for a delete, above
            throw l2Failure(error, key: (error as? StrataError)?.key ?? batch[0].key, since: started)
        }
        let deadline = l1Deadline()
        for (index, write) in batch.enumerated() {
            let key = ByteKey(write.key)
            let copy = MemoryEntry(bytes: write.entry.bytes, value: write.value, expiresAt: write.entry.expiresAt, keptUntil: deadline)
            tracker.finishWrite(
                tickets[index], keep: { try? l1.store(key, copy, hash: tickets[index].keyHash) }, drop: { try? l1.remove(key) })
            TieredCounters.bump(counters.writes)
            report(.write, .l2, write.key, since: started)
        }
        await announce(batch.map(\.key))
    }

    /// Announces a change of each of `keys` to other instances, as one batch.
    func announce(_ keys: [String]) async {
        guard !keys.isEmpty, let publisher = configuration.invalidationPublisher else { return }
        await publisher.publish(keys.map(Invalidation.key))
    }

}
