/// The store's SQL, written once per table name. Every key, value and instant is a bound
/// parameter; only the table name (checked to be an identifier) is part of the text.
struct SQLiteQueries: Sendable {
    /// The schema version this release writes (`PRAGMA user_version`).
    static let schemaVersion = 1

    let table: String
    let createTable: String
    let createExpiryIndex: String
    let get: String
    let contains: String
    let set: String
    let setIfAbsent: String
    let delete: String
    let setExpiration: String
    let readForIncrement: String
    let updateValue: String
    let keysInRange: String
    let keysFrom: String
    let countInRange: String
    let countFrom: String
    let deleteInRange: String
    let deleteFrom: String
    let deleteExpired: String

    /// Whether `name` can be a table name: ASCII letters, digits and `_`, not starting with a digit.
    static func isValidTableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(first >= 0x30 && first <= 0x39), name.utf8.count <= 64 else { return false }
        return name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }
    }

    init(table name: String) {
        let table = "\"\(name)\""
        self.table = table
        let alive = "(expires IS NULL OR expires > ?3)"
        // WITHOUT ROWID: the row lives in the key's b-tree, so a point read is one search
        // (measured in Benchmarks/: see Docs/Benchmarks.md).
        createTable = """
            CREATE TABLE IF NOT EXISTS \(table) (
                key TEXT PRIMARY KEY NOT NULL,
                value BLOB NOT NULL,
                expires INTEGER
            ) WITHOUT ROWID
            """
        createExpiryIndex = "CREATE INDEX IF NOT EXISTS \"\(name)_expires\" ON \(table)(expires) WHERE expires IS NOT NULL"
        get = "SELECT value, expires FROM \(table) WHERE key = ?1 AND (expires IS NULL OR expires > ?2)"
        contains = "SELECT 1 FROM \(table) WHERE key = ?1 AND (expires IS NULL OR expires > ?2)"
        set = """
            INSERT INTO \(table) (key, value, expires) VALUES (?1, ?2, ?3)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires
            """
        setIfAbsent = """
            INSERT INTO \(table) (key, value, expires) VALUES (?1, ?2, ?3)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires
            WHERE \(table).expires IS NOT NULL AND \(table).expires <= ?4
            """
        // RETURNING a plain column: SQLite 3.40 returns NULL for an expression over the
        // columns of a deleted WITHOUT ROWID row, so the caller compares the expiry itself.
        delete = "DELETE FROM \(table) WHERE key = ?1 RETURNING expires"
        setExpiration = "UPDATE \(table) SET expires = ?1 WHERE key = ?2 AND (expires IS NULL OR expires > ?3)"
        readForIncrement = "SELECT value, expires FROM \(table) WHERE key = ?1"
        updateValue = "UPDATE \(table) SET value = ?2 WHERE key = ?1"
        keysInRange = "SELECT key FROM \(table) WHERE key >= ?1 AND key < ?2 AND \(alive) ORDER BY key"
        keysFrom = "SELECT key FROM \(table) WHERE key >= ?1 AND \(alive) ORDER BY key"
        countInRange = "SELECT count(*) FROM \(table) WHERE key >= ?1 AND key < ?2 AND \(alive)"
        countFrom = "SELECT count(*) FROM \(table) WHERE key >= ?1 AND \(alive)"
        deleteInRange = "DELETE FROM \(table) WHERE key >= ?1 AND key < ?2"
        deleteFrom = "DELETE FROM \(table) WHERE key >= ?1"
        deleteExpired = "DELETE FROM \(table) WHERE expires IS NOT NULL AND expires <= ?1"
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
