/// Leases, as files of the store's own in `.leases` (see `FolderLeaseFormat`), read and
/// changed only under the directory's lock, so that they hold across the processes that
/// share the directory: a leased write checks its lease and renames its entry in one lock
/// hold, and every change of a key (a write, a removal, an increment, a new lifetime, a
/// `setIfAbsent` that wrote, a `clear` of a prefix of it, another lease) removes the key's
/// lease in the lock hold of the change.
extension FolderStore {
    /// Under the lock, writes the key's lease file (replacing any other lease of the key),
    /// then reads the entry.
    public func leaseEntry(forKey key: String, lease: EntryLease, duration: Duration) async throws -> StoredEntry? {
        try await onFileThread { [self] in
            let until = clock.now().adding(milliseconds: max(1, duration.wholeMilliseconds(roundingUp: true)))
            let bytes = FolderLeaseFormat.encode(token: lease.token, until: until, key: key)
            try failing(key) {
                try installFile(bytes, as: FolderLeaseFormat.name(of: key), in: leaseDirectory, synchronize: false, holdingLock: false)
            }
            return try readUnexpiredEntry(key)
        }
    }

    /// Under the lock, checks that `lease` is the key's live lease and renames the entry
    /// into place; ends the lease unless `keepingLease`.
    public func setEntry(_ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool) async throws -> Bool {
        try await onFileThread { [self] in
            try writeEntry(entry, forKey: key, holdingLock: false, lease: .requires(lease, keeping: keepingLease))
        }
    }

    /// Under the lock, removes the key's lease file if it holds `lease`.
    public func releaseLease(_ lease: EntryLease, forKey key: String) async throws {
        try await onFileThread { [self] in
            try failing(key) {
                try withExclusiveLock { _ = try leaseHolds(lease, named: FolderLeaseFormat.name(of: key), key: key, ending: true) }
            }
        }
    }

    /// Whether `.leases/name` holds `lease` for `key`, not ended on the store's clock. Ends
    /// it when `ending`, and removes it once ended. The caller holds the lock.
    func leaseHolds(_ lease: EntryLease, named name: String, key: String, ending: Bool) throws -> Bool {
        // One byte past the key's, so that a longer key in the file does not compare equal.
        let limit = FolderLeaseFormat.headerSize + key.utf8.count + 1
        guard case .bytes(let bytes) = try POSIX.readFile(name, in: leaseDirectory, limit: limit),
            let held = FolderLeaseFormat.decode(bytes), held.token == lease.token, held.key.elementsEqual(key.utf8)
        else { return false }
        let live = held.until > clock.now().millisecondsSince1970
        if ending || !live { _ = try POSIX.removeFile(name, in: leaseDirectory) }
        return live
    }

    /// Removes the leases of every key that starts with `prefix`, in one lock hold (before
    /// a `clear` removes the entries, so that a leased write cannot land between the two).
    func breakLeases(prefix: String) throws {
        try withExclusiveLock {
            for name in try POSIX.names(in: leaseDirectory) {
                guard case .bytes(let bytes) = try POSIX.readFile(name, in: leaseDirectory),
                    let held = FolderLeaseFormat.decode(bytes), held.key.starts(with: prefix.utf8)
                else { continue }
                _ = try POSIX.removeFile(name, in: leaseDirectory)
            }
        }
    }

    /// Removes the leases that ended by `now`, and regular files in `.leases` that are not
    /// leases (no check would ever honour them); each is checked again under the lock.
    func sweepLeases(at now: Timestamp) throws {
        func hasEnded(_ name: String) throws -> Bool {
            guard case .bytes(let bytes) = try POSIX.readFile(name, in: leaseDirectory) else { return false }
            return FolderLeaseFormat.decode(bytes).map { $0.until <= now.millisecondsSince1970 } ?? true
        }
        for name in try POSIX.names(in: leaseDirectory) where try hasEnded(name) {
            try withExclusiveLock {
                if try hasEnded(name) { _ = try POSIX.removeFile(name, in: leaseDirectory) }
            }
        }
    }
}
