/// Default implementations of the typed requirements, in terms of raw entries.
extension KeyValueStore {
    /// The system clock.
    public var clock: any StrataClock { SystemClock() }

    /// No default lifetime: entries written with `expires: nil` never expire.
    public var defaultExpiry: Expiry? { nil }

    /// No entry options: the store's ``defaultExpiry`` applies.
    public var entryOptions: EntryOptions { EntryOptions() }

    /// JSON, uncompressed: what every store wrote before formats could be chosen.
    public var valueFormat: ValueFormat { .json }

    /// A plain read through ``pipeline``: the entry decoded as `type`, returned within its
    /// lifetime only (grace never counts) and only while its tags are valid.
    public func value<Value: Codable & Sendable>(forKey key: String, as type: Value.Type) async throws -> Value? {
        try await pipeline.readValue(key, as: type)
    }

    /// Lists ``storedKeys(prefix:)`` and reads each entry (a key removed in between is left out).
    public func storedEntries(prefix: String) async throws -> [(key: String, entry: StoredEntry)] {
        var result: [(key: String, entry: StoredEntry)] = []
        for key in try await storedKeys(prefix: prefix) {
            if let entry = try await entry(forKey: key) { result.append((key, entry)) }
        }
        return result
    }

    /// Encodes `value` and writes it through ``pipeline``.
    public func setValue<Value: Codable & Sendable>(_ value: Value, forKey key: String, expiresAt: Timestamp?) async throws {
        try await pipeline.write(key, value, expiresAt: expiresAt)
    }

    /// Whether a plain read of `key` returns a value (an entry written with options counts
    /// within its lifetime only; an entry the backend cannot read counts as present).
    public func containsEntry(forKey key: String) async throws -> Bool {
        try await pipeline.contains(key)
    }

    /// The compute path of ``pipeline``: concurrent callers of one missing key in this
    /// process wait for one computation and share its value, or its error (a caller that
    /// waited looks again when the key changed during it, and after joining 8 such flights in a row (at the 9th)
    /// computes under a lease of its own, outside the single flight); the value is written
    /// under a lease, so it never replaces a change of the key that began after the
    /// computation's miss.
    ///
    /// A stored value that no longer decodes as `type` (the type changed in a new
    /// release) counts as missing: it is computed again and overwritten.
    public func getOrSetValue<Value: Codable & Sendable>(
        forKey key: String,
        as type: Value.Type,
        expires: Expiry?,
        compute: () async throws -> Value
    ) async throws -> Value {
        try await pipeline.getOrSet(key, as: type, expires: expires, compute: compute)
    }

    /// The hit of a `getOrSet` with options through ``pipeline``: a tiered store's L1 (with a
    /// view's prefix), `nil` for a store of one tier.
    @inlinable
    public func cachedValue<Value: Codable & Sendable>(forKey key: String, as type: Value.Type, options: EntryOptions) throws -> Value? {
        try pipeline.l1HitWithOptions(key, as: type, options: options)
    }

    /// The instant an entry written now with `expires` expires: `expires`, or the
    /// store's default lifetime when it is `nil`; `nil` when it never expires.
    ///
    /// ```swift
    /// let expiresAt = store.deadline(for: "10min")
    /// ```
    public func deadline(for expires: Expiry?) -> Timestamp? {
        guard let expiry = expires ?? defaultExpiry, let milliseconds = expiry.milliseconds else { return nil }
        return clock.now().adding(milliseconds: milliseconds)
    }
}
