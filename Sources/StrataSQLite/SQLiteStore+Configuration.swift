import Strata

extension SQLiteStore {
    /// Where a ``SQLiteStore`` keeps its table and how it talks to SQLite.
    ///
    /// ```swift
    /// var configuration = SQLiteStore.Configuration(path: "/var/cache/app.sqlite")
    /// configuration.tableName = "http_cache"
    /// configuration.synchronous = .full
    /// let sqlite = try SQLiteStore(configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// The database file; created when missing (its directory must exist).
        public var path: String
        /// The table, created when missing: letters, digits and `_`, not starting with a digit.
        public var tableName: String
        /// The journal mode; write-ahead logging lets readers run during a write.
        public var journalMode: JournalMode
        /// How often SQLite waits for the disk; `.normal` is safe with WAL against a crash
        /// of the process, and may lose the last writes on a power loss.
        public var synchronous: Synchronous
        /// How long a call waits for another process's lock before it fails.
        public var busyTimeout: Duration
        /// Bytes of the database file read through a memory map (`PRAGMA mmap_size`):
        /// connections then share the operating system's pages instead of each re-reading
        /// them into its own cache after another connection writes. 0 turns it off.
        public var memoryMapSize: Int
        /// Connections for reads, so that concurrent reads run in parallel; writes have one
        /// connection of their own.
        public var poolSize: Int
        /// The lifetime of entries written with `expires: nil`; `nil`: they never expire.
        public var defaultExpiry: Expiry?
        /// The clock lifetimes are measured with.
        public var clock: any StrataClock
        /// How often ``SQLiteStore/run()`` deletes expired rows.
        public var sweepInterval: Duration
        /// Whether opening a damaged database file moves it aside and starts a fresh one,
        /// for a cache that can be rebuilt. Off by default: a damaged file then throws
        /// `StrataError.Code.damagedDatabase` naming it.
        ///
        /// When on, opening also reads every page of the file (`PRAGMA quick_check`), so that
        /// damage anywhere is found while the file can still be moved: about 0.25 s for a
        /// 120 MB file whose pages the operating system has cached, more from a cold disk.
        /// A damaged file, with its `-wal` and `-shm`, is renamed to
        /// `<path>.damaged-<UTC time>` (see ``SQLiteStore/damagedFileMovedAside``) and a new,
        /// empty database is created at `path`. It is moved only under an exclusive lock:
        /// while another connection, of this process or another, has the file open in WAL
        /// mode, opening throws `damagedDatabase` instead, so no process goes on with a file
        /// the others no longer see. Damage found later, by a call, is reported as
        /// `damagedDatabase`; the file is moved aside the next time a store opens it.
        ///
        /// ```swift
        /// let sqlite = try SQLiteStore(configuration: .init(path: "/var/cache/app.sqlite", recoversFromDamage: true))
        /// ```
        public var recoversFromDamage: Bool
        /// The coder of the values this store writes: `JSONValueCoder` by default (as every
        /// release before coders could be chosen), or `BinaryValueCoder` (`.binary`), or
        /// yours. Entries stay readable whichever coder wrote them (see `ValueFormat`);
        /// `String`, `Data` and `[UInt8]` are stored as raw bytes whatever the coder.
        ///
        /// ```swift
        /// configuration.valueCoder = .binary
        /// ```
        public var valueCoder: any ValueCoder = JSONValueCoder()
        /// Whether the coded values this store writes are compressed: `ValueCompression.none`
        /// by default.
        ///
        /// ```swift
        /// configuration.compression = .zlib(above: 1024)
        /// ```
        public var compression: ValueCompression = .none
        /// Coders of your own whose entries this store still reads, though it no longer
        /// writes with them (JSON and `BinaryValueCoder` are always read).
        ///
        /// ```swift
        /// configuration.previousValueCoders = [OldMessageCoder()]
        /// ```
        public var previousValueCoders: [any ValueCoder] = []

        /// A configuration for the database at `path`.
        public init(
            path: String,
            tableName: String = "strata_cache",
            journalMode: JournalMode = .wal,
            synchronous: Synchronous = .normal,
            busyTimeout: Duration = .seconds(5),
            poolSize: Int = 4,
            memoryMapSize: Int = 256 << 20,
            defaultExpiry: Expiry? = nil,
            clock: any StrataClock = SystemClock(),
            sweepInterval: Duration = .seconds(60),
            recoversFromDamage: Bool = false
        ) {
            self.path = path
            self.tableName = tableName
            self.journalMode = journalMode
            self.synchronous = synchronous
            self.busyTimeout = busyTimeout
            self.poolSize = poolSize
            self.memoryMapSize = memoryMapSize
            self.defaultExpiry = defaultExpiry
            self.clock = clock
            self.sweepInterval = sweepInterval
            self.recoversFromDamage = recoversFromDamage
        }
    }

    /// A SQLite journal mode (`PRAGMA journal_mode`).
    ///
    /// ```swift
    /// configuration.journalMode = .wal
    /// ```
    public struct JournalMode: Sendable, Hashable {
        /// The pragma's value, for example `WAL`.
        public let rawValue: String
        /// Write-ahead logging: readers do not wait for a writer. The default.
        public static let wal = JournalMode(rawValue: "WAL")
        /// A rollback journal deleted after each transaction.
        public static let delete = JournalMode(rawValue: "DELETE")
        /// A rollback journal truncated after each transaction.
        public static let truncate = JournalMode(rawValue: "TRUNCATE")
        /// A rollback journal kept and overwritten.
        public static let persist = JournalMode(rawValue: "PERSIST")
    }

    /// A SQLite synchronous level (`PRAGMA synchronous`).
    ///
    /// ```swift
    /// configuration.synchronous = .full
    /// ```
    public struct Synchronous: Sendable, Hashable {
        /// The pragma's value, for example `NORMAL`.
        public let rawValue: String
        /// No waiting for the disk: fastest, may corrupt the database on a power loss.
        public static let off = Synchronous(rawValue: "OFF")
        /// Waits at checkpoints: with WAL, durable against process crashes. The default.
        public static let normal = Synchronous(rawValue: "NORMAL")
        /// Waits at every commit: durable against power loss.
        public static let full = Synchronous(rawValue: "FULL")
    }
}

extension SQLiteStore {
    /// The configuration's coder, compression and previous coders.
    public var valueFormat: ValueFormat {
        ValueFormat(
            coder: configuration.valueCoder, compression: configuration.compression, previousCoders: configuration.previousValueCoders)
    }
}
