/// The default bulk requirements: one call per key, so that every store has them; a backend
/// that can batch (SQLite, Redis, a folder, memory, a tiered store) implements its own.
extension KeyValueStore {
    /// Reads each key with ``entry(forKey:)``; a missing or expired key is absent.
    public func entries(forKeys keys: [String]) async throws -> [String: StoredEntry] {
        var found: [String: StoredEntry] = [:]
        found.reserveCapacity(keys.count)
        for key in keys {
            if let entry = try await entry(forKey: key) { found[key] = entry }
        }
        return found
    }

    /// Writes each entry with ``setEntry(_:forKey:)`` in the keys' byte order; a failure
    /// part-way throws the backend's error with ``StrataError/writtenKeys`` set.
    public func setEntries(_ entries: [String: StoredEntry]) async throws {
        var written: [String] = []
        for key in BulkKeys.byteOrdered(entries.keys) {
            do {
                try await setEntry(entries[key]!, forKey: key)
            } catch {
                throw BulkKeys.partialWrite(error, written: written, key: key, backend: backendName)
            }
            written.append(key)
        }
    }

    /// Removes each key with ``removeEntry(forKey:)``; how many held an unexpired entry.
    @discardableResult
    public func removeEntries(forKeys keys: [String]) async throws -> Int {
        var removed = 0
        for key in keys where try await removeEntry(forKey: key) { removed += 1 }
        return removed
    }
}
