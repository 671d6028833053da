import Synchronization

/// Whether a store may hold entries in an envelope, kept as the store's `envelopes` record
/// (``KeyValueStore/raiseRecord(named:to:)``) so that every process sees it. The typed
/// `keys(prefix:)` reads the entries it lists, to leave out those past their lifetime, only
/// when the record is set, so a store that never used options pays nothing for it.
package enum EnvelopeMarker {
    package static let record = "envelopes"

    /// Raises the record in `store` unless this process did within the last second. (A
    /// store keeping records under reserved keys loses it to a `clear()`: it is raised
    /// again a second later at the latest.)
    package static func mark(_ store: some KeyValueStore) async throws {
        let now = ContinuousClock.now
        if isMarked(store, since: now - .seconds(1)) { return }
        try await store.raiseRecord(named: record, to: 1)
        remember(store, at: now)
    }

    /// Whether `store` holds (or held) an entry with an envelope: answered from memory once
    /// this process has seen the record set.
    package static func holdsEnvelopes(_ store: some KeyValueStore) async throws -> Bool {
        if isMarked(store, since: nil) { return true }
        guard try await store.records(named: [record])[0] > 0 else { return false }
        remember(store, at: ContinuousClock.now - .seconds(1))
        return true
    }

    private static func isMarked(_ store: some KeyValueStore, since: ContinuousClock.Instant?) -> Bool {
        guard let at = StoreProcessState.of(store).envelopesMarkedAt.withLock({ $0 }) else { return false }
        return since.map { at >= $0 } ?? true
    }

    private static func remember(_ store: some KeyValueStore, at instant: ContinuousClock.Instant) {
        StoreProcessState.of(store).envelopesMarkedAt.withLock { $0 = instant }
    }
}
