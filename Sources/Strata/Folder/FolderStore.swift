#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A durable store that keeps one file per key under a directory.
///
/// - Any valid key works, including `../x`, `/`, NUL and 1024-byte keys: file names
///   are the hex of the key's bytes, so no key can name a file outside the directory.
/// - Writes are atomic: a value is written to a temporary file and renamed over the
///   entry, so a reader sees the old value or the new one, even if the writer is killed.
/// - Lifetimes are stored as wall-clock instants, so they survive a restart.
/// - Several processes may share one directory: read-modify-write operations
///   (`increment`, `setIfAbsent`, `expire`) hold an exclusive lock on `.lock`.
/// - A file that is not a valid entry throws ``StrataError/Code/corruptEntry`` naming
///   the key. Files are created with mode 0600 and directories with 0700.
///
/// Expired files are not served, and are removed by ``sweepExpired()``.
///
/// ```swift
/// let folder = try FolderStore(directory: "./cache")
/// try await folder.set("page:/home", html, expires: "10min")
/// let page = try await folder.get("page:/home", as: String.self)
/// ```
public final class FolderStore: KeyValueStore {
    /// Where a ``FolderStore`` keeps its files and how it writes them.
    ///
    /// ```swift
    /// var configuration = FolderStore.Configuration(directory: "/var/cache/app")
    /// configuration.synchronizesWrites = true
    /// let folder = try FolderStore(configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// The directory; created (mode 0700, with its parents) when missing.
        public var directory: String
        /// The lifetime of entries written with `expires: nil`; `nil`: they never expire.
        public var defaultExpiry: Expiry?
        /// The clock lifetimes are measured with.
        public var clock: any StrataClock
        /// Whether each write is flushed to the disk (`fsync`) before it becomes visible,
        /// so it survives a power loss, not only a crash of the process. Off by default.
        public var synchronizesWrites: Bool
        /// Temporary files left by a killed writer are removed by a sweep once this old.
        public var abandonedFileAge: Duration

        /// A configuration for `directory`.
        public init(
            directory: String,
            defaultExpiry: Expiry? = nil,
            clock: any StrataClock = SystemClock(),
            synchronizesWrites: Bool = false,
            abandonedFileAge: Duration = .seconds(3600)
        ) {
            self.directory = directory
            self.defaultExpiry = defaultExpiry
            self.clock = clock
            self.synchronizesWrites = synchronizesWrites
            self.abandonedFileAge = abandonedFileAge
        }
    }

    /// The directory, default lifetime and clock this store was made with.
    public let configuration: Configuration
    /// The store's directory, open for the store's lifetime.
    private let root: Int32
    /// `.lock`, locked with `flock` across processes.
    private let lockFile: Int32
    /// Excludes the threads of this process from one another around the file lock
    /// (a `flock` is held by an open file, which all threads here share).
    private let processLock = Mutex(false)
    private let closed = Atomic<Bool>(false)

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

    /// A store made from a full ``Configuration``.
    public init(configuration: Configuration) throws {
        self.configuration = configuration
        let name = "FolderStore(\(configuration.directory))"
        func unavailable(_ message: String, _ error: (any Error)? = nil) -> StrataError {
            StrataError(code: .backendUnavailable, message: message, backend: name, underlying: error)
        }
        guard !configuration.directory.isEmpty else { throw unavailable("the directory path is empty") }
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
    }

    deinit {
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

    /// `FolderStore(<directory>)`.
    public var backendName: String { "FolderStore(\(configuration.directory))" }

    /// The configured default lifetime.
    public var defaultExpiry: Expiry? { configuration.defaultExpiry }

    /// The configured clock.
    public var clock: any StrataClock { configuration.clock }

    // MARK: Entries

    /// The unexpired entry for `key`; throws ``StrataError/Code/corruptEntry`` for an invalid file.
    public func entry(forKey key: String) async throws -> StoredEntry? {
        try checkOpen()
        guard let entry = try readEntry(key) else { return nil }
        return entry.isExpired(at: clock.now()) ? nil : entry
    }

    /// Writes the entry to a temporary file and renames it over the key's file.
    public func setEntry(_ entry: StoredEntry, forKey key: String) async throws {
        try checkOpen()
        try writeEntry(entry, forKey: key, holdingLock: false)
    }

    /// Under the lock: writes the entry when the key has no unexpired entry.
    public func setEntryIfAbsent(_ entry: StoredEntry, forKey key: String) async throws -> Bool {
        try checkOpen()
        return try withExclusiveLock {
            if let existing = try readEntry(key), !existing.isExpired(at: clock.now()) { return false }
            try writeEntry(entry, forKey: key, holdingLock: true)
            return true
        }
    }

    /// Removes the key's file; `true` when it held an unexpired entry.
    @discardableResult
    public func removeEntry(forKey key: String) async throws -> Bool {
        try checkOpen()
        let layout = FolderLayout(key: key)
        return try failing(key) {
            try withDirectory(of: layout, create: false) { directory in
                guard let directory else { return false }
                let header = try POSIX.readFile(layout.file, in: directory, limit: FolderEntryFormat.headerSize)
                guard let header else { return false }
                guard try POSIX.removeFile(layout.file, in: directory) else { return false }  // a concurrent delete won
                // A corrupt file counted as present: it was there, and now it is gone.
                let expiresAt = try? FolderEntryFormat.header(header).expiresAt
                return !(expiresAt.flatMap { $0 }.map { $0 <= clock.now() } ?? false)
            }
        }
    }

    /// Under the lock: rewrites an unexpired entry with a new expiry.
    public func setExpiration(_ expiresAt: Timestamp?, forKey key: String) async throws -> Bool {
        try checkOpen()
        return try withExclusiveLock {
            guard var entry = try readEntry(key), !entry.isExpired(at: clock.now()) else { return false }
            entry.expiresAt = expiresAt
            try writeEntry(entry, forKey: key, holdingLock: true)
            return true
        }
    }

    /// Under the lock, across processes: adds `delta` to the integer at `key`.
    public func incrementEntry(forKey key: String, by delta: Int, expiresAt: Timestamp?) async throws -> Int {
        try checkOpen()
        return try withExclusiveLock {
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

    // MARK: Prefixes and sweeping

    /// The unexpired keys that start with `prefix`, sorted by UTF-8 bytes.
    ///
    /// Only the directories whose names can lead to the prefix are read. A file whose
    /// header is not valid is listed, so that reading it reports the corruption.
    public func keys(prefix: String) async throws -> [String] {
        try checkOpen()
        let now = clock.now()
        var keys: [(hex: String, key: String)] = []
        try failing(nil) {
            try walk(prefix: prefix) { directory, name, hex in
                guard let key = FolderLayout.key(fromHex: hex[...]) else { return }
                let header = try POSIX.readFile(name, in: directory, limit: FolderEntryFormat.headerSize)
                guard let header else { return }  // removed since it was listed
                if let expiresAt = try? FolderEntryFormat.header(header).expiresAt, expiresAt <= now { return }
                keys.append((hex, key))
            }
        }
        // Hex of UTF-8 sorts exactly as the bytes do.
        return keys.sorted { $0.hex < $1.hex }.map(\.key)
    }

    /// Removes every file whose key starts with `prefix`; returns how many unexpired entries it removed.
    @discardableResult
    public func clear(prefix: String) async throws -> Int {
        try checkOpen()
        let now = clock.now()
        var removed = 0
        try failing(nil) {
            try walk(prefix: prefix, removingEmptyDirectories: true) { directory, name, _ in
                let header = try POSIX.readFile(name, in: directory, limit: FolderEntryFormat.headerSize)
                guard header != nil, try POSIX.removeFile(name, in: directory) else { return }
                let expiresAt = try? FolderEntryFormat.header(header!).expiresAt
                if !(expiresAt.flatMap { $0 }.map { $0 <= now } ?? false) { removed += 1 }
            }
        }
        return removed
    }

    /// Removes every expired entry, and temporary files abandoned by killed writers.
    @discardableResult
    public func sweepExpired() async throws -> Int {
        try checkOpen()
        let now = clock.now()
        let abandonedBefore = Int(now.millisecondsSince1970 / 1_000) - Int(configuration.abandonedFileAge.components.seconds)
        var removed = 0
        try failing(nil) {
            try walk(prefix: "", removingEmptyDirectories: true, visitTemporary: { directory, name in
                if POSIX.isOlder(name, in: directory, than: abandonedBefore) { unlinkat(directory, name, 0) }
            }) { directory, name, _ in
                guard let header = try POSIX.readFile(name, in: directory, limit: FolderEntryFormat.headerSize),
                      let expiresAt = try? FolderEntryFormat.header(header).expiresAt, expiresAt <= now
                else { return }
                // Re-check under the lock: a writer may have replaced the file since.
                try withExclusiveLock {
                    guard let header = try POSIX.readFile(name, in: directory, limit: FolderEntryFormat.headerSize),
                          let expiresAt = try? FolderEntryFormat.header(header).expiresAt, expiresAt <= now
                    else { return }
                    if try POSIX.removeFile(name, in: directory) { removed += 1 }
                }
            }
        }
        return removed
    }

    /// Marks the store closed: later calls throw ``StrataError/Code/closed``. The
    /// directory handle is released when the store is deallocated.
    public func close() async {
        closed.store(true, ordering: .releasing)
    }

    // MARK: Internals

    private func checkOpen() throws {
        if closed.load(ordering: .acquiring) {
            throw StrataError(code: .closed, message: "the store is closed", backend: backendName)
        }
    }

    /// Reads and decodes the key's file, expired or not; `nil` when there is none.
    private func readEntry(_ key: String) throws -> StoredEntry? {
        let layout = FolderLayout(key: key)
        let bytes = try failing(key) {
            try withDirectory(of: layout, create: false) { directory in
                try directory.flatMap { try POSIX.readFile(layout.file, in: $0) }
            }
        }
        guard let bytes else { return nil }
        do {
            return try FolderEntryFormat.decode(bytes, key: key)
        } catch {
            throw StrataError(
                code: .corruptEntry, message: "the file \(layout.file) is not a valid entry",
                key: key, backend: backendName, underlying: error)
        }
    }

    private func writeEntry(_ entry: StoredEntry, forKey key: String, holdingLock: Bool) throws {
        let layout = FolderLayout(key: key)
        let bytes = FolderEntryFormat.encode(key: key, entry: entry)
        try failing(key) {
            // A sweep may remove a directory that has just become empty; start again then.
            for attempt in 1...8 {
                do {
                    try withDirectory(of: layout, create: true) { directory in
                        let temporary = ".t-" + String(UInt64.random(in: .min ... .max), radix: 16)
                        try POSIX.writeNewFile(
                            temporary, in: directory!, bytes: bytes, synchronize: configuration.synchronizesWrites)
                        let rename = {
                            if renameat(directory!, temporary, directory!, layout.file) < 0 {
                                let failure = SystemCallError(call: "renameat", errno: errno)
                                unlinkat(directory!, temporary, 0)
                                throw failure
                            }
                        }
                        if holdingLock { try rename() } else { try withExclusiveLock(rename) }
                        if configuration.synchronizesWrites { fsync(directory!) }
                    }
                    return
                } catch let error as SystemCallError where error.errno == ENOENT && attempt < 8 {
                    continue
                }
            }
        }
    }

    /// Opens the directories of `layout` from the root and runs `body` with the last one
    /// (`nil` when one is missing and `create` is false).
    private func withDirectory<Result>(
        of layout: FolderLayout, create: Bool, _ body: (Int32?) throws -> Result
    ) throws -> Result {
        var current = root
        defer { if current != root { POSIX.closeDescriptor(current) } }
        for component in layout.directories {
            let next = try POSIX.openDirectory(component, in: current, create: create)
            if current != root { POSIX.closeDescriptor(current) }
            guard let next else {
                current = root
                return try body(nil)
            }
            current = next
        }
        return try body(current)
    }

    /// Calls `visit(directory, name, hex)` for every entry file whose key's hex starts
    /// with the prefix's, descending only into directories that can lead to it.
    private func walk(
        prefix: String,
        removingEmptyDirectories: Bool = false,
        visitTemporary: ((Int32, String) throws -> Void)? = nil,
        visit: (Int32, String, String) throws -> Void
    ) throws {
        let prefixHex = FolderLayout.hex(prefix)
        func walk(_ directory: Int32, consumed: String) throws {
            for name in try POSIX.names(in: directory) {
                if name.hasPrefix(".") {
                    if name.hasPrefix(".t-") { try visitTemporary?(directory, name) }
                    continue
                }
                if FolderLayout.isEntryFile(name) {
                    let hex = consumed + name.dropLast(FolderLayout.entrySuffix.count)
                    if hex.hasPrefix(prefixHex) { try visit(directory, name, hex) }
                } else if FolderLayout.isDirectoryComponent(name) {
                    let hex = consumed + name
                    guard hex.hasPrefix(prefixHex) || prefixHex.hasPrefix(hex) else { continue }
                    guard let child = try POSIX.openDirectory(name, in: directory, create: false) else { continue }
                    defer { POSIX.closeDescriptor(child) }
                    try walk(child, consumed: hex)
                    if removingEmptyDirectories { unlinkat(directory, name, AT_REMOVEDIR) }  // fails unless empty
                }
            }
        }
        try walk(root, consumed: "")
    }

    private func withExclusiveLock<Result>(_ body: () throws -> Result) throws -> Result {
        try processLock.withLock { _ in
            while flock(lockFile, LOCK_EX) < 0 {
                guard errno == EINTR else {
                    throw StrataError(
                        code: .backendUnavailable, message: "cannot lock the directory",
                        backend: backendName, underlying: SystemCallError(call: "flock", errno: errno))
                }
            }
            defer { flock(lockFile, LOCK_UN) }
            return try body()
        }
    }

    /// Turns a failed system call into a ``StrataError`` naming the key and the directory.
    private func failing<Result>(_ key: String?, _ body: () throws -> Result) throws -> Result {
        do {
            return try body()
        } catch let error as SystemCallError {
            throw StrataError(code: error.code, message: "a file operation failed", key: key, backend: backendName, underlying: error)
        }
    }
}
