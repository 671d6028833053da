/// Default implementations of the typed requirements, in terms of raw entries.
extension KeyValueStore {
    /// The system clock.
    public var clock: any StrataClock { SystemClock() }

    /// No default lifetime: entries written with `expires: nil` never expire.
    public var defaultExpiry: Expiry? { nil }

    /// No entry options: the store's ``defaultExpiry`` applies.
    public var entryOptions: EntryOptions { EntryOptions() }

    /// Decodes ``entry(forKey:)`` as `type`; an entry written with options is returned
    /// within its lifetime only, and only while its tags are valid.
    public func value<Value: Codable & Sendable>(forKey key: String, as type: Value.Type) async throws -> Value? {
        guard let entry = try await entry(forKey: key) else { return nil }
        return try await readableValue(entry.bytes, as: type, key: key)
    }

    /// Lists ``keys(prefix:)`` and reads each entry (a key removed in between is left out).
    public func storedEntries(prefix: String) async throws -> [(key: String, entry: StoredEntry)] {
        var result: [(key: String, entry: StoredEntry)] = []
        for key in try await storedKeys(prefix: prefix) {
            if let entry = try await entry(forKey: key) { result.append((key, entry)) }
        }
        return result
    }

    /// Encodes `value` and calls ``setEntry(_:forKey:)``.
    public func setValue<Value: Codable & Sendable>(_ value: Value, forKey key: String, expiresAt: Timestamp?) async throws {
        let bytes = try ValueCoding.encode(value, key: key, backend: backendName)
        try await setEntry(StoredEntry(bytes: bytes, expiresAt: expiresAt), forKey: key)
    }

    /// Whether ``entry(forKey:)`` finds an entry a plain read returns (an entry written
    /// with options counts within its lifetime only).
    public func containsEntry(forKey key: String) async throws -> Bool {
        try await containsReadableEntry(forKey: key)
    }

    /// Single-flight read-or-compute: concurrent callers of one missing key in this
    /// process wait for one computation and all receive its value, or all its error.
    ///
    /// A stored value that no longer decodes as `type` (the type changed in a new
    /// release) counts as missing: it is computed again and overwritten.
    public func getOrSetValue<Value: Codable & Sendable>(
        forKey key: String,
        as type: Value.Type,
        expires: Expiry?,
        compute: () async throws -> Value
    ) async throws -> Value {
        if let value = try await decodableValue(forKey: key, as: type) { return value }
        return try await SingleFlight.shared.run(scope: ObjectIdentifier(self), key: key) {
            // A flight that finished just before this one began may have stored the value.
            if let value = try await decodableValue(forKey: key, as: type) { return value }
            let value = try await compute()
            try await setValue(value, forKey: key, expiresAt: deadline(for: expires))
            return value
        }
    }

    /// The value at `key`, treating one that does not decode as `type` as missing.
    func decodableValue<Value: Codable & Sendable>(forKey key: String, as type: Value.Type) async throws -> Value? {
        do {
            return try await value(forKey: key, as: type)
        } catch let error as StrataError where error.code == .decodingFailed {
            return nil
        }
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
