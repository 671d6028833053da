import CSQLite
import Strata
import Synchronization

/// A durable store in one SQLite file, on the system's SQLite, safe across processes.
///
/// - One table of entries (created when missing): the key as `TEXT PRIMARY KEY`, the value
///   as a `BLOB`, the expiry as wall-clock milliseconds (`NULL`: never), `WITHOUT ROWID`.
///   Beside it, a table of leases and one of records (see `Docs/SQLite.md`). The schema
///   version (2) is recorded in `PRAGMA user_version`; a version 1 file is upgraded.
/// - Write-ahead logging by default: reads never wait behind a write.
/// - Statements are prepared once per connection and reused; every key, value and
///   instant is a bound parameter, never spliced into SQL.
/// - Prefix operations are a range on the primary key, so `%`, `_`, `*` and `[` in a
///   prefix mean themselves and the index answers them.
/// - `set`, `setIfAbsent` and `expire` are single statements; `increment`, `delete`,
///   `clear` and the leased write run in immediate transactions. Every change of a key
///   breaks its lease in its own commit. Other processes may use the same file at once: a
///   busy timeout absorbs ordinary contention.
/// - A damaged file throws `StrataError.Code.damagedDatabase`;
///   ``Configuration/recoversFromDamage`` moves it aside at open.
/// - SQLite calls block. A call runs inline (its file I/O on the caller's thread) only when it
///   need not wait for another connection: a free connection, and no lock held elsewhere;
///   otherwise it moves to a thread of the store's own, never waiting on a cooperative one.
///
/// Expired rows are invisible at once; ``sweepExpired()`` and the background ``run()``
/// delete them.
///
/// ```swift
/// import StrataSQLite
///
/// let sqlite = try SQLiteStore(path: "./cache.sqlite")
/// try await sqlite.set("user:1", user, expires: "1h")
/// ```
public final class SQLiteStore: KeyValueStore, BackgroundWork {
    /// Its hybrid clock and envelope mark, kept here rather than in a registry that would
    /// hold the store weakly (see `StoreProcessState`).
    package let processState = StoreProcessState()
    /// The path, table, pragmas and pool this store was opened with.
    public let configuration: Configuration
    let queries: SQLiteQueries
    let writer: ConnectionLane
    let readers: [ConnectionLane]
    let nextReader = Atomic<Int>(0)
    let closed = Atomic<Bool>(false)
    /// Where this store moved a damaged database file when it opened it (with
    /// ``Configuration/recoversFromDamage``), its `-wal` and `-shm` beside it with those
    /// suffixes; `nil` when it found no damage.
    ///
    /// ```swift
    /// if let aside = sqlite.damagedFileMovedAside { logger.warning("damaged cache moved to \(aside)") }
    /// ```
    public let damagedFileMovedAside: String?

    /// Opens (creating when missing) the database at `path`.
    ///
    /// ```swift
    /// let sqlite = try SQLiteStore(path: "./cache.sqlite", defaultExpiry: "1d")
    /// ```
    public convenience init(path: String, defaultExpiry: Expiry? = nil) throws {
        try self.init(configuration: Configuration(path: path, defaultExpiry: defaultExpiry))
    }

    /// Opens the database a ``Configuration`` describes.
    ///
    /// Throws a `StrataError` naming the path: `damagedDatabase` when the file is not a
    /// SQLite database or is malformed (unless ``Configuration/recoversFromDamage`` moves it
    /// aside), `invalidConfiguration` when it holds a table of one of the store's names with
    /// other columns or another primary key, or has a newer schema version, `backendUnavailable` when it cannot be
    /// opened or created (a missing or read-only directory).
    public init(configuration: Configuration) throws {
        self.configuration = configuration
        self.backendName = "SQLiteStore(\(configuration.path))"
        let backend = "SQLiteStore(\(configuration.path))"
        guard SQLiteQueries.isValidTableName(configuration.tableName) else {
            throw StrataError(
                code: .invalidConfiguration,
                message:
                    "the table name \(configuration.tableName.debugDescription) is not ASCII letters, digits and _ (not starting with a digit, at most 64 bytes)",
                backend: backend)
        }
        guard configuration.poolSize >= 1 else {
            throw StrataError(code: .invalidConfiguration, message: "poolSize must be at least 1", backend: backend)
        }
        guard !configuration.path.isEmpty, configuration.path != ":memory:", !configuration.path.hasPrefix("file:") else {
            throw StrataError(
                code: .invalidConfiguration,
                message: "the path must name a file (for memory, use MemoryStore)", backend: backend)
        }
        let queries = SQLiteQueries(table: configuration.tableName)
        self.queries = queries
        let lanes: (writer: ConnectionLane, readers: [ConnectionLane])
        do {
            lanes = try Self.openLanes(configuration, queries: queries, backend: backend)
            damagedFileMovedAside = nil
        } catch let damage as StrataError where damage.code == .damagedDatabase && configuration.recoversFromDamage {
            damagedFileMovedAside = try DamagedFile.moveAside(configuration.path, damage: damage, backend: backend)
            lanes = try Self.openLanes(configuration, queries: queries, backend: backend)
        }
        (writer, readers) = lanes
    }

    /// Opens the writer's connection (setting the journal mode, checking the file when the
    /// configuration recovers from damage, preparing the schema) and the readers'.
    private static func openLanes(
        _ configuration: Configuration, queries: SQLiteQueries, backend: String
    ) throws -> (writer: ConnectionLane, readers: [ConnectionLane]) {
        let busyTimeout = Int32(clamping: configuration.busyTimeout.wholeMilliseconds())

        func open(_ role: String, setUp: (SQLiteConnection) throws -> Void) throws -> ConnectionLane {
            do {
                let connection = try SQLiteConnection(path: configuration.path)
                do {
                    connection.setBusyTimeout(milliseconds: busyTimeout)
                    try connection.execute("PRAGMA mmap_size = \(max(0, configuration.memoryMapSize))")
                    try setUp(connection)
                } catch {
                    connection.close()
                    throw error
                }
                return ConnectionLane(connection, label: "strata.sqlite.\(role)", busyTimeoutMilliseconds: busyTimeout)
            } catch let failure as SQLiteFailure {
                throw StrataError(code: failure.strataCode, message: explain(failure), backend: backend, underlying: failure)
            }
        }

        let writer = try open("writer") { connection in
            try connection.execute("PRAGMA journal_mode = \(configuration.journalMode.rawValue)")
            try connection.execute("PRAGMA synchronous = \(configuration.synchronous.rawValue)")
            // Before the schema is written to: damage in any page, not only the first ones
            // opening reads, is found here, while the file can still be moved aside.
            if configuration.recoversFromDamage { try DamagedFile.check(connection, backend: backend) }
            try prepareSchema(connection, queries: queries, configuration: configuration, backend: backend)
        }
        var readers: [ConnectionLane] = []
        do {
            for index in 0..<configuration.poolSize {
                readers.append(
                    try open("reader\(index)") { connection in
                        _ = try connection.statement(queries.get)  // the table is there and readable
                    })
            }
        } catch {
            readers.forEach { $0.closeNow() }
            writer.closeNow()
            throw error
        }
        return (writer, readers)
    }

    static func explain(_ failure: SQLiteFailure) -> String {
        switch failure.primaryCode {
        case SQLITE_CANTOPEN: return "cannot open or create the database file (is its directory missing or read-only?)"
        case SQLITE_NOTADB, SQLITE_CORRUPT: return DamagedFile.explain(failure)
        case SQLITE_READONLY: return "the database is read-only"
        default: return "cannot open the database"
        }
    }

    /// `SQLiteStore(<path>)`, made once: every error and decoded read names it.
    public let backendName: String

    /// The configured default lifetime.
    public var defaultExpiry: Expiry? { configuration.defaultExpiry }

    /// The configured clock.
    public var clock: any StrataClock { configuration.clock }

    // MARK: Reads

    /// The unexpired row for `key`; a row that is not a valid entry throws `StrataError.Code.corruptEntry`.
    public func entry(forKey key: String) async throws -> StoredEntry? {
        let now = clock.now().millisecondsSince1970
        let sql = queries.get
        return try await read(key) { connection in
            try withUTF8(key) { keyBytes in
                try connection.statement(sql).run { statement -> StoredEntry? in
                    try statement.bind(1, borrowedText: keyBytes)
                    try statement.bind(2, integer: now)
                    guard try statement.step() else { return nil }
                    return try Self.entry(from: statement)
                }
            }
        }
    }

    /// Whether `key` has an unexpired row a plain read returns (an entry written with
    /// options counts within its lifetime only, so the row is read).
    public func containsEntry(forKey key: String) async throws -> Bool {
        try await containsReadableEntry(forKey: key)
    }

    /// The unexpired keys that start with `prefix`, sorted by bytes, from a range on the key.
    public func storedKeys(prefix: String) async throws -> [String] {
        let now = clock.now().millisecondsSince1970
        let upper = SQLiteQueries.upperBound(ofPrefix: prefix)
        let sql = upper == nil ? queries.keysFrom : queries.keysInRange
        return try await read(nil) { connection in
            try connection.statement(sql).run { statement in
                try statement.bind(1, text: prefix)
                if let upper { try statement.bind(2, textBytes: upper) }
                try statement.bind(3, integer: now)
                var keys: [String] = []
                while try statement.step() {
                    // A key that is not UTF-8 was written by another program; it cannot be a Strata key.
                    if let key = String(validating: statement.bytes(0), as: UTF8.self) { keys.append(key) }
                }
                return keys
            }
        }
    }

    /// The unexpired rows whose keys start with `prefix`, from one query on a key range,
    /// sorted by bytes.
    public func storedEntries(prefix: String) async throws -> [(key: String, entry: StoredEntry)] {
        let now = clock.now().millisecondsSince1970
        let upper = SQLiteQueries.upperBound(ofPrefix: prefix)
        let sql = upper == nil ? queries.entriesFrom : queries.entriesInRange
        return try await read(nil, long: true) { connection in
            try connection.statement(sql).run { statement in
                try statement.bind(1, text: prefix)
                if let upper { try statement.bind(2, textBytes: upper) }
                try statement.bind(3, integer: now)
                var entries: [(key: String, entry: StoredEntry)] = []
                while try statement.step() {
                    // A key that is not UTF-8 was written by another program; it cannot be a Strata key.
                    guard let key = String(validating: statement.bytes(0), as: UTF8.self) else { continue }
                    entries.append((key, try Self.entry(from: statement, first: 1, key: key)))
                }
                return entries
            }
        }
    }
}

extension SQLiteStore: KeepsProcessState {}
