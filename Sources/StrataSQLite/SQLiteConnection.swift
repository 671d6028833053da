import CSQLite
import Strata

/// One SQLite connection and its prepared statements. Not thread-safe: a
/// ``ConnectionLane`` gives it to one thread at a time.
final class SQLiteConnection {
    private(set) var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    /// The store's queries, then `BEGIN IMMEDIATE`, `COMMIT` and `ROLLBACK`.
    private var queries = [OpaquePointer?](repeating: nil, count: SQLiteQueries.count + 3)
    private var busyTimeoutMilliseconds: Int32 = -1

    init(path: String) throws(SQLiteFailure) {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let result = sqlite3_open_v2(path, &handle, flags, nil)
        guard result == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            throw SQLiteFailure(code: result, message: message, sql: nil)
        }
        sqlite3_extended_result_codes(handle, 1)
        self.handle = handle
    }

    var isClosed: Bool { handle == nil }

    /// A connection nobody closed (its lane's closing never ran) closes as it goes.
    deinit { close() }

    func close() {
        for statement in statements.values { sqlite3_finalize(statement) }
        for statement in queries { sqlite3_finalize(statement) }
        statements = [:]
        queries = []
        sqlite3_close_v2(handle)
        handle = nil
    }

    /// Sets how long a statement waits for another connection's lock (0: not at all).
    func setBusyTimeout(milliseconds: Int32) {
        guard milliseconds != busyTimeoutMilliseconds, let handle else { return }
        sqlite3_busy_timeout(handle, milliseconds)
        busyTimeoutMilliseconds = milliseconds
    }

    /// Runs SQL that returns no rows (pragmas, schema, transactions).
    func execute(_ sql: String) throws(SQLiteFailure) {
        var error: UnsafeMutablePointer<CChar>?
        let result = sqlite3_exec(handle, sql, nil, nil, &error)
        if result != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? "error"
            sqlite3_free(error)
            throw SQLiteFailure(code: sqlite3_extended_errcode(handle), message: message, sql: sql)
        }
    }

    /// The statement of one of the store's queries, prepared once and reused.
    @inline(__always)
    func statement(_ query: Query) throws(SQLiteFailure) -> Statement {
        if let prepared = queries[query.id] { return Statement(handle: prepared, connection: self, sql: query.sql) }
        let prepared = try prepare(query.sql)
        queries[query.id] = prepared
        return Statement(handle: prepared, connection: self, sql: query.sql)
    }

    private func prepare(_ sql: String) throws(SQLiteFailure) -> OpaquePointer {
        var prepared: OpaquePointer?
        let result = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
        guard result == SQLITE_OK, let prepared else { throw failure(result, sql: sql) }
        return prepared
    }

    /// The statement for other `sql` (pragmas, schema), prepared once per connection.
    func statement(_ sql: String) throws(SQLiteFailure) -> Statement {
        if let prepared = statements[sql] { return Statement(handle: prepared, connection: self, sql: sql) }
        let prepared = try prepare(sql)
        statements[sql] = prepared
        return Statement(handle: prepared, connection: self, sql: sql)
    }

    func failure(_ result: Int32, sql: String?) -> SQLiteFailure {
        SQLiteFailure(
            code: handle.map { sqlite3_extended_errcode($0) } ?? result,
            message: handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(result)),
            sql: sql)
    }

    var changes: Int { Int(sqlite3_changes(handle)) }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction: committed when it returns,
    /// rolled back when it throws. The three statements are prepared once, like the
    /// store's queries: parsing them on every call (`sqlite3_exec`) cost 1 to 1.7 µs more a
    /// transaction, a tenth of a `delete`, in a C loop on the same SQLite.
    func immediateTransaction<Result>(_ body: () throws -> Result) throws -> Result {
        try statement(Self.begin).run { _ = try $0.step() }
        do {
            let result = try body()
            try statement(Self.commit).run { _ = try $0.step() }
            return result
        } catch {
            _ = try? statement(Self.rollback).run { _ = try $0.step() }
            throw error
        }
    }

    private static let begin = Query(id: SQLiteQueries.count, sql: "BEGIN IMMEDIATE")
    private static let commit = Query(id: SQLiteQueries.count + 1, sql: "COMMIT")
    private static let rollback = Query(id: SQLiteQueries.count + 2, sql: "ROLLBACK")
}

/// A prepared statement in use: bind, step, read columns; always reset by ``run(_:)``.
struct Statement {
    let handle: OpaquePointer
    let connection: SQLiteConnection
    let sql: String

    /// Runs `body` with this statement, then resets it and clears its bindings, so the
    /// statement holds no pointer into a caller's buffer and no read transaction open.
    func run<Result>(_ body: (Statement) throws -> Result) throws -> Result {
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }
        return try body(self)
    }

    /// A valid pointer for empty text: a null pointer would bind NULL instead of "".
    private static var emptyText: UnsafePointer<CChar> {
        UnsafeRawPointer(("" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
    }

    /// Binds UTF-8 text. The bytes are copied, so the binding outlives the buffer.
    func bind(_ index: Int32, text: String) throws(SQLiteFailure) {
        var text = text
        let result = text.withUTF8 { bytes in
            sqlite3_bind_text64(
                handle, index, bytes.baseAddress.map { UnsafeRawPointer($0) }?.assumingMemoryBound(to: CChar.self) ?? Self.emptyText,
                sqlite3_uint64(bytes.count), strata_sqlite_transient(), UInt8(SQLITE_UTF8))
        }
        if result != SQLITE_OK { throw connection.failure(result, sql: sql) }
    }

    /// Binds raw bytes as text without checking they are UTF-8 (a prefix's upper bound may not be).
    func bind(_ index: Int32, textBytes bytes: [UInt8]) throws(SQLiteFailure) {
        let result = bytes.withUnsafeBytes { buffer in
            sqlite3_bind_text64(
                handle, index, buffer.baseAddress?.assumingMemoryBound(to: CChar.self) ?? Self.emptyText, sqlite3_uint64(buffer.count),
                strata_sqlite_transient(), UInt8(SQLITE_UTF8))
        }
        if result != SQLITE_OK { throw connection.failure(result, sql: sql) }
    }

    /// Binds text without copying it: the caller keeps `bytes` alive until ``run(_:)``
    /// resets the statement.
    func bind(_ index: Int32, borrowedText bytes: UnsafeBufferPointer<UInt8>) throws(SQLiteFailure) {
        let pointer = bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? Self.emptyText
        let result = sqlite3_bind_text64(handle, index, pointer, sqlite3_uint64(bytes.count), nil, UInt8(SQLITE_UTF8))
        if result != SQLITE_OK { throw connection.failure(result, sql: sql) }
    }

    /// Binds a blob without copying it: the caller keeps `bytes` alive until ``run(_:)``
    /// resets the statement.
    func bind(_ index: Int32, borrowedBlob bytes: UnsafeRawBufferPointer) throws(SQLiteFailure) {
        let pointer = bytes.baseAddress ?? UnsafeRawPointer(Self.emptyText)  // non-null: an empty blob, not NULL
        let result = sqlite3_bind_blob64(handle, index, pointer, sqlite3_uint64(bytes.count), nil)
        if result != SQLITE_OK { throw connection.failure(result, sql: sql) }
    }

    func bind(_ index: Int32, blob bytes: [UInt8]) throws(SQLiteFailure) {
        let result = bytes.withUnsafeBytes { buffer in
            // A zero-length blob needs a non-null pointer, or SQLite stores NULL.
            sqlite3_bind_blob64(
                handle, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), sqlite3_uint64(buffer.count),
                strata_sqlite_transient())
        }
        if result != SQLITE_OK { throw connection.failure(result, sql: sql) }
    }

    func bind(_ index: Int32, integer: Int64?) throws(SQLiteFailure) {
        let result = integer.map { sqlite3_bind_int64(handle, index, $0) } ?? sqlite3_bind_null(handle, index)
        if result != SQLITE_OK { throw connection.failure(result, sql: sql) }
    }

    /// Steps once: `true` when a row is ready, `false` when the statement is done.
    func step() throws(SQLiteFailure) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let result: throw connection.failure(result, sql: sql)
        }
    }

    func columnType(_ index: Int32) -> Int32 { sqlite3_column_type(handle, index) }

    func integer(_ index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }

    /// The column's bytes (a blob's, or a text's UTF-8).
    func bytes(_ index: Int32) -> [UInt8] {
        let type = sqlite3_column_type(handle, index)
        let pointer =
            type == SQLITE_TEXT
            ? UnsafeRawPointer(sqlite3_column_text(handle, index)) : sqlite3_column_blob(handle, index)
        let count = Int(sqlite3_column_bytes(handle, index))
        guard let pointer, count > 0 else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
