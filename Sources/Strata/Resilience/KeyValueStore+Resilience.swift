extension KeyValueStore {
    /// Writes `value` with `options` (merged with the store's ``entryOptions``): its
    /// lifetime, grace and tags.
    ///
    /// ```swift
    /// try await cache.set("user:1", user, options: EntryOptions(expires: "1h", tags: ["team:3"]))
    /// ```
    ///
    /// - Throws: `.invalidKey` for a key or tag the contract rejects,
    ///   `.invalidConfiguration` for options that cannot work (a `refreshAhead` outside
    ///   0…1, a timeout that is not positive); else as ``set(_:_:expires:)``.
    public func set<Value: Codable & Sendable>(_ key: String, _ value: Value, options: EntryOptions) async throws {
        try KeyRules.validate(key, backend: backendName)
        let merged = options.overriding(entryOptions)
        try merged.validate(key: key, backend: backendName)
        let (entry, envelope) = try ResilientGetOrSet.entry(for: value, options: merged, now: clock.now(), in: self, key: key)
        if let tiered = self as? TieredStore {
            if envelope != nil { try await EnvelopeMarker.mark(tiered.l2) }
            return try await tiered.writeThrough(key, entry, value: tiered.kept(value, envelope))
        }
        if envelope != nil { try await EnvelopeMarker.mark(self) }
        try await setEntry(entry, forKey: key)
    }

    /// The value at `key`, or the value `compute` returns, with the resilience of
    /// `options` (merged with the store's ``entryOptions``): a value kept past its lifetime
    /// (`grace`) is returned when the computation throws or passes `hardTimeout`, or at
    /// `softTimeout`; a hit after `refreshAhead` of the lifetime refreshes in the
    /// background; concurrent callers of one key share one computation.
    ///
    /// ```swift
    /// let rates = try await cache.getOrSet("rates", as: Rates.self,
    ///                                      options: EntryOptions(expires: "1min", grace: "1h")) {
    ///     try await ratesService.fetch()      // if it fails, the last rates are served
    /// }
    /// ```
    ///
    /// - Throws: `.invalidKey`, `.invalidConfiguration` as ``set(_:_:options:)``; without a
    ///   kept value, what `compute` throws, or ``StrataError/Code/timeout`` at the hard
    ///   timeout; `.closed` after ``close()``.
    @inlinable  // the L1 hit specializes in the caller's module
    public func getOrSet<Value: Codable & Sendable>(
        _ key: String,
        as type: Value.Type = Value.self,
        options: EntryOptions,
        compute: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        try KeyRules.validate(key, backend: backendName)
        if let tiered = self as? TieredStore, let value = try tiered.l1HitWithOptions(key, as: type, options: options) {
            return value
        }
        return try await getOrSetWithOptions(key, as: type, options: options) { (_: ComputeContext<Value>) in try await compute() }
    }

    /// The value at `key`, or the value `compute` returns given a ``ComputeContext``: the
    /// stale value to revalidate, and the options to store the result with, which the
    /// computation may change after seeing the value (adaptive lifetime, grace and tags).
    ///
    /// ```swift
    /// let page = try await cache.getOrSet("page:home", as: Page.self, options: options) { context in
    ///     let page = try await render(previous: context.staleValue)
    ///     if page.isPartial { context.options.expires = "30s" }
    ///     return page
    /// }
    /// ```
    ///
    /// - Throws: as ``getOrSet(_:as:options:compute:)-(_,_,_,()->Value)``.
    @inlinable  // the L1 hit specializes in the caller's module
    public func getOrSet<Value: Codable & Sendable>(
        _ key: String,
        as type: Value.Type = Value.self,
        options: EntryOptions,
        compute: @escaping @Sendable (ComputeContext<Value>) async throws -> Value
    ) async throws -> Value {
        try KeyRules.validate(key, backend: backendName)
        if let tiered = self as? TieredStore, let value = try tiered.l1HitWithOptions(key, as: type, options: options) {
            return value
        }
        return try await getOrSetWithOptions(key, as: type, options: options, compute: compute)
    }

    /// Everything but an L1 hit: options merged and checked, then the resilient path.
    @usableFromInline
    func getOrSetWithOptions<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, options: EntryOptions,
        compute: @escaping @Sendable (ComputeContext<Value>) async throws -> Value
    ) async throws -> Value {
        let merged = options.overriding(entryOptions)
        try merged.validate(key: key, backend: backendName)
        if let tiered = self as? TieredStore {
            return try await tiered.resilientGetOrSet(key, as: type, options: merged, compute: compute)
        }
        return try await ResilientGetOrSet.run(
            PlainResilientStorage(base: self), key: key, as: type, options: merged, compute: compute)
    }

    /// A function that computes `compute(argument)` once per argument and serves it from
    /// this store with the resilience of `options` (see ``getOrSet(_:as:options:compute:)-(_,_,_,()->Value)``).
    ///
    /// ```swift
    /// let price = cache.memoize(prefix: "price:", options: EntryOptions(expires: "1h", grace: "1d")) {
    ///     (sku: String) in try await pricing.lookup(sku)
    /// }
    /// ```
    public func memoize<Argument: Encodable & Sendable, Value: Codable & Sendable>(
        prefix: String,
        options: EntryOptions,
        _ compute: @escaping @Sendable (Argument) async throws -> Value
    ) -> @Sendable (Argument) async throws -> Value {
        { argument in
            let key = try MemoKey.key(prefix: prefix, argument: argument)
            return try await self.getOrSet(key, as: Value.self, options: options) { try await compute(argument) }
        }
    }

    /// Makes every entry carrying any of `tags` unreadable: in this store, in both tiers of
    /// a tiered store and, through its invalidation bus, in other instances' L1s. Costs one
    /// small write per tag however many entries carry it; the entries leave the store when
    /// their lifetime and grace end.
    ///
    /// ```swift
    /// try await cache.invalidate(tags: ["team:3"])
    /// ```
    ///
    /// - Throws: `.invalidKey` for an empty tag or one over 256 bytes; else a `StrataError`
    ///   naming the backend, as ``set(_:_:expires:)``.
    public func invalidate(tags: [String]) async throws {
        for tag in tags { try EntryEnvelope.validateTag(tag, backend: backendName) }
        if let tiered = self as? TieredStore { return try await tiered.invalidateTags(tags) }
        try await TagInvalidations.record(tags, at: clock.now().millisecondsSince1970, in: self)
    }

    /// Whether `key` holds an entry a plain read returns: one read (not a presence test),
    /// since an entry written with options is kept past its lifetime, for its grace. A key
    /// whose entry the store cannot read (foreign data) counts as present.
    package func containsReadableEntry(forKey key: String) async throws -> Bool {
        do {
            guard let entry = try await entry(forKey: key) else { return false }
            return try await isReadable(entry.bytes)
        } catch let error as StrataError where error.code == .corruptEntry {
            return true
        }
    }

    /// Whether `bytes` read for a plain read are a value to return: a plain entry, or an
    /// envelope within its lifetime whose tags are valid.
    func isReadable(_ bytes: [UInt8]) async throws -> Bool {
        var tagInstants: [String: Int64] = [:]
        return try await readableOffset(bytes, tagInstants: &tagInstants) != nil
    }

    /// The value of stored bytes for a plain read: `nil` for an envelope past its lifetime,
    /// of a later version, or with an invalidated tag.
    @usableFromInline
    func readableValue<Value: Codable & Sendable>(_ bytes: [UInt8], as type: Value.Type, key: String) async throws -> Value? {
        var tagInstants: [String: Int64] = [:]
        return try await readableValue(bytes, as: type, key: key, tagInstants: &tagInstants)
    }

    /// `readableValue`, remembering in `tagInstants` the tag records it read, so a batch of
    /// entries sharing tags reads each record once.
    func readableValue<Value: Codable & Sendable>(
        _ bytes: [UInt8], as type: Value.Type, key: String, tagInstants: inout [String: Int64]
    ) async throws -> Value? {
        guard let offset = try await readableOffset(bytes, tagInstants: &tagInstants) else { return nil }
        let payload = offset == 0 ? bytes : Array(bytes[offset...])
        return try ValueCoding.decode(payload, as: type, key: key, backend: backendName)
    }

    /// Where the value starts in `bytes` when a plain read returns it (0 for a plain
    /// entry, past the envelope for one within its lifetime whose tags are valid); `nil`
    /// when it does not. The envelope is parsed once.
    func readableOffset(_ bytes: [UInt8], tagInstants: inout [String: Int64]) async throws -> Int? {
        guard EntryEnvelope.hasMagic(bytes) else { return 0 }
        guard case .envelope(let envelope, let offset) = EntryEnvelope.parse(bytes),
              !envelope.isExpired(nowMilliseconds: clock.now().millisecondsSince1970)
        else { return nil }
        if envelope.tags.isEmpty { return offset }
        if let tiered = self as? TieredStore { return try await tiered.tagsAreValid(envelope) ? offset : nil }
        for tag in envelope.tags {
            let instant: Int64
            if let known = tagInstants[tag] {
                instant = known
            } else {
                instant = try await TagInvalidations.invalidatedAt(tag, in: self)
                tagInstants[tag] = instant
            }
            if instant >= envelope.writtenAt { return nil }
        }
        return offset
    }
}
