/// Operations over many keys: each shard in turn, results merged in byte order.
extension MemoryStore {
    /// The unexpired keys that start with `prefix`, sorted by UTF-8 bytes.
    /// O(log entries + matches) per shard, from each shard's sorted key index.
    public func storedKeys(prefix: String) async throws -> [String] {
        try memoryEntries(prefix: prefix).map(\.key)
    }

    /// The unexpired entries whose keys start with `prefix`, in one pass over the shards,
    /// sorted by key. A listing does not count as use: it changes no entry's recency or
    /// frequency, so a scan does not push out the entries that are read.
    public func storedEntries(prefix: String) async throws -> [(key: String, entry: StoredEntry)] {
        try memoryEntries(prefix: prefix).map { ($0.key, StoredEntry(bytes: $0.entry.bytes, expiresAt: $0.entry.expiresAtTimestamp)) }
    }

    /// The typed `entries(prefix:as:)`: the Swift values the entries were written as where
    /// the type matches, decoded bytes elsewhere.
    func valueEntries<Value: Codable & Sendable>(prefix: String, as type: Value.Type) async throws -> [(key: String, value: Value)] {
        var result: [(key: String, value: Value)] = []
        var tagInstants: [ByteKey: Int64] = [:]
        let pipeline = self.pipeline
        for (key, entry) in try memoryEntries(prefix: prefix) where !ReservedRecords.isReserved(key) {
            if let value = Kept<Value>.read(entry.value) {
                result.append((key, value))
            } else if let value = try await pipeline.readableValue(entry.bytes, as: type, key: key, tagInstants: &tagInstants) {
                result.append((key, value))
            }
        }
        return result
    }

    private func memoryEntries(prefix: String) throws -> [(key: String, entry: MemoryEntry)] {
        let now = clock.now().millisecondsSince1970
        // Each shard's keys come sorted from its index: the runs are merged, not sorted again
        // (a sort of 10,000 keys from 32 shards was most of the listing).
        var runs: [[(key: String, entry: MemoryEntry)]] = []
        try withEveryOpenTable { state in
            var run: [(key: String, entry: MemoryEntry)] = []
            for key in state.table.keys(withPrefix: prefix) {
                guard let slot = state.table.slot(of: key) else { continue }
                let entry = state.table.entry(at: slot)
                if !entry.isExpired(nowMilliseconds: now) { run.append((key.string, entry)) }
            }
            if !run.isEmpty { runs.append(run) }
        }
        return Self.merged(runs)
    }

    /// Runs sorted by key, merged into one sorted list: pairs of runs at a time, so each
    /// entry is compared about log2(runs) times.
    static func merged<Element>(_ runs: [[(key: String, entry: Element)]]) -> [(key: String, entry: Element)] {
        var runs = runs
        while runs.count > 1 {
            var next: [[(key: String, entry: Element)]] = []
            next.reserveCapacity((runs.count + 1) / 2)
            for index in stride(from: 0, to: runs.count, by: 2) {
                guard index + 1 < runs.count else {
                    next.append(runs[index])
                    continue
                }
                let (left, right) = (runs[index], runs[index + 1])
                var both: [(key: String, entry: Element)] = []
                both.reserveCapacity(left.count + right.count)
                var (l, r) = (0, 0)
                while l < left.count && r < right.count {
                    if KeyRules.byteOrder(right[r].key, left[l].key) {
                        both.append(right[r])
                        r += 1
                    } else {
                        both.append(left[l])
                        l += 1
                    }
                }
                both.append(contentsOf: left[l...])
                both.append(contentsOf: right[r...])
                next.append(both)
            }
            runs = next
        }
        return runs.first ?? []
    }

    /// Removes the keys that start with `prefix`. O(log entries + matches) per shard.
    @discardableResult
    public func clear(prefix: String) async throws -> Int {
        defer { noteChange(under: prefix) }  // once cleared: flights of its keys are overtaken (C1, R1)
        let now = clock.now().millisecondsSince1970
        var removed = 0
        try withEveryOpenTable { state in
            if !state.leases.isEmpty {
                for key in state.leases.keys where KeyRules.key(key.string, hasPrefix: prefix) { state.leases[key] = nil }
            }
            if prefix.isEmpty {
                removed += state.table.occupiedSlots().count { !state.table.entry(at: $0).isExpired(nowMilliseconds: now) }
                state.table.removeAll()
                return
            }
            for key in state.table.keys(withPrefix: prefix) {
                guard let slot = state.table.slot(of: key) else { continue }
                if !state.table.remove(at: slot).isExpired(nowMilliseconds: now) { removed += 1 }
            }
        }
        return removed
    }

    /// Removes every expired entry now; returns how many.
    @discardableResult
    public func sweepExpired() async throws -> Int {
        let now = clock.now().millisecondsSince1970
        var removed = 0
        try withEveryOpenTable { state in
            var removedHere = 0
            for slot in state.table.occupiedSlots() where state.table.entry(at: slot).isExpired(nowMilliseconds: now) {
                state.table.remove(at: slot)
                removedHere += 1
            }
            state.expirations += removedHere
            removed += removedHere
        }
        return removed
    }

    /// Sweeps expired entries every ``Configuration/sweepInterval`` until cancelled, then
    /// returns normally (service-lifecycle style: run it in a task group or a service group;
    /// with the `ServiceLifecycle` trait it is a `Service` and stops on graceful shutdown).
    ///
    /// ```swift
    /// try await withThrowingDiscardingTaskGroup { group in
    ///     group.addTask { try await memory.run() }
    ///     ...
    /// }
    /// ```
    public func run() async throws {
        try await Background.repeating(every: configuration.sweepInterval, until: { [self] in shards.withLock(0) { $0.isClosed } }) {
            [self] in try await sweepExpired()
        }
    }

    /// Drops every entry; later calls throw ``StrataError/Code/closed``.
    public func close() async {
        for shard in 0..<shards.count {
            shards.withLock(shard) { state in
                state.table.removeAll()
                state.leases.removeAll()
                state.isClosed = true
            }
        }
    }
}
