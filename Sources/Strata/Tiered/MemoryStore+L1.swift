import Synchronization

/// What only a ``TieredStore`` asks of its L1: synchronous calls in this module, on byte keys.
extension MemoryStore {
    /// Stores `entry`, or, when it is larger than the store will hold, removes what the
    /// key held: an L1 must never keep an older value than the one just written to L2.
    func store(_ key: ByteKey, _ entry: MemoryEntry) throws {
        try store(key, entry, hash: key.hashValue)
    }

    /// ``store(_:_:)`` of a key whose `hashValue` the caller has already computed.
    func store(_ key: ByteKey, _ entry: MemoryEntry, hash: Int) throws {
        do {
            try insert(key, entry, hash: hash)
        } catch let error as StrataError where error.code == .valueTooLarge {
            try remove(key)
        }
    }

    /// Removes `key` if present.
    func remove(_ key: ByteKey) throws {
        try withOpenTable(key) { state in
            if let slot = state.table.slot(of: key) { state.table.remove(at: slot) }
        }
    }

    /// Removes every key that starts with `prefix`, O(log entries + matches).
    func removeAll(prefix: String) throws {
        try withEveryOpenTable { state in
            if prefix.isEmpty { return state.table.removeAll() }
            for key in state.table.keys(withPrefix: prefix) {
                if let slot = state.table.slot(of: key) { state.table.remove(at: slot) }
            }
        }
    }

    /// `key`'s unexpired entry, without touching its recency or counting a request.
    func peekEntry(_ key: ByteKey) throws -> MemoryEntry? {
        try withOpenTable(key) { state in
            guard let slot = state.table.slot(of: key), !expireIfNeeded(slot, in: &state) else { return nil }
            return state.table.entry(at: slot)
        }
    }

    /// The bytes of `key`'s unexpired entry, without touching its recency.
    func peek(_ key: ByteKey) throws -> [UInt8]? {
        try withOpenTable(key) { state in
            guard let slot = state.table.slot(of: key), !expireIfNeeded(slot, in: &state) else { return nil }
            return state.table.entry(at: slot).bytes
        }
    }
}
