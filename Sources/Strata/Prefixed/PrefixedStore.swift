/// A view of another store in which every key is relative to a prefix.
///
/// Made by ``KeyValueStore/prefixed(_:)``. Keys passed to the view are validated as
/// usual (at most 1024 UTF-8 bytes, without the prefix; choose a prefix that does not begin
/// with NUL, so that no key of the view falls under ``KeyRules/reservedPrefix``) and stored in the base store as
/// `prefix + key`. `keys(prefix:)` returns keys without the view's prefix, and `clear()`
/// removes only the view's own keys. Views nest: `store.prefixed("a:").prefixed("b:")`
/// is a view with prefix `"a:b:"` over `store`. Closing a view closes the base store.
///
/// ```swift
/// let sessions = store.prefixed("session:")
/// try await sessions.set("42", session, expires: "30min")   // key "session:42" in store
/// try await sessions.clear()                                  // only "session:…" keys
/// ```
public final class PrefixedStore: KeyValueStore {
    /// Its envelope mark (and a hybrid clock its pipeline does not use: its base's orders
    /// its writes), kept here rather than in a registry that would hold it weakly.
    package let processState = StoreProcessState()
    /// The store that holds the entries.
    public let base: any KeyValueStore
    /// The prefix added to every key, counting the prefixes of enclosing views.
    public let prefix: String

    init(base: any KeyValueStore, prefix: String) {
        if let view = base as? PrefixedStore {
            self.base = view.base
            self.prefix = view.prefix + prefix
        } else {
            self.base = base
            self.prefix = prefix
        }
    }

    /// The base store's pipeline, with the view's prefix: a view of a tiered store keeps
    /// its L1, its lock and its bus.
    public var pipeline: Pipeline { base.pipeline.prefixed(prefix) }

    /// The base store's name and the prefix, for example `MemoryStore prefixed "user:"`.
    public var backendName: String { "\(base.backendName) prefixed \(StrataError.quoted(prefix))" }

    /// The base store's value format: a view writes and reads values as its base does.
    public var valueFormat: ValueFormat { base.valueFormat }

    /// The base store's default lifetime.
    public var defaultExpiry: Expiry? { base.defaultExpiry }

    /// The base store's clock.
    public var clock: any StrataClock { base.clock }

    /// The base store's entry for `prefix + key`.
    public func entry(forKey key: String) async throws -> StoredEntry? {
        try await base.entry(forKey: prefix + key)
    }

    /// Sets the base store's entry for `prefix + key`.
    public func setEntry(_ entry: StoredEntry, forKey key: String) async throws {
        try await base.setEntry(entry, forKey: prefix + key)
    }

    /// Writes `prefix + key` in the base store if it is absent.
    public func setEntryIfAbsent(_ entry: StoredEntry, forKey key: String) async throws -> Bool {
        try await base.setEntryIfAbsent(entry, forKey: prefix + key)
    }

    /// Removes `prefix + key` from the base store.
    @discardableResult
    public func removeEntry(forKey key: String) async throws -> Bool {
        try await base.removeEntry(forKey: prefix + key)
    }

    /// Sets the expiry of `prefix + key` in the base store.
    public func setExpiration(_ expiresAt: Timestamp?, forKey key: String) async throws -> Bool {
        try await base.setExpiration(expiresAt, forKey: prefix + key)
    }

    /// Increments `prefix + key` in the base store.
    public func incrementEntry(forKey key: String, by delta: Int, expiresAt: Timestamp?) async throws -> Int {
        try await base.incrementEntry(forKey: prefix + key, by: delta, expiresAt: expiresAt)
    }

    /// The base store's entries for `prefix + key` of each key, from one batch of the base
    /// (its native one: one query on SQLite, one round trip on Redis), keyed by the view's keys.
    public func entries(forKeys keys: [String]) async throws -> [String: StoredEntry] {
        let fullKeys = keys.map { prefix + $0 }
        let found = try await viewing { try await base.entries(forKeys: fullKeys) }
        var entries: [String: StoredEntry] = [:]
        entries.reserveCapacity(found.count)
        for (index, key) in keys.enumerated() { if let entry = found[fullKeys[index]] { entries[key] = entry } }
        return entries
    }

    /// Writes each entry at `prefix + key` in one batch of the base store; a failure names
    /// the view's key, and its ``StrataError/writtenKeys`` are the view's keys.
    public func setEntries(_ entries: [String: StoredEntry]) async throws {
        var full: [String: StoredEntry] = [:]
        full.reserveCapacity(entries.count)
        for (key, entry) in entries { full[prefix + key] = entry }
        try await viewing { try await base.setEntries(full) }
    }

    /// Removes `prefix + key` of each key in one batch of the base store.
    @discardableResult
    public func removeEntries(forKeys keys: [String]) async throws -> Int {
        try await viewing { try await base.removeEntries(forKeys: keys.map { prefix + $0 }) }
    }

    /// Runs a batch call of the base store, its error's key and written keys made the view's.
    private func viewing<Output>(_ call: () async throws -> Output) async throws -> Output {
        do {
            return try await call()
        } catch var error as StrataError {
            error.key = error.key.map(viewKey)
            error.writtenKeys = error.writtenKeys.map { $0.map(viewKey) }
            throw error
        }
    }

    /// The view's key for a key of the base store (unchanged when it lacks the prefix).
    private func viewKey(_ key: String) -> String {
        KeyRules.remainder(of: key, afterPrefix: prefix) ?? key
    }

    /// The view's keys that start with `prefix`, without the view's prefix.
    public func storedKeys(prefix subprefix: String) async throws -> [String] {
        let dropped = prefix.utf8.count
        return try await base.storedKeys(prefix: prefix + subprefix).map {
            // The base key starts with the view's prefix, a whole string, so the cut
            // falls on a character boundary of the UTF-8 bytes.
            String(decoding: $0.utf8.dropFirst(dropped), as: UTF8.self)
        }
    }

    /// The view's entries whose keys start with `subprefix`, from one batch read of the base.
    public func storedEntries(prefix subprefix: String) async throws -> [(key: String, entry: StoredEntry)] {
        let dropped = prefix.utf8.count
        return try await base.storedEntries(prefix: prefix + subprefix).map {
            (String(decoding: $0.key.utf8.dropFirst(dropped), as: UTF8.self), $0.entry)
        }
    }

    /// Removes the view's keys that start with `subprefix`.
    @discardableResult
    public func clear(prefix subprefix: String) async throws -> Int {
        try await base.clear(prefix: prefix + subprefix)
    }

    /// Leases the base store's `prefix + key`.
    public func leaseEntry(forKey key: String, lease: EntryLease, duration: Duration) async throws -> StoredEntry? {
        try await base.leaseEntry(forKey: prefix + key, lease: lease, duration: duration)
    }

    /// Writes the base store's `prefix + key` while `lease` holds.
    public func setEntry(_ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool) async throws -> Bool {
        try await base.setEntry(entry, forKey: prefix + key, ifLeased: lease, keepingLease: keepingLease)
    }

    /// Ends the lease of the base store's `prefix + key`.
    public func releaseLease(_ lease: EntryLease, forKey key: String) async throws {
        try await base.releaseLease(lease, forKey: prefix + key)
    }

    /// The base store's records: tags are one namespace per store, shared by its views.
    public func records(named names: [String]) async throws -> [Int64] {
        try await base.records(named: names)
    }

    /// Raises the base store's record.
    public func raiseRecord(named name: String, to value: Int64) async throws {
        try await base.raiseRecord(named: name, to: value)
    }

    /// Sweeps the base store.
    @discardableResult
    public func sweepExpired() async throws -> Int {
        try await base.sweepExpired()
    }

    /// Closes the base store.
    public func close() async throws {
        try await base.close()
    }

    /// The base store's value for `prefix + key`, so a memory store's Swift values stay Swift values.
    public func value<Value: Codable & Sendable>(forKey key: String, as type: Value.Type) async throws -> Value? {
        try await base.value(forKey: prefix + key, as: type)
    }

    /// Writes the value through the base store's own `setValue`.
    public func setValue<Value: Codable & Sendable>(_ value: Value, forKey key: String, expiresAt: Timestamp?) async throws {
        try await base.setValue(value, forKey: prefix + key, expiresAt: expiresAt)
    }

    /// Whether the base store holds `prefix + key`.
    public func containsEntry(forKey key: String) async throws -> Bool {
        try await base.containsEntry(forKey: prefix + key)
    }

    /// Single flight in the base store, so every view of one store shares it.
    public func getOrSetValue<Value: Codable & Sendable>(
        forKey key: String,
        as type: Value.Type,
        expires: Expiry?,
        compute: () async throws -> Value
    ) async throws -> Value {
        try await base.getOrSetValue(forKey: prefix + key, as: type, expires: expires, compute: compute)
    }

    /// The base store's hit of `prefix + key` (see ``KeyValueStore/cachedValue(forKey:as:options:)``).
    ///
    /// ```swift
    /// let hit = try cache.prefixed("app:").cachedValue(forKey: "rates", as: Rates.self, options: EntryOptions(grace: "1h"))
    /// ```
    public func cachedValue<Value: Codable & Sendable>(forKey key: String, as type: Value.Type, options: EntryOptions) throws -> Value? {
        try base.cachedValue(forKey: prefix + key, as: type, options: options)
    }
}

extension PrefixedStore: KeepsProcessState {}
