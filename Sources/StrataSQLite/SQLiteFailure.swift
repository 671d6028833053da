import CSQLite
import Strata

/// A failed SQLite call: its result code, SQLite's message, and the SQL it ran, so a
/// caller can match on the code (wrapped as the `underlying` error of a `StrataError`).
///
/// ```swift
/// if let failure = error.underlying as? SQLiteFailure, failure.code == SQLITE_FULL { ... }
/// ```
public struct SQLiteFailure: Error, Sendable, CustomStringConvertible {
    /// The extended result code, for example `SQLITE_BUSY` (5) or `SQLITE_NOTADB` (26).
    public var code: Int32
    /// SQLite's message for the failure.
    public var message: String
    /// The statement that failed, when there is one.
    public var sql: String?

    /// The primary result code (the low byte of the extended code).
    public var primaryCode: Int32 { code & 0xFF }

    /// What a caller can do about it: no room (`SQLITE_FULL`: the disk or
    /// `max_page_count`), no permission (`SQLITE_READONLY`, `SQLITE_PERM`, `SQLITE_AUTH`),
    /// a damaged file (`SQLITE_CORRUPT`, `SQLITE_NOTADB`: retrying does not help), a value
    /// longer than SQLite takes (`SQLITE_TOOBIG`: its length limit, 1,000,000,000 bytes by
    /// default), or anything else.
    var strataCode: StrataError.Code {
        switch primaryCode {
        case SQLITE_FULL: .storageFull
        case SQLITE_TOOBIG: .valueTooLarge
        case SQLITE_READONLY, SQLITE_PERM, SQLITE_AUTH: .accessDenied
        case SQLITE_CORRUPT, SQLITE_NOTADB: .damagedDatabase
        default: .backendUnavailable
        }
    }

    /// Whether another connection holds a lock this call needed.
    var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }

    /// `SQLite error 5 (database is locked) in: SELECT …`.
    public var description: String {
        "SQLite error \(code) (\(message))" + (sql.map { " in: \($0)" } ?? "")
    }
}

/// The error a statement in a closed store throws.
struct ConnectionClosed: Error {}
