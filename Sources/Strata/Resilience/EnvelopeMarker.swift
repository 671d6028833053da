/// Whether a store may hold entries in an envelope, recorded in the store itself (a
/// reserved key written once per store and process) so that every process sees it. A
/// plain `keys()` checks each listed entry's lifetime only when the marker is among the
/// keys it listed, so a store that never used options pays nothing for it.
package enum EnvelopeMarker {
    package static let key = "\u{0}strata-envelopes"
    /// Stores this process marked, weakly (a new store at a freed store's address is not
    /// taken for it), and when: the marker is written again a second later at the
    /// earliest, since a `clear()` anywhere may have removed it.
    private struct Marked: @unchecked Sendable {  // only read and written under `marked`'s lock
        weak var store: AnyObject?
        var at: ContinuousClock.Instant
    }
    private static let marked = Lock([ObjectIdentifier: Marked]())

    /// Writes the marker into `store` unless this process did within the last second.
    static func mark(_ store: some KeyValueStore) async throws {
        let id = ObjectIdentifier(store)
        let now = ContinuousClock.now
        let fresh = marked.withLock { marked in
            guard let entry = marked[id], entry.store === store else { return false }
            return now - entry.at < .seconds(1)
        }
        if fresh { return }
        _ = try await store.setEntryIfAbsent(StoredEntry(bytes: [1], expiresAt: nil), forKey: key)
        marked.withLock { $0[id] = Marked(store: store, at: now) }
    }

    /// Whether `key` is one of Strata's reserved keys (the marker, a tag's record).
    package static func isReserved(_ key: String) -> Bool {
        key.utf8.first == 0 && (key == Self.key || key.hasPrefix(TagInvalidations.reservedPrefix))
    }
}
