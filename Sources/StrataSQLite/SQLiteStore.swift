import CSQLite
import Strata
import Synchronization

/// A durable store in one SQLite table, on the system's SQLite, safe across processes.
///
/// - One table (created when missing): the key as `TEXT PRIMARY KEY`, the value as a
///   `BLOB`, the expiry as wall-clock milliseconds (`NULL`: never), `WITHOUT ROWID`.
///   The schema version is recorded in `PRAGMA user_version`.
/// - Write-ahead logging by default: reads never wait behind a write.
/// - Statements are prepared once per connection and reused; every key, value and
///   instant is a bound parameter, never spliced into SQL.
/// - Prefix operations are a range on the primary key, so `%`, `_`, `*` and `[` in a
///   prefix mean themselves and the index answers them.
/// - `increment` runs in an immediate transaction; `setIfAbsent` and `expire` are single
///   statements. Other processes may use the same file at once: a busy timeout absorbs
///   ordinary contention.
/// - SQLite calls block, but never on one of Swift's cooperative threads: a call runs
///   inline only when it cannot wait (a free connection, and no lock to wait for);
///   otherwise it moves to a thread of the store's own.
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
    /// The path, table, pragmas and pool this store was opened with.
    public let configuration: Configuration
    private let queries: SQLiteQueries
    private let writer: ConnectionLane
    private let readers: [ConnectionLane]
    private let nextReader = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

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
    /// Throws a ``StrataError`` naming the path when the file cannot be opened or created
    /// (a missing or read-only directory), is not a SQLite database, or holds a table of
    /// that name with other columns or a newer schema version.
    public init(configuration: Configuration) throws {
        self.configuration = configuration
        let backend = "SQLiteStore(\(configuration.path))"
        guard SQLiteQueries.isValidTableName(configuration.tableName) else {
            throw StrataError(
                code: .invalidConfiguration,
                message: "the table name \(configuration.tableName.debugDescription) is not letters, digits and _",
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
        let busyTimeout = Int32(clamping: configuration.busyTimeout.components.seconds * 1_000
            + configuration.busyTimeout.components.attoseconds / 1_000_000_000_000_000)

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
                throw StrataError(code: failure.strataCode, message: Self.explain(failure), backend: backend, underlying: failure)
            }
        }

        writer = try open("writer") { connection in
            try connection.execute("PRAGMA journal_mode = \(configuration.journalMode.rawValue)")
            try connection.execute("PRAGMA synchronous = \(configuration.synchronous.rawValue)")
            try Self.prepareSchema(connection, queries: queries, configuration: configuration, backend: backend)
        }
        var readers: [ConnectionLane] = []
        do {
            for index in 0..<configuration.poolSize {
                readers.append(try open("reader\(index)") { connection in
                    _ = try connection.statement(queries.get)  // the table is there and readable
                })
            }
        } catch {
            readers.forEach { $0.close() }
            writer.close()
            throw error
        }
        self.readers = readers
    }

    private static func explain(_ failure: SQLiteFailure) -> String {
        switch failure.primaryCode {
        case SQLITE_CANTOPEN: return "cannot open or create the database file (is its directory missing or read-only?)"
        case SQLITE_NOTADB: return "the file is not a SQLite database"
        case SQLITE_READONLY: return "the database is read-only"
        case SQLITE_CORRUPT: return "the database file is corrupt"
        default: return "cannot open the database"
        }
    }

    /// Creates the table and its expiry index when missing, and checks an existing one.
    private static func prepareSchema(
        _ connection: SQLiteConnection, queries: SQLiteQueries, configuration: Configuration, backend: String
    ) throws {
        try connection.immediateTransaction {
            let version = try connection.statement("PRAGMA user_version").run { statement in
                try statement.step() ? Int(statement.integer(0)) : 0
            }
            if version > SQLiteQueries.schemaVersion {
                throw StrataError(
                    code: .invalidConfiguration,
                    message: "the database has schema version \(version), written by a newer Strata (this one writes \(SQLiteQueries.schemaVersion))",
                    backend: backend)
            }
            var columns: [String] = []
            try connection.statement("PRAGMA table_info(\(queries.table))").run { statement in
                while try statement.step() { columns.append(String(decoding: statement.bytes(1), as: UTF8.self)) }
            }
            if columns.isEmpty {
                try connection.execute(queries.createTable)
            } else if columns != ["key", "value", "expires"] {
                throw StrataError(
                    code: .invalidConfiguration,
                    message: "the table \(configuration.tableName) has the columns \(columns), not [key, value, expires]; choose another tableName",
                    backend: backend)
            }
            try connection.execute(queries.createExpiryIndex)
            if version == 0 { try connection.execute("PRAGMA user_version = \(SQLiteQueries.schemaVersion)") }
        }
    }

    /// `SQLiteStore(<path>)`.
    public var backendName: String { "SQLiteStore(\(configuration.path))" }

    /// The configured default lifetime.
    public var defaultExpiry: Expiry? { configuration.defaultExpiry }

    /// The configured clock.
    public var clock: any StrataClock { configuration.clock }

    // MARK: Reads

    /// The unexpired row for `key`; a row that is not a valid entry throws ``StrataError/Code/corruptEntry``.
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

    /// Whether `key` has an unexpired row (reads no value).
    public func containsEntry(forKey key: String) async throws -> Bool {
        let now = clock.now().millisecondsSince1970
        let sql = queries.contains
        return try await read(key) { connection in
            try withUTF8(key) { keyBytes in try connection.statement(sql).run { statement in
                try statement.bind(1, borrowedText: keyBytes)
                try statement.bind(2, integer: now)
                return try statement.step()
            } }
        }
    }

    /// The unexpired keys that start with `prefix`, sorted by bytes, from a range on the key.
    public func keys(prefix: String) async throws -> [String] {
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

    // MARK: Writes

    /// Inserts or replaces the row for `key`.
    public func setEntry(_ entry: StoredEntry, forKey key: String) async throws {
        let sql = queries.set
        try await write(key) { connection in
            try withUTF8(key) { keyBytes in
                try entry.bytes.withUnsafeBytes { valueBytes in
                    try connection.statement(sql).run { statement in
                        try statement.bind(1, borrowedText: keyBytes)
                        try statement.bind(2, borrowedBlob: valueBytes)
                        try statement.bind(3, integer: entry.expiresAt?.millisecondsSince1970)
                        _ = try statement.step()
                    }
                }
            }
        }
    }

    /// One upsert that replaces only an expired row: `true` when it wrote.
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

    /// Deletes the row for `key`; `true` when it was unexpired.
    @discardableResult
    public func removeEntry(forKey key: String) async throws -> Bool {
        let now = clock.now().millisecondsSince1970
        let sql = queries.delete
        return try await write(key) { connection in
            try connection.statement(sql).run { statement in
                try statement.bind(1, text: key)
                guard try statement.step() else { return false }
                return statement.columnType(0) == SQLITE_NULL || statement.integer(0) > now
            }
        }
    }

    /// One update of an unexpired row's expiry.
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

    /// Read, add and write in one immediate transaction, atomic across processes.
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

    /// Deletes the range of keys that start with `prefix`, counting the unexpired ones, on
    /// the writer's own thread.
    @discardableResult
    public func clear(prefix: String) async throws -> Int {
        let now = clock.now().millisecondsSince1970
        let upper = SQLiteQueries.upperBound(ofPrefix: prefix)
        let (count, delete) = upper == nil
            ? (queries.countFrom, queries.deleteFrom) : (queries.countInRange, queries.deleteInRange)
        return try await write(nil, long: true) { connection in
            try connection.immediateTransaction {
                let unexpired = try connection.statement(count).run { statement in
                    try statement.bind(1, text: prefix)
                    if let upper { try statement.bind(2, textBytes: upper) }
                    try statement.bind(3, integer: now)
                    return try statement.step() ? Int(statement.integer(0)) : 0
                }
                try connection.statement(delete).run { statement in
                    try statement.bind(1, text: prefix)
                    if let upper { try statement.bind(2, textBytes: upper) }
                    _ = try statement.step()
                }
                return unexpired
            }
        }
    }

    /// Deletes every expired row (using the partial index on `expires`); returns how many.
    @discardableResult
    public func sweepExpired() async throws -> Int {
        let now = clock.now().millisecondsSince1970
        let sql = queries.deleteExpired
        return try await write(nil, long: true) { connection in
            try connection.statement(sql).run { statement in
                try statement.bind(1, integer: now)
                _ = try statement.step()
                return connection.changes
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

    /// Closes the connections once their current calls finish; later calls throw ``StrataError/Code/closed``.
    public func close() async throws {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        writer.close()
        readers.forEach { $0.close() }
    }

    // MARK: Internals

    private func read<Output: Sendable>(
        _ key: String?, _ operation: @escaping @Sendable (SQLiteConnection) throws -> Output
    ) async throws -> Output {
        try await perform(key) {
            // The writer's connection when it is free: its page cache stays valid across
            // this process's own writes, where a reader's is dropped after every write.
            // A write in progress holds it, and the read goes to a reader instead.
            if let result = try writer.runInline(operation) { return result }
            let lane = readers[nextReader.add(1, ordering: .relaxed).oldValue % readers.count]
            return try await lane.run(operation)
        }
    }

    private func write<Output: Sendable>(
        _ key: String?, long: Bool = false, _ operation: @escaping @Sendable (SQLiteConnection) throws -> Output
    ) async throws -> Output {
        try await perform(key) {
            long ? try await writer.runOnLaneThread(operation) : try await writer.run(operation)
        }
    }

    /// Turns what a SQLite call throws into a ``StrataError`` naming the key and the file.
    private func perform<Output>(_ key: String?, _ body: () async throws -> Output) async throws -> Output {
        guard !closed.load(ordering: .acquiring) else { throw closedError }
        do {
            return try await body()
        } catch let error as StrataError {
            throw error
        } catch is ConnectionClosed {
            throw closedError
        } catch let corruption as RowCorruption {
            throw StrataError(
                code: .corruptEntry, message: "the row is not a valid entry: \(corruption.reason)",
                key: key, backend: backendName)
        } catch {
            throw StrataError(
                code: (error as? SQLiteFailure)?.strataCode ?? .backendUnavailable, message: "a SQLite call failed",
                key: key, backend: backendName, underlying: error)
        }
    }

    private var closedError: StrataError {
        StrataError(code: .closed, message: "the store is closed", backend: backendName)
    }

    private struct RowCorruption: Error {
        let reason: String
    }

    /// The entry in columns 0 (value) and 1 (expires) of the current row.
    private static func entry(from statement: Statement) throws -> StoredEntry {
        let valueType = statement.columnType(0)
        guard valueType == SQLITE_BLOB || valueType == SQLITE_TEXT else {
            throw RowCorruption(reason: "the value is \(typeName(valueType)), not a BLOB")
        }
        let expiresType = statement.columnType(1)
        guard expiresType == SQLITE_NULL || expiresType == SQLITE_INTEGER else {
            throw RowCorruption(reason: "the expiry is \(typeName(expiresType)), not milliseconds or NULL")
        }
        return StoredEntry(
            bytes: statement.bytes(0),
            expiresAt: expiresType == SQLITE_NULL ? nil : Timestamp(millisecondsSince1970: statement.integer(1)))
    }

    private static func typeName(_ type: Int32) -> String {
        switch type {
        case SQLITE_INTEGER: "an INTEGER"
        case SQLITE_FLOAT: "a REAL"
        case SQLITE_TEXT: "TEXT"
        case SQLITE_BLOB: "a BLOB"
        default: "NULL"
        }
    }
}

/// Runs `body` with the UTF-8 bytes of `text` (contiguous for native strings: no copy).
private func withUTF8<Output>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> Output) rethrows -> Output {
    var text = text
    return try text.withUTF8(body)
}
