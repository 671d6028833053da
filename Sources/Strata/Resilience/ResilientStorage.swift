/// What the resilient `getOrSet` needs of a store: read a value with its envelope, write
/// one, and report what happened. A plain store and a tiered store (with its L1 and its
/// events) each provide one.
protocol ResilientStorage: Sendable {
    var store: any KeyValueStore { get }
    /// The value at `key`, fresh or within its grace; `nil` for a miss, an unreadable
    /// envelope, a value that does not decode, or an entry whose tag was invalidated.
    func read<Value: Codable & Sendable>(_ key: String, as type: Value.Type) async throws -> StoredValue<Value>?
    /// Writes a computed (or re-armed) value.
    func write<Value: Codable & Sendable>(_ key: String, _ value: Value, _ entry: StoredEntry, _ envelope: EntryEnvelope?) async throws
    /// Reports an event (a tiered store counts it and tells its observers).
    func report(_ kind: TieredStore.Event.Kind, _ key: String, error: StrataError?)
    /// Takes the cross-instance compute lock for an eager refresh: `nil` when another
    /// instance holds it; a token ("" without a lock) otherwise.
    func acquireRefreshLock(_ key: String) async -> String?
    func releaseRefreshLock(_ key: String, token: String) async
}

/// A plain store: entries read and written as they are, tags checked against the store.
struct PlainResilientStorage<Store: KeyValueStore>: ResilientStorage {
    let base: Store
    var store: any KeyValueStore { base }

    func read<Value: Codable & Sendable>(_ key: String, as type: Value.Type) async throws -> StoredValue<Value>? {
        guard let entry = try await base.entry(forKey: key) else { return nil }
        guard let stored = try? StoredValue.decode(entry.bytes, keptUntil: entry.expiresAt, as: type, key: key, backend: base.backendName)
        else { return nil }
        if let envelope = stored.envelope, !envelope.tags.isEmpty,
           !(try await TagInvalidations.areValid(envelope, in: base)) {
            return nil
        }
        return stored
    }

    func write<Value: Codable & Sendable>(_ key: String, _ value: Value, _ entry: StoredEntry, _ envelope: EntryEnvelope?) async throws {
        if envelope != nil { try await EnvelopeMarker.mark(base) }
        try await base.setEntry(entry, forKey: key)
    }

    func report(_ kind: TieredStore.Event.Kind, _ key: String, error: StrataError?) {}
    func acquireRefreshLock(_ key: String) async -> String? { "" }
    func releaseRefreshLock(_ key: String, token: String) async {}
}
