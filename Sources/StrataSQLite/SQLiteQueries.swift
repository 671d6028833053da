/// One statement of the store's: its SQL, and a small number that indexes the
/// connection's cache of prepared statements (hashing the SQL on every call would cost
/// more than a point read's other work).
struct Query: Sendable {
    let id: Int
    let sql: String
}

/// The store's SQL, written once per table name. Every key, value and instant is a bound
/// parameter; only the table name (checked to be an identifier) is part of the text.
struct SQLiteQueries: Sendable {
    /// The schema version this release writes (`PRAGMA user_version`): 1 was the entries
    /// table alone; 2 adds the lease and record tables and the lease-breaking triggers.
    static let schemaVersion = 2

    let table: String
    let leaseTable: String
    let recordTable: String
    let createTable: String
    let createExpiryIndex: String
    /// The lease and record tables, and the triggers by which every insert or update of an
    /// entry breaks the key's lease in the statement that changes it (no extra statement,
    /// so no extra commit, on the write path).
    let createLeaseSchema: [String]
    let get: Query
    let set: Query
    let setIfAbsent: Query
    let delete: Query
    let setExpiration: Query
    let readForIncrement: Query
    let updateValue: Query
    let keysInRange: Query
    let keysFrom: Query
    let entriesInRange: Query
    let entriesFrom: Query
    let countInRange: Query
    let countFrom: Query
    let deleteInRange: Query
    let deleteFrom: Query
    let deleteExpired: Query
    let takeLease: Query
    let claimLease: Query
    let endLease: Query
    let breakLease: Query
    let breakLeasesInRange: Query
    let breakLeasesFrom: Query
    let deleteEndedLeases: Query
    let readRecord: Query
    let raiseRecord: Query
    /// The bulk reads, one per size in ``bulkReadSizes`` (see ``bulkRead(holding:)``).
    let bulkReads: [Query]

    /// How many keys one bulk read binds: a batch is read in chunks of at most the largest,
    /// each with the statement of the least size that holds it, its unused keys left NULL
    /// (which match no row). Powers of two keep the connection's cache at 7 statements; 512
    /// keys and the instant stay far below SQLite's least variable limit (999).
    static let bulkReadSizes = [8, 16, 32, 64, 128, 256, 512]

    /// Whether `name` can be a table name: ASCII letters, digits and `_`, not starting with a digit.
    static func isValidTableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(first >= 0x30 && first <= 0x39), name.utf8.count <= 64 else { return false }
        return name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }
    }

    /// How many queries there are (the size of a connection's statement cache).
    static let count = 26 + bulkReadSizes.count

    init(table name: String) {
        let table = "\"\(name)\""
        let leases = "\"\(name)_leases\""
        let records = "\"\(name)_records\""
        self.table = table
        leaseTable = leases
        recordTable = records
        let alive = "(expires IS NULL OR expires > ?3)"
        // WITHOUT ROWID: the row lives in the key's b-tree, so a point read is one search
        // (measured in Benchmarks/: see Docs/BenchmarkHistory.md).
        createTable = """
            CREATE TABLE IF NOT EXISTS \(table) (
                key TEXT PRIMARY KEY NOT NULL,
                value BLOB NOT NULL,
                expires INTEGER
            ) WITHOUT ROWID
            """
        createExpiryIndex = "CREATE INDEX IF NOT EXISTS \"\(name)_expires\" ON \(table)(expires) WHERE expires IS NOT NULL"
        // A lease: the key, its token (the UInt64's bits as an INTEGER) and the instant it
        // ends, in the store clock's milliseconds. A record: a name and its greatest value.
        // AFTER INSERT covers an upsert that inserted, AFTER UPDATE one that updated (SQLite
        // fires one or the other, and neither for an upsert whose DO UPDATE's WHERE is false:
        // a setIfAbsent that did not write). Deletes have no trigger: sweepExpired deletes
        // rows without changing what any key reads, and a delete must break the lease of a
        // key that has no row, so removeEntry and clear delete leases themselves.
        createLeaseSchema = [
            """
            CREATE TABLE IF NOT EXISTS \(leases) (
                key TEXT PRIMARY KEY NOT NULL,
                token INTEGER NOT NULL,
                until INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE IF NOT EXISTS \(records) (
                name TEXT PRIMARY KEY NOT NULL,
                value INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
            """
            CREATE TRIGGER IF NOT EXISTS "\(name)_insert_breaks_lease" AFTER INSERT ON \(table)
            BEGIN DELETE FROM \(leases) WHERE key = NEW.key; END
            """,
            """
            CREATE TRIGGER IF NOT EXISTS "\(name)_update_breaks_lease" AFTER UPDATE ON \(table)
            BEGIN DELETE FROM \(leases) WHERE key = NEW.key; END
            """,
        ]
        get = Query(id: 0, sql: "SELECT value, expires FROM \(table) WHERE key = ?1 AND (expires IS NULL OR expires > ?2)")
        set = Query(
            id: 2,
            sql: """
                INSERT INTO \(table) (key, value, expires) VALUES (?1, ?2, ?3)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires
                """)
        setIfAbsent = Query(
            id: 3,
            sql: """
                INSERT INTO \(table) (key, value, expires) VALUES (?1, ?2, ?3)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires
                WHERE \(table).expires IS NOT NULL AND \(table).expires <= ?4
                """)
        // RETURNING a plain column: SQLite 3.40 returns NULL for an expression over the
        // columns of a deleted WITHOUT ROWID row, so the caller compares the expiry itself.
        delete = Query(id: 4, sql: "DELETE FROM \(table) WHERE key = ?1 RETURNING expires")
        setExpiration = Query(id: 5, sql: "UPDATE \(table) SET expires = ?1 WHERE key = ?2 AND (expires IS NULL OR expires > ?3)")
        readForIncrement = Query(id: 6, sql: "SELECT value, expires FROM \(table) WHERE key = ?1")
        updateValue = Query(id: 7, sql: "UPDATE \(table) SET value = ?2 WHERE key = ?1")
        keysInRange = Query(id: 8, sql: "SELECT key FROM \(table) WHERE key >= ?1 AND key < ?2 AND \(alive) ORDER BY key")
        keysFrom = Query(id: 9, sql: "SELECT key FROM \(table) WHERE key >= ?1 AND \(alive) ORDER BY key")
        entriesInRange = Query(
            id: 15, sql: "SELECT key, value, expires FROM \(table) WHERE key >= ?1 AND key < ?2 AND \(alive) ORDER BY key")
        entriesFrom = Query(id: 16, sql: "SELECT key, value, expires FROM \(table) WHERE key >= ?1 AND \(alive) ORDER BY key")
        countInRange = Query(id: 10, sql: "SELECT count(*) FROM \(table) WHERE key >= ?1 AND key < ?2 AND \(alive)")
        countFrom = Query(id: 11, sql: "SELECT count(*) FROM \(table) WHERE key >= ?1 AND \(alive)")
        deleteInRange = Query(id: 12, sql: "DELETE FROM \(table) WHERE key >= ?1 AND key < ?2")
        deleteFrom = Query(id: 13, sql: "DELETE FROM \(table) WHERE key >= ?1")
        deleteExpired = Query(id: 14, sql: "DELETE FROM \(table) WHERE expires IS NOT NULL AND expires <= ?1")
        takeLease = Query(
            id: 17,
            sql: """
                INSERT INTO \(leases) (key, token, until) VALUES (?1, ?2, ?3)
                ON CONFLICT (key) DO UPDATE SET token = excluded.token, until = excluded.until
                """)
        // Ends the lease if it is the caller's, returning when it would have ended: the
        // caller's write goes on only when that is later than now.
        claimLease = Query(id: 18, sql: "DELETE FROM \(leases) WHERE key = ?1 AND token = ?2 RETURNING until")
        endLease = Query(id: 19, sql: "DELETE FROM \(leases) WHERE key = ?1 AND token = ?2")
        breakLease = Query(id: 20, sql: "DELETE FROM \(leases) WHERE key = ?1")
        breakLeasesInRange = Query(id: 21, sql: "DELETE FROM \(leases) WHERE key >= ?1 AND key < ?2")
        breakLeasesFrom = Query(id: 22, sql: "DELETE FROM \(leases) WHERE key >= ?1")
        deleteEndedLeases = Query(id: 23, sql: "DELETE FROM \(leases) WHERE until <= ?1")
        readRecord = Query(id: 24, sql: "SELECT value FROM \(records) WHERE name = ?1")
        raiseRecord = Query(
            id: 25,
            sql: """
                INSERT INTO \(records) (name, value) VALUES (?1, ?2)
                ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE excluded.value > \(records).value
                """)
        // The keys as a table of (index, key), joined to the entries by primary key: one
        // search per key, each row naming the key's index in the batch (no key read back
        // or hashed). CROSS JOIN keeps the keys the outer loop. Measured in raw sqlite3
        // against a key list (`key IN (?, …)`, which sorts the keys and reads each key back)
        // and a point read per key in one transaction: 1.09, 1.54 and 1.36 µs a key, 100
        // random keys of 100,000 (strata-bench bulk, 2026-12-03, a loaded 2-core machine).
        bulkReads = Self.bulkReadSizes.enumerated().map { offset, size in
            let keys = (1...size).map { "(\($0 - 1), ?\($0))" }.joined(separator: ", ")
            return Query(
                id: 26 + offset,
                sql: """
                    WITH batch(position, key) AS (VALUES \(keys))
                    SELECT batch.position, entry.value, entry.expires FROM batch CROSS JOIN \(table) AS entry
                    ON entry.key = batch.key WHERE entry.expires IS NULL OR entry.expires > ?\(size + 1)
                    """)
        }
    }

    /// The bulk read of the least size that holds `count` keys (at most the largest size),
    /// and that size: the parameter after it is the instant.
    func bulkRead(holding count: Int) -> (query: Query, size: Int) {
        let index = Self.bulkReadSizes.firstIndex { $0 >= count } ?? Self.bulkReadSizes.count - 1
        return (bulkReads[index], Self.bulkReadSizes[index])
    }

    /// The least string above every string that starts with `prefix`, as UTF-8 bytes,
    /// or `nil` when there is none (the empty prefix). Keys between `prefix` and this
    /// bound are exactly the keys that start with `prefix`, byte for byte, and the
    /// range is answered from the primary key's index (no LIKE, no GLOB).
    static func upperBound(ofPrefix prefix: String) -> [UInt8]? {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last, last == 0xFF { bytes.removeLast() }  // never in UTF-8, but exact anyway
        guard !bytes.isEmpty else { return nil }
        bytes[bytes.count - 1] += 1
        return bytes
    }
}
