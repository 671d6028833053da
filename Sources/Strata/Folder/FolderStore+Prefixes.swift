#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Listing, clearing and sweeping: walks of the directory, on the store's file threads.
extension FolderStore {
    /// The unexpired keys that start with `prefix`, sorted by UTF-8 bytes.
    ///
    /// Only the directories whose names can lead to the prefix are read. A file whose
    /// header is not valid is listed, so that reading it reports the corruption; foreign
    /// things are not.
    public func storedKeys(prefix: String) async throws -> [String] {
        try await onFileThread { [self] in
            let now = clock.now()
            var keys: [(hex: String, key: String)] = []
            try failing(nil) {
                try walk(prefix: prefix) { directory, name, hex in
                    guard let key = FolderLayout.key(fromHex: hex[...]),
                        case .bytes(let header) = try POSIX.readFile(name, in: directory, limit: FolderEntryFormat.headerSize)
                    else { return }
                    if let expiresAt = try? FolderEntryFormat.header(header).expiresAt, expiresAt <= now { return }
                    keys.append((hex, key))
                }
            }
            // Hex of UTF-8 sorts exactly as the bytes do.
            return keys.sorted { $0.hex < $1.hex }.map(\.key)
        }
    }

    /// The unexpired entries whose keys start with `prefix`, read in one walk of the
    /// directories (each file opened once), sorted by bytes.
    public func storedEntries(prefix: String) async throws -> [(key: String, entry: StoredEntry)] {
        try await onFileThread { [self] in
            let now = clock.now()
            var entries: [(hex: String, key: String, entry: StoredEntry)] = []
            try failing(nil) {
                try walk(prefix: prefix) { directory, name, hex in
                    guard let key = FolderLayout.key(fromHex: hex[...]),
                        case .bytes(let bytes) = try POSIX.readFile(name, in: directory)
                    else { return }
                    let entry = try decode(bytes, key: key)
                    if !entry.isExpired(at: now) { entries.append((hex, key, entry)) }
                }
            }
            // Hex of UTF-8 sorts exactly as the bytes do.
            return entries.sorted { $0.hex < $1.hex }.map { ($0.key, $0.entry) }
        }
    }

    /// Breaks the leases of the keys that start with `prefix` (present or not), then
    /// removes every entry file whose key starts with it (foreign things are left), each
    /// under the lock (so that no `increment` writes its sum over a removal); returns how
    /// many unexpired entries it removed.
    @discardableResult
    public func clear(prefix: String) async throws -> Int {
        defer { noteChange(under: prefix) }  // once cleared: flights of its keys are overtaken (C1, R1)
        return try await onFileThread { [self] in
            let now = clock.now()
            var removed = 0
            try failing(nil) {
                try breakLeases(prefix: prefix)
                try walk(prefix: prefix, removingEmptyDirectories: true) { directory, name, _ in
                    try withExclusiveLock {
                        guard case .bytes(let header) = try POSIX.readFile(name, in: directory, limit: FolderEntryFormat.headerSize),
                            try POSIX.removeFile(name, in: directory)
                        else { return }
                        if Self.isUnexpiredOrCorrupt(header, at: now) { removed += 1 }
                    }
                }
            }
            return removed
        }
    }

    /// Removes every expired entry, ended leases, and temporary files abandoned by killed
    /// writers; returns how many entries it removed.
    @discardableResult
    public func sweepExpired() async throws -> Int {
        try await onFileThread { [self] in
            let now = clock.now()
            let abandonedBefore = Self.abandonedBefore(configuration)
            var removed = 0
            try failing(nil) {
                try POSIX.removeFiles(in: temporaryDirectory, olderThan: abandonedBefore)
                try sweepLeases(at: now)
                try walk(
                    prefix: "", removingEmptyDirectories: true,
                    visitTemporary: { directory, name in
                        // A temporary file of an earlier version, which wrote them beside the entries.
                        if POSIX.isOlder(name, in: directory, than: abandonedBefore) { unlinkat(directory, name, 0) }
                    }
                ) { directory, name, _ in
                    guard try isExpiredEntry(name, in: directory, at: now) else { return }
                    // Re-check under the lock: a writer may have replaced the file since.
                    try withExclusiveLock {
                        guard try isExpiredEntry(name, in: directory, at: now) else { return }
                        if try POSIX.removeFile(name, in: directory) { removed += 1 }
                    }
                }
            }
            return removed
        }
    }
}
