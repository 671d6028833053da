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
        try await pipeline.write(key, value, options: options)
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
        // A `TieredStore` answers its L1 hit without building its pipeline (a value holding
        // the store and its L2, each retained and released around the hit).
        if let value = try cachedValue(forKey: key, as: type, options: options) { return value }
        let pipeline = self.pipeline
        return try await pipeline.getOrSet(key, as: type, options: options, l1: pipeline.l1LookOfCachedValue(of: self, options: options)) {
            (_: ComputeContext<Value>) in try await compute()
        }
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
        if let value = try cachedValue(forKey: key, as: type, options: options) { return value }
        let pipeline = self.pipeline
        return try await pipeline.getOrSet(
            key, as: type, options: options, l1: pipeline.l1LookOfCachedValue(of: self, options: options), compute: compute)
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
        try await pipeline.invalidate(tags: tags)
    }

    /// The entry at `key` as a plain read sees it: the value's bytes as a plain entry holds
    /// them (an envelope removed) and the end of its lifetime (its grace not counted); `nil`
    /// when the key is missing, past its lifetime, or invalidated by a tag. What an adapter
    /// that decodes values itself and reports lifetimes reads (Hummingbird's
    /// `PersistDriver.getWithTTL`); one that needs the bytes alone reads them with
    /// `get(key, as: [UInt8].self)`, which asks a store of one tier for no lifetime.
    ///
    /// ```swift
    /// if let entry = try await store.readableEntry(forKey: "user:1") {
    ///     let user = try JSONDecoder().decode(User.self, from: Data(entry.bytes))
    /// }
    /// ```
    ///
    /// - Throws: `.invalidKey`; `.corruptEntry` for an entry the backend cannot read; else a
    ///   `StrataError` naming the key and the backend, as ``get(_:as:)->Value?``.
    public func readableEntry(forKey key: String) async throws -> StoredEntry? {
        try KeyRules.validate(key, backend: backendName)
        return try await pipeline.readableEntry(key)
    }

    /// Whether `key` holds an entry a plain read returns (see ``Pipeline``).
    package func containsReadableEntry(forKey key: String) async throws -> Bool {
        try await pipeline.contains(key)
    }
}
