import CSQLite
import Strata

/// Writes, on the writer's lane: one statement each where one statement is the whole change
/// (its lease is broken by the table's triggers, in the same statement); a read-modify-write,
/// or a change that also deletes leases itself, in `BEGIN IMMEDIATE`.
extension SQLiteStore {
    /// Inserts or replaces the row for `key`, one statement: the table's trigger deletes the
    /// key's lease in it.
    public func setEntry(_ entry: StoredEntry, forKey key: String) async throws {
        let sql = queries.set
        try await write(key) { connection in
            try withUTF8(key) { keyBytes in try Self.upsert(entry, keyBytes: keyBytes, sql: sql, on: connection) }
        }
    }

    /// Runs the upsert `sql` (``SQLiteQueries/set``) of `entry` for the key whose UTF-8 bytes are `keyBytes`.
    static func upsert(_ entry: StoredEntry, keyBytes: UnsafeBufferPointer<UInt8>, sql: Query, on connection: SQLiteConnection) throws {
        try entry.bytes.withUnsafeBytes { valueBytes in
            try connection.statement(sql).run { statement in
                try statement.bind(1, borrowedText: keyBytes)
                try statement.bind(2, borrowedBlob: valueBytes)
                try statement.bind(3, integer: entry.expiresAt?.millisecondsSince1970)
                _ = try statement.step()
            }
        }
    }

    /// One upsert that replaces only an expired row: `true` when it wrote (and then the
    /// trigger deleted the key's lease in the same statement).
    public func setEntryIfAbsent(_ entry: StoredEntry, forKey key: String) async throws -> Bool {
        let now = clock.now().millisecondsSince1970
        let sql = queries.setIfAbsent
        return try await write(key) { connection in
            try connection.statement(sql).run { statement in
                try statement.bind(1, text: key)
                try statement.bind(2, blob: entry.bytes)
                try statement.bind(3, integer: entry.expiresAt?.millisecondsSince1970)
                try statement.bind(4, integer: now)
                _ = try statement.step()
                return connection.changes == 1
            }
        }
    }

    /// Deletes the key's lease and its row in one immediate transaction (a delete breaks
    /// the lease of a key with no row too); `true` when the row was unexpired.
    @discardableResult
    public func removeEntry(forKey key: String) async throws -> Bool {
        let now = clock.now().millisecondsSince1970
        let queries = self.queries
        return try await write(key) { connection in
            try withUTF8(key) { keyBytes in
                try connection.immediateTransaction { try Self.deleteRow(keyBytes: keyBytes, now: now, queries: queries, on: connection) }
            }
        }
    }

    /// Deletes the lease and the row of the key whose UTF-8 bytes are `keyBytes` (the caller
    /// holds a transaction); whether the row was unexpired at `now`.
    static func deleteRow(keyBytes: UnsafeBufferPointer<UInt8>, now: Int64, queries: SQLiteQueries, on connection: SQLiteConnection) throws
        -> Bool
    {
        try connection.statement(queries.breakLease).run { statement in
            try statement.bind(1, borrowedText: keyBytes)
            _ = try statement.step()
        }
        return try connection.statement(queries.delete).run { statement in
            try statement.bind(1, borrowedText: keyBytes)
            guard try statement.step() else { return false }
            return statement.columnType(0) == SQLITE_NULL || statement.integer(0) > now
        }
    }

    /// One update of an unexpired row's expiry (its trigger deletes the key's lease).
    public func setExpiration(_ expiresAt: Timestamp?, forKey key: String) async throws -> Bool {
        let now = clock.now().millisecondsSince1970
        let sql = queries.setExpiration
        return try await write(key) { connection in
            try connection.statement(sql).run { statement in
                try statement.bind(1, integer: expiresAt?.millisecondsSince1970)
                try statement.bind(2, text: key)
                try statement.bind(3, integer: now)
                _ = try statement.step()
                return connection.changes == 1
            }
        }
    }

    /// Read, add and write in one immediate transaction, atomic across processes; the write's
    /// trigger deletes the key's lease.
    public func incrementEntry(forKey key: String, by delta: Int, expiresAt: Timestamp?) async throws -> Int {
        let now = clock.now().millisecondsSince1970
        let queries = self.queries
        let backend = backendName
        return try await write(key) { connection in
            try connection.immediateTransaction {
                let existing = try connection.statement(queries.readForIncrement).run { statement -> StoredEntry? in
                    try statement.bind(1, text: key)
                    return try statement.step() ? try Self.entry(from: statement) : nil
                }
                if let existing, !existing.isExpired(at: Timestamp(millisecondsSince1970: now)) {
                    let sum = try existing.integer(adding: delta, key: key, backend: backend)
                    try connection.statement(queries.updateValue).run { statement in
                        try statement.bind(1, text: key)
                        try statement.bind(2, blob: Array(String(sum).utf8))
                        _ = try statement.step()
                    }
                    return sum
                }
                try connection.statement(queries.set).run { statement in
                    try statement.bind(1, text: key)
                    try statement.bind(2, blob: Array(String(delta).utf8))
                    try statement.bind(3, integer: expiresAt?.millisecondsSince1970)
                    _ = try statement.step()
                }
                return delta
            }
        }
    }

    /// Deletes the range of keys that start with `prefix`, counting the unexpired ones, and
    /// the leases of that range, in one immediate transaction on the writer's own thread.
    @discardableResult
    public func clear(prefix: String) async throws -> Int {
        defer { noteChange(under: prefix) }  // once cleared: flights of its keys are overtaken (C1, R1)
        let now = clock.now().millisecondsSince1970
        let upper = SQLiteQueries.upperBound(ofPrefix: prefix)
        let (count, delete, breakLeases) =
            upper == nil
            ? (queries.countFrom, queries.deleteFrom, queries.breakLeasesFrom)
            : (queries.countInRange, queries.deleteInRange, queries.breakLeasesInRange)
        return try await write(nil, long: true) { connection in
            try connection.immediateTransaction {
                let unexpired = try connection.statement(count).run { statement in
                    try statement.bind(1, text: prefix)
                    if let upper { try statement.bind(2, textBytes: upper) }
                    try statement.bind(3, integer: now)
                    return try statement.step() ? Int(statement.integer(0)) : 0
                }
                for sql in [delete, breakLeases] {
                    try connection.statement(sql).run { statement in
                        try statement.bind(1, text: prefix)
                        if let upper { try statement.bind(2, textBytes: upper) }
                        _ = try statement.step()
                    }
                }
                return unexpired
            }
        }
    }

    /// Deletes every expired row (using the partial index on `expires`) and every ended
    /// lease, in one transaction; returns how many rows of entries it deleted.
    @discardableResult
    public func sweepExpired() async throws -> Int {
        let now = clock.now().millisecondsSince1970
        let queries = self.queries
        return try await write(nil, long: true) { connection in
            try connection.immediateTransaction {
                let removed = try connection.statement(queries.deleteExpired).run { statement in
                    try statement.bind(1, integer: now)
                    _ = try statement.step()
                    return connection.changes
                }
                try connection.statement(queries.deleteEndedLeases).run { statement in
                    try statement.bind(1, integer: now)
                    _ = try statement.step()
                }
                return removed
            }
        }
    }

    /// Deletes expired rows every ``Configuration/sweepInterval`` until cancelled or
    /// closed, then returns normally (service-lifecycle style), so a long-running process
    /// does not grow without bound.
    ///
    /// ```swift
    /// let sweeper = Task { try await sqlite.run() }
    /// ...
    /// sweeper.cancel()
    /// ```
    public func run() async throws {
        try await Background.repeating(every: configuration.sweepInterval, until: { [self] in closed.load(ordering: .acquiring) }) {
            [self] in try await sweepExpired()
        }
    }

    /// Closes the connections once their current calls finish, on the connections' own
    /// threads; later calls throw `StrataError.Code.closed`. A store released without
    /// `close()` closes its connections too (on the same threads, soon after).
    public func close() async throws {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        await writer.close()
        for reader in readers { await reader.close() }
    }
}
