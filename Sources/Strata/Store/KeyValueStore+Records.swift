/// The default records: under reserved keys of the store itself, for a store that does not
/// keep records apart. Tag records sit where earlier releases wrote them for every store
/// (`"\0strata-tag:" + tag`, the instant as decimal text), so they stay readable.
///
/// Raising one reads it and writes the greater value: two processes raising one record at
/// once may both write, and the lower may land last. Every store of this package keeps its
/// records apart from its keys and raises them atomically instead; a store of your own
/// that other processes share should too.
extension KeyValueStore {
    /// Reads each record's reserved key; a missing one is 0.
    public func records(named names: [String]) async throws -> [Int64] {
        var values: [Int64] = []
        values.reserveCapacity(names.count)
        for name in names {
            values.append(try ReservedRecords.value(of: try await entry(forKey: ReservedRecords.key(for: name)), name: name, in: self))
        }
        return values
    }

    /// Writes the record's reserved key when `value` is greater than what it holds.
    public func raiseRecord(named name: String, to value: Int64) async throws {
        let key = ReservedRecords.key(for: name)
        let current = try ReservedRecords.value(of: try await entry(forKey: key), name: name, in: self)
        guard value > current else { return }
        try await setEntry(StoredEntry(bytes: Array(String(value).utf8), expiresAt: nil), forKey: key)
    }
}

/// Where the default records live, and how a record's value is written.
package enum ReservedRecords {
    /// The prefix every reserved key starts with. It begins with NUL; the typed API leaves
    /// such keys out of every listing.
    package static let prefix = KeyRules.reservedPrefix
    /// A tag's record, as earlier releases named it.
    package static let tagRecordPrefix = "\u{0}strata-tag:"
    /// The record of a store that holds entries in an envelope.
    package static let envelopesKey = "\u{0}strata-envelopes"

    /// The record name of a tag's invalidation instant.
    package static func tagRecord(_ tag: String) -> String { "tag:" + tag }

    /// The reserved key of the record `name`.
    package static func key(for name: String) -> String {
        if let tag = KeyRules.remainder(of: name, afterPrefix: "tag:") { return tagRecordPrefix + tag }
        if name == "envelopes" { return envelopesKey }
        return prefix + "record:" + name
    }

    /// Whether `key` is one of the reserved keys.
    package static func isReserved(_ key: String) -> Bool {
        key.utf8.first == 0 && KeyRules.isReserved(key)
    }

    /// The value a record's entry holds: decimal text; 0 when there is none.
    package static func value(of entry: StoredEntry?, name: String, in store: some KeyValueStore) throws -> Int64 {
        guard let entry else { return 0 }
        // Earlier releases marked a store holding envelopes with the single byte 1.
        if name == "envelopes", entry.bytes == [1] { return 1 }
        guard let text = String(validating: entry.bytes, as: UTF8.self), let value = Int64(text) else {
            throw StrataError(
                code: .corruptEntry, message: "the record \(StrataError.quoted(name)) is not a decimal number",
                key: key(for: name), backend: store.backendName)
        }
        return value
    }
}
