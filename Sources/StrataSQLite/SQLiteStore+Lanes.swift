import CSQLite
import Strata

/// Running statements on the connections' lanes, and turning failures into `StrataError`s.
extension SQLiteStore {
    func read<Output: Sendable>(
        _ key: String?, long: Bool = false, _ operation: @escaping @Sendable (SQLiteConnection) throws -> Output
    ) async throws -> Output {
        try await perform(key) {
            // A long read (a listing of many rows) runs on a reader's own thread, never inline.
            if long { return try await readers[nextReader.add(1, ordering: .relaxed).oldValue % readers.count].runOnLaneThread(operation) }
            // The writer's connection when it is free: its page cache stays valid across
            // this process's own writes, where a reader's is dropped after every write.
            // A write in progress holds it, and the read goes to a reader instead.
            if let result = try writer.runInline(operation) { return result }
            let lane = readers[nextReader.add(1, ordering: .relaxed).oldValue % readers.count]
            return try await lane.run(operation)
        }
    }

    func write<Output: Sendable>(
        _ key: String?, long: Bool = false, _ operation: @escaping @Sendable (SQLiteConnection) throws -> Output
    ) async throws -> Output {
        try await perform(key) {
            long ? try await writer.runOnLaneThread(operation) : try await writer.run(operation)
        }
    }

    /// Turns what a SQLite call throws into a `StrataError` naming the key and the file.
    func perform<Output>(_ key: String?, _ body: () async throws -> Output) async throws -> Output {
        guard !closed.load(ordering: .acquiring) else { throw closedError }
        do {
            return try await body()
        } catch let error as StrataError {
            throw error
        } catch let failure as KeyedFailure {
            // A batch's failure at one of its keys: mapped as that key's own call maps it.
            return try await perform(failure.key) { throw failure.underlying }
        } catch is ConnectionClosed {
            throw closedError
        } catch let corruption as RowCorruption {
            throw StrataError(
                code: .corruptEntry, message: "the row is not a valid entry: \(corruption.reason)",
                key: corruption.key ?? key, backend: backendName)
        } catch let failure as SQLiteFailure where failure.strataCode == .damagedDatabase {
            throw StrataError(
                code: .damagedDatabase, message: DamagedFile.explain(failure), key: key, backend: backendName, underlying: failure)
        } catch {
            throw StrataError(
                code: (error as? SQLiteFailure)?.strataCode ?? .backendUnavailable, message: "a SQLite call failed",
                key: key, backend: backendName, underlying: error)
        }
    }

    var closedError: StrataError {
        StrataError(code: .closed, message: "the store is closed", backend: backendName)
    }

    /// What a statement of a batch threw at `key`, so that the error names that key.
    struct KeyedFailure: Error {
        let key: String
        let underlying: any Error
    }

    struct RowCorruption: Error {
        let reason: String
        /// The row's key, when the statement read many rows (else the caller's key).
        var key: String? = nil
    }

    /// The entry in columns `first` (value) and `first + 1` (expires) of the current row.
    static func entry(from statement: Statement, first: Int32 = 0, key: String? = nil) throws -> StoredEntry {
        let valueType = statement.columnType(first)
        guard valueType == SQLITE_BLOB || valueType == SQLITE_TEXT else {
            throw RowCorruption(reason: "the value is \(typeName(valueType)), not a BLOB", key: key)
        }
        let expiresType = statement.columnType(first + 1)
        guard expiresType == SQLITE_NULL || expiresType == SQLITE_INTEGER else {
            throw RowCorruption(reason: "the expiry is \(typeName(expiresType)), not milliseconds or NULL", key: key)
        }
        return StoredEntry(
            bytes: statement.bytes(first),
            expiresAt: expiresType == SQLITE_NULL ? nil : Timestamp(millisecondsSince1970: statement.integer(first + 1)))
    }

    static func typeName(_ type: Int32) -> String {
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
func withUTF8<Output>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> Output) rethrows -> Output {
    var text = text
    return try text.withUTF8(body)
}
