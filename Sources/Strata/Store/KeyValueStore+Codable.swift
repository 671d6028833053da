/// The typed API that callers use: every method validates its key (non-empty, at most
/// 1024 UTF-8 bytes, not under ``KeyRules/reservedPrefix``) and resolves `expires: nil` to the store's default lifetime.
extension KeyValueStore {
    /// Stores `value` at `key`, replacing what was there.
    ///
    /// `Data`, `[UInt8]` and `String` are stored as their raw bytes; other values by the
    /// store's value coder (JSON by default; see ``ValueFormat``).
    /// `expires: nil` uses the store's default lifetime; `.never` overrides it.
    ///
    /// ```swift
    /// try await store.set("user:1", user, expires: "1h")
    /// ```
    ///
    /// - Throws: `.invalidKey` for a key the contract rejects, `.invalidExpiry` for a lifetime
    ///   outside the limits; else a `StrataError` naming the key and the backend:
    ///   `.backendUnavailable` when the backend cannot be reached, `.storageFull` or
    ///   `.accessDenied` when it refuses the write, `.closed` after ``close()``.
    @inlinable
    public func set<Value: Codable & Sendable>(_ key: String, _ value: Value, expires: Expiry? = nil) async throws {
        try KeyRules.validate(key, backend: backendName)
        try await setValue(value, forKey: key, expiresAt: deadline(for: expires))
    }

    /// The value at `key` as `type`, or `nil` when it is missing or expired.
    ///
    /// Throws ``StrataError/Code/decodingFailed`` naming the key when the stored value
    /// does not decode as `type`.
    ///
    /// ```swift
    /// let user = try await store.get("user:1", as: User.self)
    /// ```
    ///
    /// - Throws: `.invalidKey`; `.decodingFailed` when the bytes do not decode as `type`;
    ///   `.corruptEntry` for an entry the backend cannot read (use `delete` to repair); else
    ///   a `StrataError` naming the key and the backend:
    ///   `.backendUnavailable` when the backend cannot be reached, `.storageFull` or
    ///   `.accessDenied` when it refuses the write, `.closed` after ``close()``.
    @inlinable
    public func get<Value: Codable & Sendable>(_ key: String, as type: Value.Type = Value.self) async throws -> Value? {
        try KeyRules.validate(key, backend: backendName)
        return try await value(forKey: key, as: type)
    }

    /// Whether `key` holds an unexpired value.
    ///
    /// ```swift
    /// if try await store.has("user:1") { ... }
    /// ```
    ///
    /// - Throws: `.invalidKey`; else a `StrataError` naming the key and the backend:
    ///   `.backendUnavailable` when the backend cannot be reached, `.storageFull` or
    ///   `.accessDenied` when it refuses the write, `.closed` after ``close()``.
    @inlinable
    public func has(_ key: String) async throws -> Bool {
        try KeyRules.validate(key, backend: backendName)
        return try await containsEntry(forKey: key)
    }

    /// Removes `key`; returns whether it held an unexpired value.
    ///
    /// ```swift
    /// try await store.delete("user:1")
    /// ```
    ///
    /// - Throws: `.invalidKey`; else a `StrataError` naming the key and the backend:
    ///   `.backendUnavailable` when the backend cannot be reached, `.storageFull` or
    ///   `.accessDenied` when it refuses the write, `.closed` after ``close()``.
    @inlinable
    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        try KeyRules.validate(key, backend: backendName)
        breakLocalLease(of: key)
        defer { noteChange(of: key) }
        return try await removeEntry(forKey: key)
    }

    /// The keys that start with `prefix` and hold a value a plain read returns, sorted by
    /// UTF-8 bytes: unexpired, and, for an entry written with options, within its lifetime
    /// (not in its grace) with no tag invalidated. Strata's own records are never listed.
    ///
    /// ```swift
    /// let users = try await store.keys(prefix: "user:")
    /// let all = try await store.keys()
    /// ```
    ///
    /// - Throws: a `StrataError` naming the backend: `.backendUnavailable` when the backend
    ///   cannot be reached, `.closed` after ``close()``.
    public func keys(prefix: String = "") async throws -> [String] {
        let listed = try await storedKeys(prefix: prefix)
        let kept = listed.filter { !ReservedRecords.isReserved($0) }
        // Only a store that ever held an entry with an envelope needs the entries read.
        guard !kept.isEmpty, try await EnvelopeMarker.holdsEnvelopes(self) else { return kept }
        var readable: [String] = []
        var tagInstants: [ByteKey: Int64] = [:]
        let pipeline = self.pipeline
        // One batch read of the listed range.
        for (key, entry) in try await storedEntries(prefix: prefix) where !ReservedRecords.isReserved(key) {
            if try await pipeline.readableOffset(entry.bytes, tagInstants: &tagInstants) != nil { readable.append(key) }
        }
        return readable
    }

    /// Removes every entry of this store (of this view, for a prefixed store).
    ///
    /// ```swift
    /// try await store.clear()
    /// ```
    ///
    /// - Throws: a `StrataError` naming the key and the backend: `.backendUnavailable` when
    ///   the backend cannot be reached, `.storageFull` or `.accessDenied` when it refuses the
    ///   write, `.closed` after ``close()``.
    @inlinable
    @discardableResult
    public func clear() async throws -> Int {
        breakLocalLeases(under: "")
        defer { noteChange(under: "") }
        return try await clear(prefix: "")
    }

    /// Gives an existing key a new lifetime; `false` when the key is missing or expired.
    ///
    /// ```swift
    /// try await store.expire("session:9", "30min")
    /// ```
    ///
    /// - Throws: `.invalidKey`; else a `StrataError` naming the key and the backend:
    ///   `.backendUnavailable` when the backend cannot be reached, `.storageFull` or
    ///   `.accessDenied` when it refuses the write, `.closed` after ``close()``.
    @discardableResult
    public func expire(_ key: String, _ expiry: Expiry) async throws -> Bool {
        try KeyRules.validate(key, backend: backendName)
        breakLocalLease(of: key)
        defer { noteChange(of: key) }
        return try await setExpiration(expiry.deadline(from: clock.now()), forKey: key)
    }

    /// Atomically adds `delta` to the integer at `key` and returns the result.
    ///
    /// A missing key starts at 0 and gets the lifetime `expires` (or the default); an
    /// existing key keeps its lifetime. Throws ``StrataError/Code/notAnInteger`` when the
    /// value is not a decimal integer or the sum would overflow.
    ///
    /// ```swift
    /// let hits = try await store.increment("hits", by: 1, expires: "1min")
    /// ```
    ///
    /// - Throws: `.invalidKey`; `.notAnInteger` when the value is not a decimal integer or the
    ///   sum overflows; else a `StrataError` naming the key and the backend:
    ///   `.backendUnavailable` when the backend cannot be reached, `.storageFull` or
    ///   `.accessDenied` when it refuses the write, `.closed` after ``close()``.
    @inlinable
    @discardableResult
    public func increment(_ key: String, by delta: Int = 1, expires: Expiry? = nil) async throws -> Int {
        try KeyRules.validate(key, backend: backendName)
        breakLocalLease(of: key)
        defer { noteChange(of: key) }
        return try await incrementEntry(forKey: key, by: delta, expiresAt: deadline(for: expires))
    }

    /// Stores `value` only if `key` holds no value a plain read returns (nothing, an expired
    /// entry, or one past its lifetime in its grace or invalidated by a tag); `true` when it
    /// was stored.
    ///
    /// Of many callers racing on a key with nothing in it, exactly one gets `true`. Over an
    /// entry a plain read does not return (in its grace, or invalidated by a tag), a caller
    /// first removes it under a lease and tries again: at most one gets `true`, and a
    /// caller that keeps losing to other changes of the key gives up with `false` after 8
    /// rounds.
    ///
    /// ```swift
    /// if try await store.setIfAbsent("lock:report", true, expires: "30s") { ... }
    /// ```
    ///
    /// - Throws: `.invalidKey`; else a `StrataError` naming the key and the backend:
    ///   `.backendUnavailable` when the backend cannot be reached, `.storageFull` or
    ///   `.accessDenied` when it refuses the write, `.closed` after ``close()``.
    public func setIfAbsent<Value: Codable & Sendable>(_ key: String, _ value: Value, expires: Expiry? = nil) async throws -> Bool {
        try KeyRules.validate(key, backend: backendName)
        let bytes = try ValueCoding.encode(value, key: key, backend: backendName, format: pipeline.valueFormat)
        // Like a plain read, an entry past its lifetime (kept for its grace) is no value.
        return try await pipeline.setIfAbsent(key, StoredEntry(bytes: bytes, expiresAt: deadline(for: expires)))
    }

    /// The value at `key`, or the value `compute` returns, stored with `expires`.
    ///
    /// Concurrent callers of one missing key in this process run `compute` once and share
    /// its value, or its error (a caller that waited looks again when the key changed during
    /// the computation; after joining 8 such flights in a row (at the 9th) it computes under a lease of its own,
    /// outside the single flight). The value is written under a lease: it never replaces a write,
    /// delete or clear of the key that began after the computation's miss, in any process
    /// sharing the store (see `Docs/Consistency.md`). A stored value that no longer decodes
    /// as `type` counts as missing and is replaced.
    ///
    /// ```swift
    /// let report = try await store.getOrSet("report", as: Report.self, expires: "5min") {
    ///     try await buildReport()
    /// }
    /// ```
    ///
    /// - Throws: `.invalidKey`; what `compute` throws (nothing is stored then); else a
    ///   `StrataError` naming the key and the backend: `.backendUnavailable` when the backend
    ///   cannot be reached, `.storageFull` or `.accessDenied` when it refuses the write,
    ///   `.closed` after ``close()``.
    @inlinable
    public func getOrSet<Value: Codable & Sendable>(
        _ key: String,
        as type: Value.Type = Value.self,
        expires: Expiry? = nil,
        compute: () async throws -> Value
    ) async throws -> Value {
        try KeyRules.validate(key, backend: backendName)
        return try await getOrSetValue(forKey: key, as: type, expires: expires, compute: compute)
    }

    /// Stores `value` under a new random URL-safe key (22 characters) and returns the key.
    ///
    /// ```swift
    /// let id = try await store.add(order, expires: "1d")
    /// ```
    ///
    /// - Throws: a `StrataError` naming the key and the backend: `.backendUnavailable` when
    ///   the backend cannot be reached, `.storageFull` or `.accessDenied` when it refuses the
    ///   write, `.closed` after ``close()``.
    public func add<Value: Codable & Sendable>(_ value: Value, expires: Expiry? = nil) async throws -> String {
        let bytes = try ValueCoding.encode(value, key: "(new key)", backend: backendName, format: pipeline.valueFormat)
        let expiresAt = deadline(for: expires)
        while true {
            let key = Self.randomKey()
            if try await setEntryIfAbsent(StoredEntry(bytes: bytes, expiresAt: expiresAt), forKey: key) {
                return key
            }
        }
    }

    /// The unexpired entries whose keys start with `prefix`, sorted by key.
    ///
    /// ```swift
    /// for (key, user) in try await store.entries(prefix: "user:", as: User.self) { ... }
    /// ```
    ///
    /// - Throws: `.decodingFailed` when an entry does not decode as `type`; `.corruptEntry`
    ///   for an entry the backend cannot read; else a `StrataError` naming the key and the
    ///   backend: `.backendUnavailable` when the backend cannot be
    ///   reached, `.storageFull` or `.accessDenied` when it refuses the write, `.closed` after
    ///   ``close()``.
    public func entries<Value: Codable & Sendable>(
        prefix: String = "",
        as type: Value.Type = Value.self
    ) async throws -> [(key: String, value: Value)] {
        let pipeline = self.pipeline
        if let memory = pipeline.memory, pipeline.keyPrefix.isEmpty { return try await memory.valueEntries(prefix: prefix, as: type) }
        var result: [(key: String, value: Value)] = []
        // One batch read; an entry past its logical lifetime or with an invalidated tag is left out.
        var tagInstants: [ByteKey: Int64] = [:]
        for (key, entry) in try await storedEntries(prefix: prefix) where !ReservedRecords.isReserved(key) {
            if let value = try await pipeline.readableValue(entry.bytes, as: type, key: key, tagInstants: &tagInstants) {
                result.append((key, value))
            }
        }
        return result
    }

    /// A view of this store in which every key is relative to `prefix`.
    ///
    /// The view is itself a ``KeyValueStore``; its `clear()` removes only its own keys,
    /// and views nest: `store.prefixed("a:").prefixed("b:")` uses keys under `"a:b:"`.
    ///
    /// ```swift
    /// let users = store.prefixed("user:")
    /// try await users.set("1", user)          // stored as "user:1"
    /// ```
    public func prefixed(_ prefix: String) -> PrefixedStore {
        PrefixedStore(base: self, prefix: prefix)
    }

    /// 16 random bytes in unpadded base64url.
    static func randomKey() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var generator = SystemRandomNumberGenerator()
        var bits = (generator.next() as UInt64, generator.next() as UInt64)
        var characters: [UInt8] = []
        characters.reserveCapacity(22)
        for index in 0..<22 {
            // 128 bits in 6-bit groups: the last group holds the remaining 2 bits.
            let sixBits: UInt64
            if index < 10 {
                sixBits = bits.0 & 63; bits.0 >>= 6
            } else if index == 10 {
                sixBits = (bits.0 & 15) | ((bits.1 & 3) << 4); bits.1 >>= 2
            } else {
                sixBits = bits.1 & 63; bits.1 >>= 6
            }
            characters.append(alphabet[Int(sixBits)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// Breaks this process's default lease on `key`, if any (a change through the typed API).
    @usableFromInline
    func breakLocalLease(of key: String) {
        LocalLeases.shared.breakLease(of: key, in: self)
    }

    /// Breaks this process's default leases under `prefix`, if any.
    @usableFromInline
    func breakLocalLeases(under prefix: String) {
        LocalLeases.shared.breakLeases(under: prefix, in: self)
    }

    /// Tells the flights of this store that `key` changed (called once the change is made):
    /// a caller that joins one from now on may have begun after the change, and looks again
    /// rather than take a value the flight may have found or stored before it (C1, R1).
    @usableFromInline
    package func noteChange(of key: String) {
        guard SingleFlight.shared.isRunningAny else { return }
        let pipeline = self.pipeline
        SingleFlight.shared.noteChange(scope: pipeline.flightScope, key: pipeline.keyPrefix + key)
    }

    /// Runs a change of `key` that an adapter makes through the requirements (`removeEntry`,
    /// `setEntry`) as the typed API runs its own: this process's default lease on the key is
    /// broken first, and the key's flights are told once the change is made (C1, R1), so a
    /// `getOrSet` that begins after it never takes a value a flight stored before it.
    package func changingEntry<Result: Sendable>(
        forKey key: String, _ change: () async throws -> Result
    ) async throws -> Result {
        breakLocalLease(of: key)
        defer { noteChange(of: key) }
        return try await change()
    }

    /// Tells this store's `getOrSet` calls that every key under `prefix` changed: call it
    /// at the end of your store's `clear(prefix:)`, once the entries are gone, as every
    /// Strata store does. A caller that joins a computation of such a key from then on
    /// looks again rather than take a value computed before the clear (C1, R1 in
    /// `Docs/Consistency.md`). It costs one atomic load while no computation (nor an
    /// `HTTPCache` fetch) runs in the process.
    ///
    /// ```swift
    /// public func clear(prefix: String) async throws -> Int {
    ///     defer { noteChange(under: prefix) }
    ///     return try await backend.removeAll(prefix: prefix)
    /// }
    /// ```
    public func noteChange(under prefix: String) {
        guard SingleFlight.shared.isRunningAny else { return }
        let pipeline = self.pipeline
        SingleFlight.shared.noteChange(scope: pipeline.flightScope, prefix: pipeline.keyPrefix + prefix)
    }
}
