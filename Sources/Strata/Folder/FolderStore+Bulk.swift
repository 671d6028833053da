/// Bulk calls: reads in parallel on the store's file threads, writes and removals one key
/// after another on one of them, each exactly as the single call (an atomic rename under
/// the lock that breaks the key's lease; a removal of the lease and the slot under it).
extension FolderStore {
    /// The unexpired entries of `keys`, read in parallel: the keys split into one run per
    /// file thread. A file that is not a valid entry throws `corruptEntry` naming its key.
    public func entries(forKeys keys: [String]) async throws -> [String: StoredEntry] {
        guard !keys.isEmpty else { return try await onFileThread { [:] } }
        let runs = min(threads.count, keys.count)
        let found = try await withThrowingTaskGroup(of: [(Int, StoredEntry)].self) { group in
            for run in 0..<runs {
                group.addTask { [self] in
                    try await onFileThread { [self] in
                        try stride(from: run, to: keys.count, by: runs).compactMap { index in
                            try readUnexpiredEntry(keys[index]).map { (index, $0) }
                        }
                    }
                }
            }
            var found = [StoredEntry?](repeating: nil, count: keys.count)
            for try await entries in group { for (index, entry) in entries { found[index] = entry } }
            return found
        }
        return StoredEntry.byKey(keys, found)
    }

    /// Writes each entry as ``setEntry(_:forKey:)`` does, in the keys' byte order, on one
    /// file thread. A failure stops the batch: the error names the key that failed, and
    /// its ``StrataError/writtenKeys`` are the keys written before it.
    public func setEntries(_ entries: [String: StoredEntry]) async throws {
        let keys = BulkKeys.byteOrdered(entries.keys)
        let backend = backendName
        try await onFileThread { [self] in
            for (index, key) in keys.enumerated() {
                do {
                    try writeEntry(entries[key]!, forKey: key, holdingLock: false)
                } catch {
                    throw BulkKeys.partialWrite(error, written: Array(keys[..<index]), key: key, backend: backend)
                }
            }
        }
    }

    /// Removes each key as ``removeEntry(forKey:)`` does (its lease, then its slot), on one
    /// file thread; how many held an unexpired entry.
    @discardableResult
    public func removeEntries(forKeys keys: [String]) async throws -> Int {
        try await onFileThread { [self] in
            try keys.reduce(0) { removed, key in try removeSlot(of: key) ? removed + 1 : removed }
        }
    }
}
