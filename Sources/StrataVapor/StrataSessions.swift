#if Vapor
public import Strata
public import Vapor

/// Vapor sessions kept in any Strata store: one entry per session, under
/// ``Configuration/keyPrefix`` and the session's id, with a lifetime renewed on every
/// change (sliding).
///
/// - Ending a session (`req.session.destroy()`) deletes its entry: nothing is left.
/// - An unknown, expired or malformed cookie is never adopted: the driver answers "no
///   such session" without touching the store for a cookie that is not one of its ids,
///   and never fails the request (no 500). Vapor then starts a new session, which is
///   stored only once it holds data.
/// - Ids are 32 random bytes, URL-safe Base64 (43 characters), created with
///   `setIfAbsent`, so two sessions never share one.
///
/// ```swift
/// app.sessions.use(.strata(cache))            // lifetime: 7 days
/// app.middleware.use(app.sessions.middleware)
/// ```
public struct StrataSessions: AsyncSessionDriver {
    /// Where and how long sessions are kept.
    ///
    /// ```swift
    /// let sessions = StrataSessions(store: redis, configuration: .init(lifetime: "30min"))
    /// ```
    public struct Configuration: Sendable {
        /// How long a session lives after its last change.
        public var lifetime: Expiry
        /// Prepended to every session id to make its key.
        public var keyPrefix: String

        /// Sessions living `lifetime` after their last change, under `keyPrefix`.
        public init(lifetime: Expiry = "7d", keyPrefix: String = "vapor-session:") {
            self.lifetime = lifetime
            self.keyPrefix = keyPrefix
        }
    }

    /// The store sessions are kept in.
    public let store: any KeyValueStore
    /// Where and how long.
    public let configuration: Configuration

    /// A driver keeping sessions in `store`.
    public init(store: any KeyValueStore, configuration: Configuration = .init()) {
        self.store = store
        self.configuration = configuration
    }

    /// Stores a new session under a fresh random id; a session with no data is not
    /// stored (Vapor creates one for every request that came with an unknown cookie).
    public func createSession(_ data: SessionData, for request: Request) async throws -> SessionID {
        while true {
            let id = Self.newID()
            if data.snapshot.isEmpty { return SessionID(string: id) }
            if try await store.setIfAbsent(key(id), data.snapshot, expires: configuration.lifetime) {
                return SessionID(string: id)
            }
        }
    }

    /// The session's data, or `nil` for an unknown, expired or malformed id (or an entry
    /// that is not a session's, which is then removed).
    public func readSession(_ sessionID: SessionID, for request: Request) async throws -> SessionData? {
        guard Self.isWellFormed(sessionID.string) else { return nil }
        do {
            return try await store.get(key(sessionID.string), as: [String: String].self).map(SessionData.init(initialData:))
        } catch let error as StrataError where error.code == .decodingFailed {
            request.logger.warning("a session entry that is not a session's was removed", metadata: ["error": "\(error)"])
            try await store.delete(key(sessionID.string))
            return nil
        }
    }

    /// Writes the session's data, renewing its lifetime.
    public func updateSession(_ sessionID: SessionID, to data: SessionData, for request: Request) async throws -> SessionID {
        guard Self.isWellFormed(sessionID.string) else { return try await createSession(data, for: request) }
        try await store.set(key(sessionID.string), data.snapshot, expires: configuration.lifetime)
        return sessionID
    }

    /// Deletes the session's entry.
    public func deleteSession(_ sessionID: SessionID, for request: Request) async throws {
        guard Self.isWellFormed(sessionID.string) else { return }
        try await store.delete(key(sessionID.string))
    }

    private func key(_ id: String) -> String { configuration.keyPrefix + id }

    /// 32 random bytes as URL-safe Base64 without padding.
    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Whether `id` looks like one of this driver's ids (so nothing else reaches the store).
    static func isWellFormed(_ id: String) -> Bool {
        id.utf8.count == 43
            && id.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F
            }
    }
}

extension Application.Sessions.Provider {
    /// `app.sessions.use(.strata(store))`: sessions kept in a Strata store.
    ///
    /// ```swift
    /// app.sessions.use(.strata(redis, configuration: .init(lifetime: "1h")))
    /// ```
    public static func strata(_ store: any KeyValueStore, configuration: StrataSessions.Configuration = .init()) -> Self {
        .init { application in
            application.sessions.use { _ in StrataSessions(store: store, configuration: configuration) }
        }
    }
}
#endif
