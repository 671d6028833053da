import CSQLite
import Strata

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A database file SQLite finds damaged: how it is reported, how it is found at open, and
/// how ``SQLiteStore/Configuration/recoversFromDamage`` moves it aside.
enum DamagedFile {
    /// The message of a `damagedDatabase` error (the error's backend names the file).
    static func explain(_ failure: SQLiteFailure) -> String {
        let what =
            failure.primaryCode == SQLITE_NOTADB
            ? "the file is not a SQLite database (SQLITE_NOTADB)" : "its contents are malformed (SQLITE_CORRUPT)"
        return "the database file is damaged: \(what); retrying does not help: move the file aside or delete it "
            + "(Configuration.recoversFromDamage does so when the store opens)"
    }

    /// Reads every page (`PRAGMA quick_check`), so that damage anywhere in the file is found
    /// at open. Throws `damagedDatabase` when SQLite reports a problem.
    static func check(_ connection: SQLiteConnection, backend: String) throws {
        let problems = try connection.statement("PRAGMA quick_check(1)").run { statement in
            var rows: [String] = []
            while try statement.step() { rows.append(String(decoding: statement.bytes(0), as: UTF8.self)) }
            return rows
        }
        guard problems == ["ok"] else {
            throw StrataError(
                code: .damagedDatabase,
                message:
                    "the database file is damaged: PRAGMA quick_check reports \(problems.first.map { String($0.prefix(200)).debugDescription } ?? "nothing")",
                backend: backend)
        }
    }

    /// Moves the damaged file at `path`, and its `-wal` and `-shm`, to
    /// `<path>.damaged-<UTC time>` (with the same suffixes), and returns that name.
    ///
    /// It first takes an exclusive lock on the file through SQLite's own VFS, as a writer
    /// would: while any other connection has the file open in WAL mode, in this process or
    /// another (each holds a shared lock from its first read until it closes), the lock is refused and
    /// nothing is moved, so no process goes on using a file the others no longer see.
    /// The VFS, not a file descriptor of our own, because closing any descriptor of a file
    /// drops every POSIX lock this process holds on it; SQLite's VFS knows its other
    /// connections and keeps such a descriptor open until they close.
    static func moveAside(_ path: String, damage: StrataError, backend: String) throws -> String {
        func refusal(_ reason: String) -> StrataError {
            StrataError(
                code: .damagedDatabase, message: "the database file is damaged, and \(reason)", backend: backend, underlying: damage)
        }
        guard let vfs = sqlite3_vfs_find(nil), let open = vfs.pointee.xOpen else {
            throw refusal("SQLite has no default VFS to lock it with")
        }
        // SQLite keeps the name while the file is open, and expects a database's name to end
        // in two NULs (where URI parameters would follow).
        var name = Array(path.utf8CString)
        name.append(0)
        return try name.withUnsafeMutableBufferPointer { name in
            let size = Int(vfs.pointee.szOsFile)
            let storage = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            storage.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            defer { storage.deallocate() }
            let file = storage.assumingMemoryBound(to: sqlite3_file.self)
            var flags: Int32 = 0
            guard open(vfs, name.baseAddress, file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MAIN_DB, &flags) == SQLITE_OK,
                let methods = file.pointee.pMethods?.pointee
            else { throw refusal("it cannot be opened to be locked") }
            defer { _ = methods.xClose?(file) }
            guard methods.xLock?(file, SQLITE_LOCK_SHARED) == SQLITE_OK, methods.xLock?(file, SQLITE_LOCK_EXCLUSIVE) == SQLITE_OK else {
                _ = methods.xUnlock?(file, SQLITE_LOCK_NONE)
                throw refusal(
                    "another connection (a store of this process or of another) has it open, so it is not moved aside: "
                        + "close every store using it, then open it again")
            }
            defer { _ = methods.xUnlock?(file, SQLITE_LOCK_NONE) }
            let aside = asideName(for: path)
            guard rename(path, aside) == 0 else {
                throw refusal("moving it to \(aside) failed: \(String(cString: strerror(errno)))")
            }
            // The log and its index belong to the damaged file: they go with it, or else are
            // removed, so that nothing of it stays at the path.
            for suffix in ["-wal", "-shm"] where rename(path + suffix, aside + suffix) != 0 && errno != ENOENT {
                guard unlink(path + suffix) == 0 || errno == ENOENT else {
                    throw refusal(
                        "the file was moved to \(aside), but its \(suffix) could be neither moved nor removed: \(String(cString: strerror(errno)))"
                    )
                }
            }
            return aside
        }
    }

    /// `<path>.damaged-<stamp>`, with `-2`, `-3`, … when that name (or its `-wal` or `-shm`)
    /// is taken.
    static func asideName(for path: String, stamp: String = utcStamp()) -> String {
        let base = "\(path).damaged-\(stamp)"
        var candidate = base
        var number = 1
        while ["", "-wal", "-shm"].contains(where: { access(candidate + $0, F_OK) == 0 }) {
            number += 1
            candidate = "\(base)-\(number)"
        }
        return candidate
    }

    /// The time now in UTC, to the millisecond: `20250314T092653.123Z`.
    static func utcStamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var utc = tm()
        gmtime_r(&seconds, &utc)
        func digits(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return digits(utc.tm_year + 1900, 4) + digits(utc.tm_mon + 1, 2) + digits(utc.tm_mday, 2) + "T"
            + digits(utc.tm_hour, 2) + digits(utc.tm_min, 2) + digits(utc.tm_sec, 2) + "."
            + digits(Int32(now.tv_nsec / 1_000_000), 3) + "Z"
    }
}
