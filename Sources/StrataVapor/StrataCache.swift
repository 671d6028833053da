#if Vapor
public import Strata
public import Vapor

/// Vapor's `Cache` over any Strata store: `app.cache` and `req.cache` become a
/// `TieredStore` (or a folder, SQLite, Redis…) with Vapor's semantics.
///
/// - Values go through Strata's value coding, as `store.set` writes them: a `String`,
///   `Data` or `[UInt8]` is stored as its raw bytes (so other clients of the backend read
///   it as it is; bytes that begin as Strata's envelope does go inside one, as a plain
///   `set` stores them), an integer as decimal text under the built-in coders, anything
///   else by the store's coder and compression (JSON unless the store says otherwise); reading a value as a type it
///   does not decode to fails with `StrataError` `.decodingFailed`, naming the key.
/// - `set(key, to: nil)` removes the key; `expiresIn` becomes the entry's lifetime, and
///   without it the store's default lifetime applies (a zero or negative lifetime
///   removes the key: the entry would already be expired; one past 10,000 years fails
///   with `.invalidExpiry`).
/// - Keys are Strata keys: any non-empty text up to 1024 UTF-8 bytes, not under
///   `KeyRules.reservedPrefix`; others fail with `.invalidKey`.
/// - Reads see what a plain `get` sees: a value written with `EntryOptions` (grace, tags)
///   is read through its envelope, within its lifetime only, while its tags are valid.
///
/// ```swift
/// app.caches.use(.strata(TieredStore(l1: MemoryStore(maxEntries: 10_000), l2: try SQLiteStore(path: "cache.sqlite"))))
/// app.get("hello") { req async throws -> String in
///     try await req.cache.set("greeting", to: "hi", expiresIn: .minutes(5))
///     return try await req.cache.get("greeting", as: String.self) ?? "?"
/// }
/// ```
public struct StrataCache: Cache, Sendable {
    /// The store values are kept in.
    public let store: any KeyValueStore
    /// Where the futures of the `EventLoopFuture` API complete.
    public let eventLoop: any EventLoop

    /// A cache over `store`, completing its futures on `eventLoop`.
    ///
    /// ```swift
    /// let cache = StrataCache(store: MemoryStore(), eventLoop: app.eventLoopGroup.next())
    /// ```
    public init(store: any KeyValueStore, eventLoop: any EventLoop) {
        self.store = store
        self.eventLoop = eventLoop
    }

    /// The value at `key` decoded as `type`, or `nil` when it is missing or expired.
    public func get<T>(_ key: String, as type: T.Type) -> EventLoopFuture<T?> where T: Decodable {
        let store = store
        // The store is read in a task; the bytes are decoded where the future completes,
        // since Vapor does not require `T` to be `Sendable`.
        return complete { () async throws -> [UInt8]? in
            // A plain read of the bytes: an entry written with options is read through its
            // envelope, within its lifetime (never in its grace), while its tags are valid.
            // It reads no lifetime, which is not needed here (Redis: `GET` without `PTTL`).
            try await store.get(key, as: [UInt8].self)
        }.decoded(by: ValueDecoder<T>(key: key, backend: store.backendName, format: store.valueFormat))
    }

    /// Stores `value` with the store's default lifetime; `nil` removes the key.
    public func set<T>(_ key: String, to value: T?) -> EventLoopFuture<Void> where T: Encodable {
        set(key, to: value, expiresIn: nil)
    }

    /// Stores `value` for `expirationTime` (the store's default lifetime when `nil`);
    /// a `nil` value removes the key.
    public func set<T>(_ key: String, to value: T?, expiresIn expirationTime: CacheExpirationTime?) -> EventLoopFuture<Void>
    where T: Encodable {
        let store = store
        do {
            try KeyRules.validate(key, backend: store.backendName)
            guard let value else {
                return complete { _ = try await store.changingEntry(forKey: key) { try await store.removeEntry(forKey: key) } }
            }
            let bytes = try ValueCoding.encode(value, key: key, backend: store.backendName, format: store.valueFormat)
            let expiresAt: Timestamp?
            if let seconds = expirationTime?.seconds {
                guard seconds > 0 else {
                    return complete { _ = try await store.changingEntry(forKey: key) { try await store.removeEntry(forKey: key) } }
                }
                // Validated, not trapped on: the lifetime often comes from a request or a
                // setting, and one past 10,000 years fails this call with invalidExpiry.
                do {
                    expiresAt = store.deadline(for: try Expiry(validating: .seconds(seconds)))
                } catch var error as StrataError {
                    error.key = key
                    error.backend = store.backendName
                    throw error
                }
            } else {
                expiresAt = store.deadline(for: nil)
            }
            return complete {
                // As a plain `set` stores a value: bytes that begin as an envelope does go inside one.
                let entry = try await store.pipeline.plainEntry(bytes, expiresAt: expiresAt)
                try await store.changingEntry(forKey: key) { try await store.setEntry(entry, forKey: key) }
            }
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    /// The same cache, completing on the request's event loop.
    public func `for`(_ request: Request) -> StrataCache {
        StrataCache(store: store, eventLoop: request.eventLoop)
    }

    private func complete<Value: Sendable>(_ work: @escaping @Sendable () async throws -> Value) -> EventLoopFuture<Value> {
        let promise = eventLoop.makePromise(of: Value.self)
        promise.completeWithTask(work)
        return promise.futureResult
    }
}

/// Decodes a stored value as `Value` where a cache's future completes. Vapor's `Cache`
/// does not require `Value` to be `Sendable`; this carries only the key, backend name and value
/// format (all `Sendable`) and the type, which it never shares.
struct ValueDecoder<Value: Decodable>: @unchecked Sendable {
    let key: String
    let backend: String
    /// The store's coders, which read the bytes whichever of them wrote them.
    let format: ValueFormat

    func decode(_ bytes: [UInt8]?) throws -> Value? {
        guard let bytes else { return nil }
        do {
            return try ValueCoding.decode(bytes, as: Value.self, key: key, backend: backend, format: format)
        } catch let error as StrataError where error.code == .corruptEntry {
            return nil  // a compressed value that does not expand: a miss, as in the store's own reads
        }
    }
}

extension EventLoopFuture where Value == [UInt8]? {
    /// The bytes decoded by `decoder` once they are there.
    func decoded<Decoded>(by decoder: ValueDecoder<Decoded>) -> EventLoopFuture<Decoded?> {
        flatMapThrowing(decoder.decode)
    }
}

extension Application.Caches.Provider {
    /// `app.caches.use(.strata(store))`: `app.cache` and `req.cache` over a Strata store.
    ///
    /// ```swift
    /// app.caches.use(.strata(try RedisStore(url: "redis://127.0.0.1:6379")))
    /// ```
    public static func strata(_ store: any KeyValueStore) -> Self {
        .init { application in
            application.caches.use { application in StrataCache(store: store, eventLoop: application.eventLoopGroup.any()) }
        }
    }
}
#endif
