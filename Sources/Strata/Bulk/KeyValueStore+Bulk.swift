/// Many keys in one call: read, write, delete, and read-or-compute. Each call validates its
/// keys as one before it touches the store (the error names the first bad key, and nothing
/// is read or written), ignores repeated keys, and reaches the backend in batches where the
/// backend can: a query per 512 keys on SQLite, a pipelined round trip per 256 keys (and per
/// node of a cluster) on Redis, L1 first and one L2 batch on a ``TieredStore``.
extension KeyValueStore {
    /// The values of `keys` that a plain read returns, by key: a missing, expired or
    /// invalidated key is absent from the result. A store of one tier is asked for the
    /// values alone where it reads lifetimes apart: a `RedisStore` sends, per chunk of up to
    /// 256 keys, one transaction of `MGET` and `EXISTS` (on a cluster, `GET` per key).
    ///
    /// ```swift
    /// let users = try await store.get(["user:1", "user:2", "user:3"], as: User.self)
    /// let first = users["user:1"]   // nil when it is not cached
    /// ```
    ///
    /// - Throws: `.invalidKey` naming the first bad key (an empty or over-long key, or two
    ///   keys that Swift compares equal whose bytes differ); `.decodingFailed` naming a key
    ///   whose value does not decode as `type`; else a `StrataError` naming the backend:
    ///   `.backendUnavailable` when it cannot be reached, `.closed` after ``close()``.
    @inlinable  // L1's hits specialize in the caller's module, as a single get's do
    public func get<Value: Codable & Sendable>(_ keys: [String], as type: Value.Type = Value.self) async throws -> [String: Value] {
        let pipeline = self.pipeline
        var values: [String: Value]
        var rest: [String]
        if let answered = try pipeline.l1HitsOfASCIIKeys(keys, as: type, backend: backendName) {
            (values, rest) = answered  // the keys checked on the way
        } else {
            let keys = try BulkKeys.validated(keys, backend: backendName)
            (values, rest) = try pipeline.l1Hits(keys, as: type)
        }
        guard !rest.isEmpty else { return values }
        let read = try await pipeline.readValues(rest, as: type)
        guard !values.isEmpty else { return read }  // a store of one tier: nothing to merge
        values.merge(read) { _, read in read }
        return values
    }

    /// Stores every value of `values` with one lifetime (`nil`: the store's default).
    ///
    /// ```swift
    /// try await store.set(["user:1": ada, "user:2": grace], expires: "1h")
    /// ```
    ///
    /// - Throws: `.invalidKey` naming the first bad key, `.encodingFailed` naming a value that
    ///   cannot be encoded (nothing is written then); a backend that refuses the batch
    ///   part-way throws its error with ``StrataError/writtenKeys`` listing the keys it did
    ///   store; `.closed` after ``close()``.
    public func set<Value: Codable & Sendable>(_ values: [String: Value], expires: Expiry? = nil) async throws {
        _ = try BulkKeys.validated(BulkKeys.byteOrdered(values.keys), backend: backendName)
        try await pipeline.writeValues(values, options: nil, expiresAt: deadline(for: expires))
    }

    /// Stores every value of `values` with `options` (merged with the store's
    /// ``entryOptions``): one lifetime, grace and tags for all of them.
    ///
    /// ```swift
    /// try await cache.set(["p:1": a, "p:2": b], options: EntryOptions(expires: "10min", tags: ["catalog"]))
    /// ```
    ///
    /// - Throws: as ``set(_:expires:)``, and `.invalidConfiguration` for options outside the limits
    ///   (`.invalidKey` for a bad tag).
    public func set<Value: Codable & Sendable>(_ values: [String: Value], options: EntryOptions) async throws {
        _ = try BulkKeys.validated(BulkKeys.byteOrdered(values.keys), backend: backendName)
        try await pipeline.writeValues(values, options: options, expiresAt: nil)
    }

    /// Removes `keys`; returns how many of them the store held unexpired (an entry kept past
    /// its lifetime for its grace, or whose tag was invalidated, is still held, and counts).
    ///
    /// ```swift
    /// let removed = try await store.delete(["user:1", "user:2"])
    /// ```
    ///
    /// - Throws: `.invalidKey` naming the first bad key (nothing is removed then); else a
    ///   `StrataError` naming the backend: `.backendUnavailable` when it cannot be reached,
    ///   `.closed` after ``close()``.
    @discardableResult
    public func delete(_ keys: [String]) async throws -> Int {
        let keys = try BulkKeys.validated(keys, backend: backendName)
        return try await pipeline.removeValues(keys)
    }

    /// The values of `keys`, those missing computed by one call of `compute`, which receives
    /// exactly the missing keys and returns their values; each is stored with `expires` (`nil`:
    /// the store's default).
    ///
    /// Each missing key is computed once among concurrent callers in this process, whether
    /// they ask for it alone or in a batch: a key that another call is computing is waited
    /// for, not asked of `compute`. Through a ``TieredStore`` with a compute lock the same
    /// holds across instances. A key whose computation had to wait (for another call, or
    /// another instance's lock) and still misses afterwards is computed in a call of its own.
    ///
    /// A key `compute` does not return is absent from the result and nothing is stored for
    /// it; keys it returns that were not asked for are ignored. When `compute` throws, the
    /// call throws its error and stores nothing of that call (keys answered meanwhile by
    /// another call, or computed in a call of their own, are stored all the same).
    ///
    /// ```swift
    /// let products = try await cache.getOrSet(["p:1", "p:2", "p:3"], as: Product.self, expires: "10min") { missing in
    ///     try await database.products(keys: missing)   // called once, with the misses only
    /// }
    /// ```
    ///
    /// - Throws: `.invalidKey` naming the first bad key; what `compute` throws; else a
    ///   `StrataError` naming a key and the backend, as ``getOrSet(_:as:expires:compute:)->Value``.
    public func getOrSet<Value: Codable & Sendable>(
        _ keys: [String], as type: Value.Type = Value.self, expires: Expiry? = nil,
        compute: @escaping @Sendable (_ missing: [String]) async throws -> [String: Value]
    ) async throws -> [String: Value] {
        let keys = try BulkKeys.validated(keys, backend: backendName)
        return try await pipeline.getOrSet(keys, as: type, options: EntryOptions(expires: expires), mayOutliveCall: false, compute: compute)
    }

    /// The values of `keys`, those missing computed by one call of `compute` and stored with
    /// `options` (merged with the store's ``entryOptions``), with one key's resilience for
    /// each key: when `compute` throws or passes `hardTimeout`, a key with a value kept in
    /// its grace is served from it (and kept for `failSafeThrottle`); the call throws the
    /// failure when any key has none. `softTimeout` serves the kept values and lets the
    /// computation finish in the background. Single flight and the compute lock hold per key
    /// as for ``getOrSet(_:as:expires:compute:)->Value``.
    ///
    /// ```swift
    /// let options = EntryOptions(expires: "10min", grace: "1h", hardTimeout: .seconds(2))
    /// let rows = try await cache.getOrSet(["p:1", "p:2"], as: Product.self, options: options) { missing in
    ///     try await database.products(keys: missing)
    /// }
    /// ```
    ///
    /// - Throws: `.invalidKey` naming the first bad key (or a bad tag), `.invalidConfiguration`
    ///   for options outside the limits; what `compute` throws, or `.timeout`, for a key with no kept value; else
    ///   a `StrataError` naming a key and the backend.
    public func getOrSet<Value: Codable & Sendable>(
        _ keys: [String], as type: Value.Type = Value.self, options: EntryOptions,
        compute: @escaping @Sendable (_ missing: [String]) async throws -> [String: Value]
    ) async throws -> [String: Value] {
        let keys = try BulkKeys.validated(keys, backend: backendName)
        let pipeline = self.pipeline
        let merged = options.overriding(pipeline.defaultOptions)
        if let first = keys.first { try merged.validate(key: first, backend: backendName) }
        return try await pipeline.getOrSet(keys, as: type, options: merged, mayOutliveCall: true, compute: compute)
    }
}
