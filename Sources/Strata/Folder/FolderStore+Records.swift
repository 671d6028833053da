/// Records, as files of the store's own in `.records`: one per record, named by the
/// SHA-256 (in hex) of the record's name, holding its value as decimal text. They are not
/// entries: no listing shows them and no `clear` or sweep removes them. A raise reads and
/// replaces the file in one hold of the directory's lock (max-merge across processes); a
/// read needs no lock, since a record file is only ever replaced whole, by a rename.
///
/// A record never raised in this layout is read where earlier releases kept it for every
/// store, under its reserved key (`"\0strata-tag:" + tag`), so that tags invalidated before
/// an upgrade stay invalidated; the first raise copies it into `.records`.
extension FolderStore {
    /// Each record's value; 0 for a name never recorded.
    public func records(named names: [String]) async throws -> [Int64] {
        try await onFileThread { [self] in try names.map { try record($0).value } }
    }

    /// Under the lock: replaces the record's file with `value` when that is greater than
    /// the value recorded.
    public func raiseRecord(named name: String, to value: Int64) async throws {
        try await onFileThread { [self] in
            try withExclusiveLock {
                let current = try record(name)
                guard value > current.value || (current.isEarlier && current.value > 0) else { return }
                try failing(nil) {
                    try installFile(
                        Array(String(max(value, current.value)).utf8), as: SHA256.hex(name.utf8), in: recordDirectory,
                        synchronize: configuration.synchronizesWrites, holdingLock: true)
                }
            }
        }
    }

    /// The record's value, and whether it was read from an earlier release's reserved key.
    private func record(_ name: String) throws -> (value: Int64, isEarlier: Bool) {
        func corrupt(_ what: String) -> StrataError {
            StrataError(
                code: .corruptEntry, message: "the record \(StrataError.quoted(name)) in .records \(what)", backend: backendName)
        }
        switch try failing(nil, { try POSIX.readFile(SHA256.hex(name.utf8), in: recordDirectory) }) {
        case .bytes(let bytes):
            guard let text = String(validating: bytes, as: UTF8.self), let value = Int64(text) else {
                throw corrupt("is not a decimal number")
            }
            return (value, false)
        case .foreign(let kind):
            throw corrupt("is \(kind), not a record file")
        case .missing:
            let key = ReservedRecords.key(for: name)
            guard let entry = try readEntryOrForeign(key), !entry.isExpired(at: clock.now()) else { return (0, false) }
            // The envelope marker of earlier releases was the single byte 1.
            if name == EnvelopeMarker.record, entry.bytes == [1] { return (1, true) }
            return (try ReservedRecords.value(of: entry, name: name, in: self), true)
        }
    }
}
