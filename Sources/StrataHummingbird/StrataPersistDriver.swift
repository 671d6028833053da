#if Hummingbird
import Foundation
public import Hummingbird
import ServiceLifecycle
public import Strata

/// Hummingbird's `PersistDriver` over any Strata store (and so hummingbird-auth's
/// sessions): the driver's key is the store's key, with Hummingbird's semantics exactly.
///
/// - `create` of a key that holds a live value throws `PersistError.duplicate` and keeps
///   the first value; it is one `setIfAbsent`, so among concurrent creates one wins.
/// - `set(expires: nil)` keeps the key's existing lifetime; a new key written with
///   `expires: nil` gets the store's default lifetime (none unless the store has one). A
///   `Duration` of zero or less stores an entry that is already expired, that is
///   nothing, and removes the key (never a trap).
/// - A `String`, `Data` or `[UInt8]` is stored as JSON (a string in quotes), as this driver
///   always stored it; any other value as `store.set` writes it (an integer as decimal text
///   under the built-in coders, anything else by the store's coder and compression: JSON
///   unless the store says otherwise), so an entry the application wrote
///   through the store reads here too. Reading a value as a type it does not decode to throws
///   `PersistError.invalidConversion`; a compressed value that does not expand is a miss.
/// - `getWithTTL` reports the real time left.
/// - Reads see what a plain `get` sees: a value written with `EntryOptions` is read through
///   its envelope, within its lifetime (never in its grace), while its tags are valid; an
///   entry past its lifetime does not make `create` a duplicate.
/// - As a `Service`, it runs the store's background work (sweepers) until graceful
///   shutdown, then closes the store if ``Configuration/closesStoreOnShutdown``.
///
/// ```swift
/// let persist = StrataPersistDriver(store: TieredStore(l1: MemoryStore(), l2: try SQLiteStore(path: "app.sqlite")))
/// let app = Application(router: router, services: [persist])
/// try await persist.create(key: "job:1", value: job, expires: .seconds(60))
/// ```
public struct StrataPersistDriver: PersistDriver {
    /// What the driver does as a service.
    ///
    /// ```swift
    /// let persist = StrataPersistDriver(store: sqlite, configuration: .init(closesStoreOnShutdown: true))
    /// ```
    public struct Configuration: Sendable {
        /// Whether `shutdown()` (at the end of `run()`) closes the store.
        public var closesStoreOnShutdown: Bool

        /// A configuration; the store stays open by default (it may serve other parts of the app).
        public init(closesStoreOnShutdown: Bool = false) {
            self.closesStoreOnShutdown = closesStoreOnShutdown
        }
    }

    /// The store values are kept in.
    public let store: any KeyValueStore
    /// What the driver does as a service.
    public let configuration: Configuration

    /// A driver over `store`.
    public init(store: any KeyValueStore, configuration: Configuration = .init()) {
        self.store = store
        self.configuration = configuration
    }

    /// Stores `value` unless `key` holds a live value, which throws `PersistError.duplicate`.
    public func create<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        try KeyRules.validate(key, backend: store.backendName)
        let bytes = try encode(value, key: key)
        guard let expiresAt = deadline(expires) else {
            // Already expired: nothing to keep, but a live value still makes it a duplicate.
            if try await store.containsEntry(forKey: key) { throw PersistError.duplicate }
            return
        }
        // An entry past its lifetime (kept for its grace) or invalidated by a tag is no value.
        guard try await store.pipeline.setIfAbsent(key, StoredEntry(bytes: bytes, expiresAt: expiresAt.timestamp)) else {
            throw PersistError.duplicate
        }
    }

    /// Stores `value`, replacing what was there; `expires: nil` keeps the existing lifetime.
    public func set<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        try KeyRules.validate(key, backend: store.backendName)
        let bytes = try encode(value, key: key)
        let expiresAt: Timestamp?
        if expires == nil {
            expiresAt = try await store.readableEntry(forKey: key).map(\.expiresAt) ?? store.deadline(for: nil)
        } else if let deadline = deadline(expires) {
            expiresAt = deadline.timestamp
        } else {
            _ = try await store.changingEntry(forKey: key) { try await store.removeEntry(forKey: key) }
            return
        }
        try await store.changingEntry(forKey: key) {
            try await store.setEntry(StoredEntry(bytes: bytes, expiresAt: expiresAt), forKey: key)
        }
    }

    /// The value at `key`, or `nil`; `PersistError.invalidConversion` when it is not an `Object`.
    public func get<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> Object? {
        // A plain read of the bytes, as `getWithTTL` reads, but without the lifetime it does
        // not return (Redis: `GET` without `PTTL`).
        guard let bytes = try await store.get(key, as: [UInt8].self) else { return nil }
        return try decode(bytes, as: type, key: key)
    }

    /// The value at `key` and the time it has left (`nil`: no expiry).
    public func getWithTTL<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> (object: Object, ttl: Duration?)?
    {
        // As a plain read sees it: through an envelope, within the lifetime, tags valid.
        guard let entry = try await store.readableEntry(forKey: key), let object = try decode(entry.bytes, as: type, key: key) else {
            return nil
        }
        let ttl = entry.expiresAt.map { Duration.milliseconds(max(0, store.clock.now().milliseconds(until: $0))) }
        return (object, ttl)
    }

    /// Removes `key`.
    public func remove(key: String) async throws {
        try KeyRules.validate(key, backend: store.backendName)
        _ = try await store.changingEntry(forKey: key) { try await store.removeEntry(forKey: key) }
    }

    /// Runs the store's background work (sweeping expired entries) until graceful
    /// shutdown or cancellation, then ``shutdown()``.
    public func run() async throws {
        if let work = store as? any BackgroundWork {
            try await work.run()
        } else {
            try? await gracefulShutdown()
        }
        try await shutdown()
    }

    /// Closes the store when the configuration says so.
    public func shutdown() async throws {
        if configuration.closesStoreOnShutdown { try await store.close() }
    }

    /// `value`'s bytes: text, bytes and `Data` as JSON (as this driver has always stored
    /// them, so what it wrote stays readable), any other value by the store's coder and
    /// compression, as `store.set` writes it.
    private func encode<Object: Codable & Sendable>(_ value: Object, key: String) throws -> [UInt8] {
        guard ValueCoding.isRaw(Object.self) else {
            return try ValueCoding.encode(value, key: key, backend: store.backendName, format: store.valueFormat)
        }
        do {
            return [UInt8](try JSONEncoder().encode(value))
        } catch {
            throw StrataError(
                code: .encodingFailed, message: "cannot encode a \(Object.self) as JSON", key: key,
                backend: store.backendName, underlying: error)
        }
    }

    /// `bytes` decoded as `type` by whichever of the store's coders wrote them (JSON for
    /// text, bytes and `Data`, as ``encode(_:key:)`` writes them); `PersistError.invalidConversion`
    /// when they do not decode, `nil` for a compressed value that does not expand (a miss, as
    /// in the store's own reads).
    private func decode<Object: Codable & Sendable>(_ bytes: [UInt8], as type: Object.Type, key: String) throws -> Object? {
        do {
            if ValueCoding.isRaw(Object.self) {
                return try JSONDecoder().decode(Object.self, from: Data(bytes))
            }
            return try ValueCoding.decode(bytes, as: type, key: key, backend: store.backendName, format: store.valueFormat)
        } catch let error as StrataError where error.code == .corruptEntry {
            return nil
        } catch {
            throw PersistError.invalidConversion
        }
    }

    /// The instant `expires` from now (`nil`: the store's default lifetime, none unless
    /// configured); `.none` for a lifetime of zero or less (already expired).
    private func deadline(_ expires: Duration?) -> Deadline? {
        guard let expires else { return Deadline(timestamp: store.deadline(for: nil)) }
        guard expires > .zero else { return nil }
        // Rounded up, so that a lifetime under a millisecond is not zero.
        return Deadline(timestamp: store.clock.now().adding(milliseconds: expires.wholeMilliseconds(roundingUp: true)))
    }

    private struct Deadline {
        var timestamp: Timestamp?
    }
}
#endif
