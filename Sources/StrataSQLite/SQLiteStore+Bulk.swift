import CSQLite
import Strata

/// Bulk calls: a read is one query per chunk of up to 512 keys (see
/// `SQLiteQueries.bulkReads`), a write or removal one immediate transaction, all or
/// nothing. Each runs where a single call would (inline on a free connection, else on the
/// connection's own thread), a batch of more than ``inlineBatchLimit`` keys always on the
/// connection's thread, as a listing does.
extension SQLiteStore {
    /// The most keys a batch runs inline on the caller's thread: about 100 µs of SQLite work.
    static let inlineBatchLimit = 128

    /// The unexpired rows of `keys`, from one query per chunk of up to 512 keys, looked up by
    /// their exact bytes; a row that is not a valid entry throws `corruptEntry` naming its key.
    public func entries(forKeys keys: [String]) async throws -> [String: StoredEntry] {
        guard !keys.isEmpty else { return try await perform(nil) { [:] } }
        let now = clock.now().millisecondsSince1970
        let queries = self.queries
        let found = try await read(keys[0], long: keys.count > Self.inlineBatchLimit) { connection in
            var found = [StoredEntry?](repeating: nil, count: keys.count)
            var start = 0
            while start < keys.count {
                let chunk = keys[start..<min(keys.count, start + SQLiteQueries.bulkReadSizes.last!)]
                let (query, size) = queries.bulkRead(holding: chunk.count)
                try withKeyBytes(chunk) { keyBytes in
                    try connection.statement(query).run { statement in
                        for (offset, bytes) in keyBytes.enumerated() { try statement.bind(Int32(offset + 1), borrowedText: bytes) }
                        try statement.bind(Int32(size + 1), integer: now)
                        while try statement.step() {
                            let index = start + Int(statement.integer(0))
                            found[index] = try Self.entry(from: statement, first: 1, key: keys[index])
                        }
                    }
                }
                start = chunk.endIndex
            }
            return found
        }
        return StoredEntry.byKey(keys, found)
    }

    /// Upserts every entry in one immediate transaction, in the keys' byte order (each
    /// upsert's trigger deletes its key's lease). A failure rolls the whole batch back: the
    /// error has empty `StrataError.writtenKeys` and names the key whose statement failed
    /// (the first key when the commit failed).
    public func setEntries(_ entries: [String: StoredEntry]) async throws {
        let ordered = BulkKeys.byteOrdered(entries.keys)
        guard let first = ordered.first else { return try await perform(nil) {} }
        let batch = ordered.map { ($0, entries[$0]!) }
        let sql = queries.set
        do {
            try await write(first, long: batch.count > Self.inlineBatchLimit) { connection in
                try connection.immediateTransaction {
                    for (key, entry) in batch {
                        try Self.atKey(key) {
                            try withUTF8(key) { keyBytes in try Self.upsert(entry, keyBytes: keyBytes, sql: sql, on: connection) }
                        }
                    }
                }
            }
        } catch {
            throw BulkKeys.partialWrite(error, written: [], key: first, backend: backendName)
        }
    }

    /// Deletes each key's lease and row in one immediate transaction (as ``removeEntry(forKey:)``
    /// does for one); how many rows were unexpired.
    @discardableResult
    public func removeEntries(forKeys keys: [String]) async throws -> Int {
        guard !keys.isEmpty else { return try await perform(nil) { 0 } }
        let now = clock.now().millisecondsSince1970
        let queries = self.queries
        return try await write(keys[0], long: keys.count > Self.inlineBatchLimit) { connection in
            try connection.immediateTransaction {
                var removed = 0
                for key in keys {
                    let unexpired = try Self.atKey(key) {
                        try withUTF8(key) { keyBytes in try Self.deleteRow(keyBytes: keyBytes, now: now, queries: queries, on: connection) }
                    }
                    if unexpired { removed += 1 }
                }
                return removed
            }
        }
    }

    /// Runs one key's statements of a batch; a failure (but a busy one, which the lane
    /// retries whole on its own thread) names the key.
    static func atKey<Output>(_ key: String, _ body: () throws -> Output) throws -> Output {
        do {
            return try body()
        } catch let failure as SQLiteFailure where !failure.isBusy {
            throw KeyedFailure(key: key, underlying: failure)
        }
    }
}

/// Runs `body` with the UTF-8 bytes of each of `keys`, all borrowed from one buffer (one
/// allocation for the batch, where binding each key as a copy would make one per key).
func withKeyBytes<Output>(_ keys: ArraySlice<String>, _ body: ([UnsafeBufferPointer<UInt8>]) throws -> Output) rethrows -> Output {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(keys.reduce(0) { $0 + $1.utf8.count })
    var ends: [Int] = []
    ends.reserveCapacity(keys.count)
    for key in keys {
        bytes.append(contentsOf: key.utf8)
        ends.append(bytes.count)
    }
    return try bytes.withUnsafeBufferPointer { buffer in
        var start = 0
        let slices = ends.map { end in
            defer { start = end }
            return UnsafeBufferPointer(rebasing: buffer[start..<end])
        }
        return try body(slices)
    }
}
