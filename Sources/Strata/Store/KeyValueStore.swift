/// A key-value store with expiry: the one protocol every Strata store speaks.
///
/// `MemoryStore`, `FolderStore`, `SQLiteStore`, `RedisStore`, `TieredStore` and the view
/// made by ``prefixed(_:)`` all conform, so any one of them can replace another without
/// changing the calling code. Callers use the typed layer (``set(_:_:expires:)``,
/// ``get(_:as:)->Value?``, ``getOrSet(_:as:expires:compute:)->Value`` and the rest, in extensions);
/// a backend implements the small set of requirements below, in terms of raw entries.
///
/// ```swift
/// func remember(_ user: User, in store: some KeyValueStore) async throws {
///     try await store.set("user:\(user.id)", user, expires: "1h")
/// }
/// ```
///
/// The contract a backend must keep, sentence by sentence, is in this protocol's
/// documentation (`Strata.docc/KeyValueStore.md`); `KeyValueStoreConformance` in
/// StrataTesting checks each sentence.
public protocol KeyValueStore: AnyObject, Sendable {
    /// A short name for messages, for example `FolderStore(/var/cache/app)`.
    var backendName: String { get }

    /// The lifetime of entries written with `expires: nil`; `nil` means they never expire.
    var defaultExpiry: Expiry? { get }

    /// The clock the store measures lifetimes with.
    var clock: any StrataClock { get }

    /// The options that calls with ``EntryOptions`` merge theirs with. The default: none
    /// set (the store's ``defaultExpiry`` applies); a ``TieredStore`` takes its
    /// configuration's.
    var entryOptions: EntryOptions { get }

    /// How the typed API turns this store's values into bytes: the coder and compression of
    /// what it writes, and the coders it reads besides (see ``ValueFormat``). The default:
    /// JSON, uncompressed; each store takes its configuration's `valueCoder`, `compression`
    /// and `previousValueCoders`, a ``TieredStore`` its L2's unless its configuration says.
    ///
    /// ```swift
    /// var valueFormat: ValueFormat { base.valueFormat }   // a wrapper that writes as its base does
    /// ```
    var valueFormat: ValueFormat { get }

    /// The path the typed API takes through this store (see ``Pipeline``): the store alone
    /// by default; a ``TieredStore``'s L1 over its L2; a view's or wrapper's base's. This is
    /// how tiered behaviour (L1, its coherence, the compute lock, tags) reaches a store
    /// through any wrapper, without a downcast.
    ///
    /// ```swift
    /// var pipeline: Pipeline { base.pipeline }   // a wrapper that keeps its base's tiers
    /// ```
    var pipeline: Pipeline { get }

    /// The unexpired entry for `key`, or `nil`.
    ///
    /// - Throws: `.corruptEntry` for an entry the backend cannot read back, and as every call:
    ///   a `StrataError` naming the key and the backend: `.backendUnavailable` when the
    ///   backend cannot be reached, `.storageFull` or `.accessDenied` when it refuses the
    ///   write, `.closed` after ``close()``.
    func entry(forKey key: String) async throws -> StoredEntry?

    /// Replaces the entry for `key`.
    ///
    /// - Throws: a `StrataError` naming the key and the backend: `.backendUnavailable` when
    ///   the backend cannot be reached, `.storageFull` or `.accessDenied` when it refuses the
    ///   write, `.closed` after ``close()``.
    func setEntry(_ entry: StoredEntry, forKey key: String) async throws

    /// Writes `entry` only if `key` has no unexpired entry; `true` when it wrote.
    ///
    /// - Throws: a `StrataError` naming the key and the backend: `.backendUnavailable` when
    ///   the backend cannot be reached, `.storageFull` or `.accessDenied` when it refuses the
    ///   write, `.closed` after ``close()``.
    func setEntryIfAbsent(_ entry: StoredEntry, forKey key: String) async throws -> Bool

    /// Removes the entry for `key`; `true` when an unexpired entry existed.
    ///
    /// - Throws: a `StrataError` naming the key and the backend: `.backendUnavailable` when
    ///   the backend cannot be reached, `.storageFull` or `.accessDenied` when it refuses the
    ///   write, `.closed` after ``close()``.
    @discardableResult
    func removeEntry(forKey key: String) async throws -> Bool

    /// Sets when the entry for `key` expires (`nil`: never); `false` when there is no entry.
    ///
    /// - Throws: a `StrataError` naming the key and the backend: `.backendUnavailable` when
    ///   the backend cannot be reached, `.storageFull` or `.accessDenied` when it refuses the
    ///   write, `.closed` after ``close()``.
    func setExpiration(_ expiresAt: Timestamp?, forKey key: String) async throws -> Bool

    /// Adds `delta` to the integer at `key`, creating it at 0 expiring at `expiresAt`.
    ///
    /// - Throws: `.notAnInteger` when the value is not a decimal integer or the sum overflows;
    ///   else a `StrataError` naming the key and the backend: `.backendUnavailable` when the
    ///   backend cannot be reached, `.storageFull` or `.accessDenied` when it refuses the
    ///   write, `.closed` after ``close()``.
    func incrementEntry(forKey key: String, by delta: Int, expiresAt: Timestamp?) async throws -> Int

    /// The keys of the unexpired entries that start with `prefix`, sorted by their UTF-8
    /// bytes, as the backend holds them: the typed ``keys(prefix:)`` is what callers use (it
    /// also leaves out entries past their lifetime but kept for their grace, and those whose
    /// tag was invalidated).
    ///
    /// ```swift
    /// let names = try await store.storedKeys(prefix: "user:")
    /// ```
    ///
    /// - Throws: a `StrataError` naming the backend: `.backendUnavailable` when the backend
    ///   cannot be reached, `.closed` after ``close()``.
    func storedKeys(prefix: String) async throws -> [String]

    /// The unexpired entries whose keys start with `prefix`, sorted by their UTF-8 bytes,
    /// read in one pass: one range query on SQLite, one directory walk on a folder, a
    /// pipelined `GET`+`PTTL` batch per `SCAN` page on Redis. The default lists
    /// ``storedKeys(prefix:)`` and reads each; a key removed in between is left out.
    ///
    /// Entries are returned as stored: an entry written with options still carries its
    /// envelope (the typed `entries(prefix:as:)` reads through it).
    ///
    /// ```swift
    /// for (key, entry) in try await store.storedEntries(prefix: "user:") { print(key, entry.bytes.count) }
    /// ```
    ///
    /// - Throws: `.corruptEntry` naming the key of an entry that cannot be read; else a
    ///   `StrataError` naming the backend: `.backendUnavailable` when the backend cannot be
    ///   reached, `.closed` after ``close()``.
    func storedEntries(prefix: String) async throws -> [(key: String, entry: StoredEntry)]

    /// Removes every key that starts with `prefix`; returns how many unexpired entries it removed.
    ///
    /// ```swift
    /// try await store.clear(prefix: "session:")
    /// ```
    ///
    /// - Throws: a `StrataError` naming the key and the backend: `.backendUnavailable` when
    ///   the backend cannot be reached, `.storageFull` or `.accessDenied` when it refuses the
    ///   write, `.closed` after ``close()``.
    @discardableResult
    func clear(prefix: String) async throws -> Int

    /// Removes expired entries now, for stores that do not expire them natively.
    ///
    /// ```swift
    /// let removed = try await store.sweepExpired()
    /// ```
    ///
    /// - Throws: a `StrataError` naming the key and the backend: `.backendUnavailable` when
    ///   the backend cannot be reached, `.storageFull` or `.accessDenied` when it refuses the
    ///   write, `.closed` after ``close()``.
    @discardableResult
    func sweepExpired() async throws -> Int

    /// Makes `lease` the lease of `key` for at most `duration` (replacing any other lease
    /// on it), then reads the key as ``entry(forKey:)`` does, after the lease is in place.
    ///
    /// A computation takes a lease before it computes (see ``EntryLease``); the entry read
    /// under the lease is the one it may return instead of computing. The default keeps the
    /// lease in this process only (see `KeyValueStore+Leases.swift`): a backend shared by
    /// several processes implements leases itself.
    ///
    /// ```swift
    /// let lease = EntryLease.random()
    /// let current = try await store.leaseEntry(forKey: "report", lease: lease, duration: .seconds(600))
    /// ```
    ///
    /// - Throws: as ``entry(forKey:)``.
    func leaseEntry(forKey key: String, lease: EntryLease, duration: Duration) async throws -> StoredEntry?

    /// Writes `entry` only while `lease` is the lease of `key`: made by
    /// ``leaseEntry(forKey:lease:duration:)``, not ended, and not broken since by a change of
    /// the key (see the contract above). The check and the write are atomic: no change can
    /// land between them. The lease ends with the write unless `keepingLease`. `true` when
    /// it wrote.
    ///
    /// ```swift
    /// if try await store.setEntry(entry, forKey: "report", ifLeased: lease, keepingLease: false) { ... }
    /// ```
    ///
    /// - Throws: as ``setEntry(_:forKey:)``.
    func setEntry(_ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool) async throws -> Bool

    /// Ends `lease` if it is still the lease of `key` (a computation that failed or was
    /// abandoned), leaving the key's entry as it is.
    ///
    /// ```swift
    /// try await store.releaseLease(lease, forKey: "report")
    /// ```
    ///
    /// - Throws: a `StrataError` naming the key and the backend: `.backendUnavailable` when
    ///   the backend cannot be reached, `.closed` after ``close()``.
    func releaseLease(_ lease: EntryLease, forKey key: String) async throws

    /// The values of Strata's own records for this store (0 for a name never recorded): the
    /// instant a tag was last invalidated (`tag:<tag>`), whether the store ever held an
    /// entry with an envelope (`envelopes`). Records are kept apart from the store's keys.
    /// The default keeps them under reserved keys of the store itself (see
    /// `KeyValueStore+Records.swift`). A store that may lose a record (`RedisStore`, whose
    /// server may evict it) reads a tag's missing record as invalidated just before it found
    /// it missing, never as 0.
    ///
    /// ```swift
    /// let instants = try await store.records(named: ["tag:team:3"])
    /// ```
    ///
    /// - Throws: `.corruptEntry` for a record that is not a number; else a `StrataError`
    ///   naming the backend: `.backendUnavailable` when the backend cannot be reached,
    ///   `.closed` after ``close()``.
    func records(named names: [String]) async throws -> [Int64]

    /// Records `value` under `name` unless a greater value is recorded there already
    /// (max-merge, atomic in the backend), so an instant only moves forward whichever
    /// process records it and in whatever order their writes land.
    ///
    /// ```swift
    /// try await store.raiseRecord(named: "tag:team:3", to: instant)
    /// ```
    ///
    /// - Throws: a `StrataError` naming the backend: `.backendUnavailable` when the backend
    ///   cannot be reached, `.storageFull` or `.accessDenied` when it refuses the write,
    ///   `.closed` after ``close()``.
    func raiseRecord(named name: String, to value: Int64) async throws

    /// Releases the store's resources; later calls throw ``StrataError/Code/closed``.
    ///
    /// ```swift
    /// try await store.close()
    /// ```
    func close() async throws

    /// The value at `key` decoded as `type`; stores that keep Swift values return them as
    /// they are. The default decodes ``entry(forKey:)``.
    ///
    /// - Throws: `.decodingFailed` when the bytes do not decode as `type`; `.corruptEntry`
    ///   for an entry the backend cannot read; else a `StrataError` naming the key and the
    ///   backend: `.backendUnavailable` when the backend cannot be reached, `.closed` after
    ///   ``close()``.
    func value<Value: Codable & Sendable>(forKey key: String, as type: Value.Type) async throws -> Value?

    /// Writes `value` at `key`. The default encodes it and calls ``setEntry(_:forKey:)``.
    ///
    /// - Throws: `.encodingFailed` when `value` cannot be encoded; else a `StrataError` naming
    ///   the key and the backend: `.backendUnavailable` when the backend cannot be reached,
    ///   `.storageFull` or `.accessDenied` when it refuses the write, `.closed` after
    ///   ``close()``.
    func setValue<Value: Codable & Sendable>(_ value: Value, forKey key: String, expiresAt: Timestamp?) async throws

    /// Whether `key` has an unexpired entry. The default reads the entry.
    ///
    /// - Throws: a `StrataError` naming the key and the backend: `.backendUnavailable` when
    ///   the backend cannot be reached, `.storageFull` or `.accessDenied` when it refuses the
    ///   write, `.closed` after ``close()``.
    func containsEntry(forKey key: String) async throws -> Bool

    /// Reads `key`, or computes, stores and returns its value, running `compute` once
    /// for all concurrent callers of one key in this process.
    ///
    /// - Throws: what `compute` throws (nothing is stored then); else a `StrataError` naming
    ///   the key and the backend: `.backendUnavailable` when the backend cannot be reached,
    ///   `.storageFull` or `.accessDenied` when it refuses the write, `.closed` after
    ///   ``close()``.
    func getOrSetValue<Value: Codable & Sendable>(
        forKey key: String,
        as type: Value.Type,
        expires: Expiry?,
        compute: () async throws -> Value
    ) async throws -> Value

    /// The value a `getOrSet` with `options` returns without computing or reading a shared
    /// tier: a fresh copy in this process's memory tier, counted as its hit; `nil` for a
    /// store of one tier, and whenever the compute path must decide (an eager refresh may be
    /// due, by the options or the store's defaults), which then reads every tier. The
    /// default asks ``pipeline``; a ``TieredStore`` answers from its L1 without building
    /// one, and a view or wrapper forwards it as it forwards `pipeline`.
    ///
    /// An implementation must answer only what the compute path would return at once: a
    /// copy within its lifetime whose tags were not invalidated since it was written, never
    /// one an eager refresh should renew. `nil` is always a correct answer. `getOrSet` calls
    /// it with a key it has validated; it does not validate keys itself (an invalid key has
    /// no copy: `nil`).
    ///
    /// ```swift
    /// let hit = try cache.cachedValue(forKey: "rates", as: Rates.self, options: EntryOptions(grace: "1h"))
    /// ```
    ///
    /// - Throws: ``StrataError/Code/closed`` after ``close()``.
    func cachedValue<Value: Codable & Sendable>(forKey key: String, as type: Value.Type, options: EntryOptions) throws -> Value?

    /// The unexpired entries of `keys`, read in one batch where the backend can: one query on
    /// SQLite, one pipelined round trip on Redis (one per node on a cluster), parallel reads
    /// on a folder, one pass over memory. A missing or expired key is absent from the
    /// result. The default reads each key with ``entry(forKey:)``.
    ///
    /// ```swift
    /// let found = try await store.entries(forKeys: ["user:1", "user:2"])
    /// ```
    ///
    /// - Throws: `.corruptEntry` naming the key of an entry the backend cannot read back; else
    ///   a `StrataError` naming the backend: `.backendUnavailable` when the backend cannot be
    ///   reached, `.closed` after ``close()``.
    func entries(forKeys keys: [String]) async throws -> [String: StoredEntry]

    /// Writes every entry of `entries`, each replacing its key's whole, in one batch where the
    /// backend can (one transaction on SQLite, one pipelined round trip on Redis). The default
    /// writes each with ``setEntry(_:forKey:)`` in the keys' byte order.
    ///
    /// A batch the backend refuses part-way throws the backend's error with
    /// ``StrataError/writtenKeys`` listing the keys it did write (empty for a backend that
    /// writes all or nothing).
    ///
    /// ```swift
    /// try await store.setEntries(["a": StoredEntry(bytes: [1]), "b": StoredEntry(bytes: [2])])
    /// ```
    ///
    /// - Throws: a `StrataError` naming the backend and the failing key: `.backendUnavailable`
    ///   when the backend cannot be reached, `.storageFull` or `.accessDenied` when it refuses
    ///   the write, `.closed` after ``close()``.
    func setEntries(_ entries: [String: StoredEntry]) async throws

    /// Removes the entries of `keys` in one batch where the backend can; returns how many of
    /// them held an unexpired entry. The default removes each with ``removeEntry(forKey:)``.
    ///
    /// ```swift
    /// let removed = try await store.removeEntries(forKeys: ["user:1", "user:2"])
    /// ```
    ///
    /// - Throws: a `StrataError` naming the backend: `.backendUnavailable` when the backend
    ///   cannot be reached, `.storageFull` or `.accessDenied` when it refuses the change,
    ///   `.closed` after ``close()``.
    @discardableResult
    func removeEntries(forKeys keys: [String]) async throws -> Int
}
