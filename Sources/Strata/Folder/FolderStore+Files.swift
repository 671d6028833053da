#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The file work behind ``FolderStore``'s API, run on its file threads.
extension FolderStore {
    /// Reads and decodes the key's file, expired or not; `nil` when there is none. A
    /// foreign thing in the key's slot is ``StrataError/Code/corruptEntry``.
    func readEntry(_ key: String) throws -> StoredEntry? {
        switch try readSlot(of: key) {
        case .missing:
            return nil
        case .foreign(let kind):
            throw StrataError(
                code: .corruptEntry, message: "the key's slot holds \(kind), not an entry file",
                key: key, backend: backendName)
        case .bytes(let bytes):
            return try decode(bytes, key: key)
        }
    }

    /// As ``readEntry(_:)``, but `nil` for an expired entry.
    func readUnexpiredEntry(_ key: String) throws -> StoredEntry? {
        guard let entry = try readEntry(key) else { return nil }
        return entry.isExpired(at: clock.now()) ? nil : entry
    }

    /// As ``readEntry(_:)``, but a foreign thing in the slot counts as no entry (it is
    /// replaced by the write that follows).
    func readEntryOrForeign(_ key: String) throws -> StoredEntry? {
        guard case .bytes(let bytes) = try readSlot(of: key) else { return nil }
        return try decode(bytes, key: key)
    }

    private func readSlot(of key: String) throws -> POSIX.FileContents {
        let layout = FolderLayout(key: key)
        return try failing(key) {
            try withDirectory(of: layout, create: false) { directory in
                try directory.map { try POSIX.readFile(layout.file, in: $0) } ?? .missing
            }
        }
    }

    func decode(_ bytes: [UInt8], key: String) throws -> StoredEntry {
        do {
            return try FolderEntryFormat.decode(bytes, key: key)
        } catch {
            throw StrataError(
                code: .corruptEntry, message: "the file \(FolderLayout(key: key).file) is not a valid entry",
                key: key, backend: backendName, underlying: error)
        }
    }

    /// Under the lock: breaks the key's lease (a delete of a missing key too), and removes
    /// whatever is in the key's slot; `true` when it was an unexpired entry (a corrupt file
    /// counts as one: it was there, and now it is gone). The lock keeps a removal from
    /// landing inside an `increment`'s read and write.
    func removeSlot(of key: String) throws -> Bool {
        let layout = FolderLayout(key: key)
        return try failing(key) {
            try withExclusiveLock {
                _ = try POSIX.removeSlot(FolderLeaseFormat.name(of: key), in: leaseDirectory)
                return try withDirectory(of: layout, create: false) { directory in
                    guard let directory else { return false }
                    switch try POSIX.readFile(layout.file, in: directory, limit: FolderEntryFormat.headerSize) {
                    case .missing:
                        return false
                    case .foreign:
                        _ = try POSIX.removeSlot(layout.file, in: directory)
                        return false
                    case .bytes(let header):
                        guard try POSIX.removeFile(layout.file, in: directory) else { return false }
                        return Self.isUnexpiredOrCorrupt(header, at: clock.now())
                    }
                }
            }
        }
    }

    /// Whether an entry file starting with `header` counts as an unexpired entry removed:
    /// a corrupt one does (it was there, and now it is gone).
    static func isUnexpiredOrCorrupt(_ header: [UInt8], at now: Timestamp) -> Bool {
        let expiresAt = try? FolderEntryFormat.header(header).expiresAt
        return !(expiresAt.flatMap { $0 }.map { $0 <= now } ?? false)
    }

    /// Whether `name` in `directory` is an entry file whose header says it expired by `now`.
    func isExpiredEntry(_ name: String, in directory: Int32, at now: Timestamp) throws -> Bool {
        guard case .bytes(let header) = try POSIX.readFile(name, in: directory, limit: FolderEntryFormat.headerSize),
            let expiresAt = try? FolderEntryFormat.header(header).expiresAt
        else { return false }
        return expiresAt <= now
    }

    /// What a write does with the key's lease, in the lock hold of its rename: a change of
    /// the key breaks it; a leased write lands only while it holds, and ends it unless kept.
    enum LeaseRule {
        case breaks
        case requires(EntryLease, keeping: Bool)
    }

    /// Writes the entry to a new file in `.tmp`, then, under the lock, applies `lease` and
    /// renames the file over the key's slot (replacing a foreign directory there). `false`
    /// when a required lease did not hold: nothing was written.
    ///
    /// The lease is broken before the rename, so that a failure to break it leaves the key
    /// as it was; a leased write ends its lease after the rename.
    @discardableResult
    func writeEntry(_ entry: StoredEntry, forKey key: String, holdingLock: Bool, lease: LeaseRule = .breaks) throws -> Bool {
        let layout = FolderLayout(key: key)
        let bytes = FolderEntryFormat.encode(key: key, entry: entry)
        let leaseName = FolderLeaseFormat.name(of: key)
        return try failing(key) {
            let temporary = Self.temporaryName()
            try POSIX.writeNewFile(temporary, in: temporaryDirectory, bytes: bytes, synchronize: configuration.synchronizesWrites)
            var renamed = false
            defer { if !renamed { unlinkat(temporaryDirectory, temporary, 0) } }
            let place = { (directory: Int32) throws -> Bool in
                switch lease {
                case .breaks:
                    _ = try POSIX.removeSlot(leaseName, in: self.leaseDirectory)
                    try self.rename(temporary, to: layout.file, in: directory)
                case .requires(let held, let keeping):
                    guard try self.leaseHolds(held, named: leaseName, key: key, ending: false) else { return false }
                    try self.rename(temporary, to: layout.file, in: directory)
                    if !keeping { _ = try POSIX.removeSlot(leaseName, in: self.leaseDirectory) }
                }
                return true
            }
            // A sweep may remove a directory that has just become empty; start again then.
            var attempt = 1
            while true {
                do {
                    renamed = try withDirectory(of: layout, create: true) { directory in
                        let placed = try holdingLock ? place(directory!) : withExclusiveLock { try place(directory!) }
                        if placed, configuration.synchronizesWrites { try POSIX.synchronizeDirectory(directory!) }
                        return placed
                    }
                    return renamed
                } catch let error as SystemCallError where error.errno == ENOENT && attempt < 8 {
                    attempt += 1
                }
            }
        }
    }

    /// A fresh name for a file in `.tmp`.
    static func temporaryName() -> String {
        "t-" + String(UInt64.random(in: .min ... .max), radix: 16)
    }

    /// Writes `bytes` to a new file in `.tmp` and renames it over `name` in `directory`
    /// (one of the store's own: `.leases`, `.records`), under the lock unless the caller
    /// holds it.
    func installFile(_ bytes: [UInt8], as name: String, in directory: Int32, synchronize: Bool, holdingLock: Bool) throws {
        let temporary = Self.temporaryName()
        try POSIX.writeNewFile(temporary, in: temporaryDirectory, bytes: bytes, synchronize: synchronize)
        do {
            let place = { try self.rename(temporary, to: name, in: directory) }
            if holdingLock { try place() } else { try withExclusiveLock(place) }
        } catch {
            unlinkat(temporaryDirectory, temporary, 0)
            throw error
        }
        if synchronize { try POSIX.synchronizeDirectory(directory) }
    }

    /// Renames the temporary file over `name`; a directory standing there (a foreign
    /// one: the store never makes one by that name) is removed first.
    func rename(_ temporary: String, to name: String, in directory: Int32) throws {
        if renameat(temporaryDirectory, temporary, directory, name) == 0 { return }
        guard errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST else {
            throw SystemCallError(call: "renameat", errno: errno)
        }
        _ = try POSIX.removeSlot(name, in: directory)
        if renameat(temporaryDirectory, temporary, directory, name) < 0 {
            throw SystemCallError(call: "renameat", errno: errno)
        }
    }

    /// Opens the directories of `layout` from the root and runs `body` with the last one
    /// (`nil` when one is missing and `create` is false).
    func withDirectory<Result>(of layout: FolderLayout, create: Bool, _ body: (Int32?) throws -> Result) throws -> Result {
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

    /// Calls `visit(directory, name, hex)` for every entry file name whose key's hex
    /// starts with the prefix's, descending only into directories that can lead to it
    /// (never through a symbolic link). Other names are skipped.
    func walk(
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
                    // Only the name of a key: an odd number of digits, or bytes that are not UTF-8, is a foreign name.
                    if hex.hasPrefix(prefixHex), FolderLayout.key(fromHex: hex[...]) != nil { try visit(directory, name, hex) }
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

    func withExclusiveLock<Result>(_ body: () throws -> Result) throws -> Result {
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
    func failing<Result>(_ key: String?, _ body: () throws -> Result) throws -> Result {
        do {
            return try body()
        } catch let error as SystemCallError {
            throw StrataError(code: error.code, message: "a file operation failed", key: key, backend: backendName, underlying: error)
        }
    }
}
