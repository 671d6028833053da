import CSQLite
import Strata

/// Leases and records in the store's own tables (see `SQLiteQueries`), so they hold across
/// every process that opens the file: a lease is a row of the lease table, and every
/// change of a key deletes it in the change's own transaction (the triggers for inserts
/// and updates; `removeEntry` and `clear` delete leases themselves).
extension SQLiteStore {
    /// Makes `lease` the key's lease (replacing any other) until `duration` from now on the
    /// store's clock, commits it, then reads the entry.
    public func leaseEntry(forKey key: String, lease: EntryLease, duration: Duration) async throws -> StoredEntry? {
        let instant = clock.now()
        let now = instant.millisecondsSince1970
        let until = instant.adding(milliseconds: max(1, duration.wholeMilliseconds(roundingUp: true))).millisecondsSince1970
        let queries = self.queries
        return try await write(key) { connection in
            try withUTF8(key) { keyBytes in
                try connection.statement(queries.takeLease).run { statement in
                    try statement.bind(1, borrowedText: keyBytes)
                    try statement.bind(2, integer: Int64(bitPattern: lease.token))
                    try statement.bind(3, integer: until)
                    _ = try statement.step()
                }
                return try connection.statement(queries.get).run { statement -> StoredEntry? in
                    try statement.bind(1, borrowedText: keyBytes)
                    try statement.bind(2, integer: now)
                    return try statement.step() ? try Self.entry(from: statement) : nil
                }
            }
        }
    }

    /// In one immediate transaction: ends the lease if it is `lease` (an ended one too), and
    /// when it had not ended, writes the entry and, if `keepingLease`, puts the lease back.
    public func setEntry(_ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool) async throws -> Bool {
        let now = clock.now().millisecondsSince1970
        let queries = self.queries
        let token = Int64(bitPattern: lease.token)
        return try await write(key) { connection in
            try withUTF8(key) { keyBytes in
                try connection.immediateTransaction {
                    let until = try connection.statement(queries.claimLease).run { statement -> Int64? in
                        try statement.bind(1, borrowedText: keyBytes)
                        try statement.bind(2, integer: token)
                        guard try statement.step() else { return nil }
                        let until = statement.integer(0)
                        while try statement.step() {}  // the delete completes before the reset
                        return until
                    }
                    guard let until, until > now else { return false }
                    try Self.upsert(entry, keyBytes: keyBytes, sql: queries.set, on: connection)
                    if keepingLease {
                        try connection.statement(queries.takeLease).run { statement in
                            try statement.bind(1, borrowedText: keyBytes)
                            try statement.bind(2, integer: token)
                            try statement.bind(3, integer: until)
                            _ = try statement.step()
                        }
                    }
                    return true
                }
            }
        }
    }

    /// Deletes the key's lease row if its token is `lease`'s.
    public func releaseLease(_ lease: EntryLease, forKey key: String) async throws {
        let sql = queries.endLease
        try await write(key) { connection in
            try connection.statement(sql).run { statement in
                try statement.bind(1, text: key)
                try statement.bind(2, integer: Int64(bitPattern: lease.token))
                _ = try statement.step()
            }
        }
    }

    /// The record table's values, 0 for a name it has no row for.
    public func records(named names: [String]) async throws -> [Int64] {
        let sql = queries.readRecord
        return try await read(nil) { connection in
            try names.map { name in
                try connection.statement(sql).run { statement in
                    try statement.bind(1, text: name)
                    guard try statement.step() else { return 0 }
                    guard statement.columnType(0) == SQLITE_INTEGER else {
                        throw RowCorruption(
                            reason: "the record \(name.debugDescription) is \(Self.typeName(statement.columnType(0))), not an INTEGER")
                    }
                    return statement.integer(0)
                }
            }
        }
    }

    /// One upsert that replaces the recorded value only with a greater one.
    public func raiseRecord(named name: String, to value: Int64) async throws {
        let sql = queries.raiseRecord
        try await write(nil) { connection in
            try connection.statement(sql).run { statement in
                try statement.bind(1, text: name)
                try statement.bind(2, integer: value)
                _ = try statement.step()
            }
        }
    }
}
