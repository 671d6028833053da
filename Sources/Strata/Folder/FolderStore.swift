import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A durable store that keeps one file per key under a directory.
///
/// - Any valid key works, including `../x`, `/`, NUL and 1024-byte keys: file names
///   are the hex of the key's bytes, so no key can name a file outside the directory.
/// - Writes are atomic: a value is written to a temporary file in `.tmp` and renamed over
///   the entry, so a reader sees the old value or the new one, even if the writer is
///   killed (a reader that opened the old file just before the rename reads it whole).
/// - Lifetimes are stored as wall-clock instants, so they survive a restart.
/// - Several processes may share one directory: every change of a key (the rename of a
///   write, a removal, and the read before the write of `increment`, `setIfAbsent` and
///   `expire`) happens under an exclusive lock on `.lock` (a `flock`).
/// - Leases (``leaseEntry(forKey:lease:duration:)``) are files in `.leases`, one per key,
///   named by the SHA-256 of the key's bytes and holding the token, the instant the lease
///   ends and the key. A leased write checks its lease and renames its entry in one hold
///   of the lock, and every change of the key removes its lease in the hold of the change,
///   in whichever process sharing the directory makes it.
/// - Records (``raiseRecord(named:to:)``) are files in `.records`, one per name, raised
///   under the lock. Leases and records are not keys: no listing shows them, a `clear`
///   removes only the leases of the keys it covers and never a record, and a sweep
///   removes only ended leases.
/// - A file that is not a valid entry throws ``StrataError/Code/corruptEntry`` naming
///   the key. Files are created with mode 0600 and directories with 0700.
/// - Foreign things in the directory (symbolic links, directories, FIFOs, sockets, files
///   with other hard links or other names, files larger than half the machine's memory)
///   are never followed, opened for long, read whole or written through: listing,
///   clearing and sweeping skip them; reading a key whose slot
///   holds one is ``StrataError/Code/corruptEntry``; writing or deleting the key replaces
///   or removes it.
/// - File work runs on threads of the store's own (``Configuration/fileThreads``), never
///   on Swift's cooperative threads, except a read that cannot wait: on Linux, on a local
///   file system, a read whose path and bytes are in the kernel's caches (`openat2` with
///   `RESOLVE_CACHED`, `preadv2` with `RWF_NOWAIT`) is served on the calling thread,
///   without two thread switches.
///
/// Expired files are not served, and are removed, with ended leases, by ``sweepExpired()``.
///
/// ```swift
/// let folder = try FolderStore(directory: "./cache")
/// try await folder.set("page:/home", html, expires: "10min")
/// let page = try await folder.get("page:/home", as: String.self)
/// ```
public final class FolderStore: KeyValueStore, BackgroundWork {
    /// Its hybrid clock and envelope mark, kept here rather than in a registry that would
    /// hold the store weakly (see `StoreProcessState`).
    package let processState = StoreProcessState()
    /// The directory, default lifetime and clock this store was made with.
    public let configuration: Configuration
    /// The store's directory, open for the store's lifetime.
    let root: Int32
    /// `.tmp`, where writes are prepared before they are renamed into place.
    let temporaryDirectory: Int32
    /// `.leases`, a file per key lease (see `FolderStore+Leases.swift`).
    let leaseDirectory: Int32
    /// `.records`, a file per record (see `FolderStore+Records.swift`).
    let recordDirectory: Int32
    /// `.lock`, locked with `flock` across processes.
    let lockFile: Int32
    /// Excludes the threads of this process from one another around the file lock
    /// (a `flock` is held by an open file, which all threads here share).
    let processLock = Lock(false)
    private let closed = Atomic<Bool>(false)
    let threads: FileThreads
    /// Whether reads are tried on the calling thread first (see `FolderStore+CachedReads.swift`).
    let cachedReads: CachedReadSupport

    /// A store over `directory`, creating it when missing.
    ///
    /// Throws ``StrataError/Code/backendUnavailable`` naming the directory when it cannot
    /// be created, opened or written to.
    ///
    /// ```swift
    /// let folder = try FolderStore(directory: "./cache", defaultExpiry: "1d")
    /// ```
    public convenience init(directory: String, defaultExpiry: Expiry? = nil) throws {
        try self.init(configuration: Configuration(directory: directory, defaultExpiry: defaultExpiry))
    }

    /// A store made from a full ``Configuration``; removes the temporary files of killed
    /// writers older than ``Configuration/abandonedFileAge``.
    public init(configuration: Configuration) throws {
        self.configuration = configuration
        self.backendName = "FolderStore(\(configuration.directory))"
        let name = "FolderStore(\(configuration.directory))"
        func unavailable(_ message: String, _ error: (any Error)? = nil) -> StrataError {
            StrataError(code: (error as? SystemCallError)?.code ?? .backendUnavailable, message: message, backend: name, underlying: error)
        }
        guard !configuration.directory.isEmpty else { throw unavailable("the directory path is empty") }
        guard configuration.fileThreads >= 1 else {
            throw StrataError(code: .invalidConfiguration, message: "fileThreads must be at least 1", backend: name)
        }
        try Self.makeDirectory(configuration.directory, unavailable: unavailable)
        root = open(configuration.directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else {
            throw unavailable("cannot open the directory", SystemCallError(call: "open", errno: errno))
        }
        lockFile = openat(root, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard lockFile >= 0 else {
            let failure = SystemCallError(call: "openat(.lock)", errno: errno)
            POSIX.closeDescriptor(root)
            throw unavailable("cannot write in the directory", failure)
        }
        var own: [Int32] = []
        do {
            for name in [".tmp", ".leases", ".records"] { own.append(try POSIX.openDirectory(name, in: root, create: true) ?? -1) }
            try POSIX.removeFiles(in: own[0], olderThan: Self.abandonedBefore(configuration))
        } catch {
            own.forEach(POSIX.closeDescriptor)
            POSIX.closeDescriptor(lockFile)
            POSIX.closeDescriptor(root)
            throw unavailable("cannot prepare the directory's .tmp, .leases and .records", error)
        }
        (temporaryDirectory, leaseDirectory, recordDirectory) = (own[0], own[1], own[2])
        threads = FileThreads(count: configuration.fileThreads, label: "strata.folder")
        cachedReads = CachedReadSupport(directory: root)
    }

    deinit {
        POSIX.closeDescriptor(recordDirectory)
        POSIX.closeDescriptor(leaseDirectory)
        POSIX.closeDescriptor(temporaryDirectory)
        POSIX.closeDescriptor(lockFile)
        POSIX.closeDescriptor(root)
    }

    private static func makeDirectory(_ path: String, unavailable: (String, (any Error)?) -> StrataError) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw unavailable("the path is not a directory", nil) }
            return
        }
        guard errno == ENOENT else {
            throw unavailable("cannot reach the directory", SystemCallError(call: "stat", errno: errno))
        }
        var partial = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            partial += component + "/"
            if mkdir(partial, 0o700) < 0, errno != EEXIST {
                throw unavailable("cannot create the directory", SystemCallError(call: "mkdir(\(partial))", errno: errno))
            }
        }
    }

    /// When temporary files count as abandoned: seconds since 1970.
    static func abandonedBefore(_ configuration: Configuration) -> Int {
        Int(configuration.clock.now().millisecondsSince1970 / 1_000) - Int(configuration.abandonedFileAge.components.seconds)
    }

    /// `FolderStore(<directory>)`, made once: every error and decoded read names it.
    public let backendName: String

    /// The configured default lifetime.
    public var defaultExpiry: Expiry? { configuration.defaultExpiry }

    /// The configured clock.
    public var clock: any StrataClock { configuration.clock }

    // MARK: Entries

    /// The unexpired entry for `key`; throws ``StrataError/Code/corruptEntry`` for an
    /// invalid file or a foreign thing in the key's slot.
    public func entry(forKey key: String) async throws -> StoredEntry? {
        try checkOpen()
        switch readSlotIfCached(of: key) {
        case .missing: return nil
        case .bytes(let bytes):
            let entry = try decode(bytes, key: key)
            return entry.isExpired(at: clock.now()) ? nil : entry
        case .foreign, nil: return try await onFileThread { [self] in try readUnexpiredEntry(key) }
        }
    }

    /// Writes the entry to a temporary file, then, under the lock, breaks the key's lease
    /// and renames the file over the key's file.
    public func setEntry(_ entry: StoredEntry, forKey key: String) async throws {
        try await onFileThread { [self] in _ = try writeEntry(entry, forKey: key, holdingLock: false) }
    }

    /// Under the lock: writes the entry (breaking the key's lease) when the key has no
    /// unexpired entry.
    public func setEntryIfAbsent(_ entry: StoredEntry, forKey key: String) async throws -> Bool {
        try await onFileThread { [self] in
            try withExclusiveLock {
                if let existing = try readEntryOrForeign(key), !existing.isExpired(at: clock.now()) { return false }
                try writeEntry(entry, forKey: key, holdingLock: true)
                return true
            }
        }
    }

    /// Under the lock: breaks the key's lease and removes the key's file (or whatever
    /// foreign thing holds its slot); `true` when it held an unexpired entry.
    @discardableResult
    public func removeEntry(forKey key: String) async throws -> Bool {
        try await onFileThread { [self] in try removeSlot(of: key) }
    }

    /// Under the lock: rewrites an unexpired entry with a new expiry, breaking its lease.
    public func setExpiration(_ expiresAt: Timestamp?, forKey key: String) async throws -> Bool {
        try await onFileThread { [self] in
            try withExclusiveLock {
                guard var entry = try readEntry(key), !entry.isExpired(at: clock.now()) else { return false }
                entry.expiresAt = expiresAt
                try writeEntry(entry, forKey: key, holdingLock: true)
                return true
            }
        }
    }

    /// Under the lock, across processes: adds `delta` to the integer at `key`, breaking
    /// its lease.
    public func incrementEntry(forKey key: String, by delta: Int, expiresAt: Timestamp?) async throws -> Int {
        try await onFileThread { [self] in
            try withExclusiveLock {
                var entry = StoredEntry(bytes: [], expiresAt: expiresAt)
                var sum = delta
                if let existing = try readEntry(key), !existing.isExpired(at: clock.now()) {
                    sum = try existing.integer(adding: delta, key: key, backend: backendName)
                    entry.expiresAt = existing.expiresAt
                }
                entry.bytes = Array(String(sum).utf8)
                try writeEntry(entry, forKey: key, holdingLock: true)
                return sum
            }
        }
    }

    /// Sweeps every ``Configuration/sweepInterval`` until cancelled or closed (or, with
    /// the `ServiceLifecycle` trait, a graceful shutdown), then returns normally.
    ///
    /// ```swift
    /// let sweeper = Task { try await folder.run() }
    /// ```
    public func run() async throws {
        try await Background.repeating(every: configuration.sweepInterval, until: { [self] in closed.load(ordering: .acquiring) }) {
            [self] in try await sweepExpired()
        }
    }

    /// Marks the store closed: later calls throw ``StrataError/Code/closed``. The
    /// directory handle is released when the store is deallocated.
    public func close() async {
        closed.store(true, ordering: .releasing)
    }

    /// Runs `work` on one of the store's file threads, after checking the store is open.
    func onFileThread<Output: Sendable>(_ work: @escaping @Sendable () throws -> Output) async throws -> Output {
        try checkOpen()
        return try await threads.run(work)
    }

    /// Throws ``StrataError/Code/closed`` once the store is closed.
    func checkOpen() throws {
        if closed.load(ordering: .acquiring) {
            throw StrataError(code: .closed, message: "the store is closed", backend: backendName)
        }
    }
}

extension FolderStore: KeepsProcessState {}
