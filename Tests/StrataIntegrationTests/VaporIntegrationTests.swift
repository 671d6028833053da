#if Vapor
import Foundation
import Strata
import StrataRedis
import StrataSQLite
import StrataTesting
import StrataVapor
import Testing
import VaporTesting

/// `req.cache` and sessions of a real Vapor application over Strata stores.
@Suite("Vapor")
struct VaporIntegrationTests {
    struct Profile: Codable, Sendable, Equatable {
        var name: String
        var visits: Int
    }

    /// Routes that use `req.cache` the way an application does.
    static func cacheRoutes(_ app: Application) {
        app.put("text", ":key") { req async throws -> HTTPStatus in
            let seconds = req.query[Int.self, at: "seconds"]
            let text = req.body.string ?? ""
            try await req.cache.set(req.parameters.get("key")!, to: text, expiresIn: seconds.map { .seconds($0) })
            return .ok
        }
        app.get("text", ":key") { req async throws -> String in
            try await req.cache.get(req.parameters.get("key")!, as: String.self) ?? "(none)"
        }
        app.delete("text", ":key") { req async throws -> HTTPStatus in
            try await req.cache.delete(req.parameters.get("key")!)
            return .noContent
        }
        app.put("profile") { req async throws -> HTTPStatus in
            try await req.cache.set("profile", to: Profile(name: "Ada", visits: 3))
            return .ok
        }
        app.get("profile") { req async throws -> String in
            let profile = try await req.cache.get("profile", as: Profile.self)
            return profile.map { "\($0.name) \($0.visits)" } ?? "(none)"
        }
    }

    static func expectText(_ app: Application, _ key: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation)
        async throws
    {
        try await app.testing().test(.GET, "text/\(key)") { response in
            #expect(response.body.string == expected, sourceLocation: sourceLocation)
        }
    }

    @Test("req.cache over a TieredStore on SQLite: values, raw strings, JSON, lifetimes, delete, and a restart keeps L2")
    func cacheOverSQLite() async throws {
        let stores = IntegrationStores()
        try await withApp { app in
            let store = try stores.tieredOverSQLite(defaultExpiry: "10min")
            app.caches.use(.strata(store))
            Self.cacheRoutes(app)
            try await app.testing().test(.PUT, "text/greeting", body: .init(string: "hello")) { #expect($0.status == .ok) }
            try await Self.expectText(app, "greeting", "hello")
            // A String is stored as its raw bytes, which other clients of the backend read as they are.
            #expect(try await store.l2.get("greeting", as: [UInt8].self) == Array("hello".utf8))
            // Without expiresIn the store's default lifetime applies.
            let entry = try #require(try await store.l2.entry(forKey: "greeting"))
            #expect(entry.expiresAt == stores.clock.now().adding(milliseconds: 600_000))

            try await app.testing().test(.PUT, "text/short?seconds=30", body: .init(string: "brief")) { #expect($0.status == .ok) }
            // A lifetime past 10,000 years (here from the request) fails the call with
            // invalidExpiry naming the key, never the process; nothing is stored.
            try await app.testing().test(.PUT, "text/far?seconds=999999999999", body: .init(string: "far")) {
                #expect($0.status == .internalServerError)
            }
            try await Self.expectText(app, "far", "(none)")
            let refused = await #expect(throws: StrataError.self) {
                try await StrataCache(store: store, eventLoop: app.eventLoopGroup.next()).set("far", to: "far", expiresIn: .days(4_000_000))
                    .get()
            }
            #expect(refused?.code == .invalidExpiry && refused?.key == "far", "\(String(describing: refused))")
            try await app.testing().test(.PUT, "profile") { #expect($0.status == .ok) }
            try await app.testing().test(.GET, "profile") { #expect($0.body.string == "Ada 3") }
            stores.clock.advance(by: .seconds(31))
            try await Self.expectText(app, "short", "(none)")
            try await Self.expectText(app, "greeting", "hello")

            try await app.testing().test(.DELETE, "text/greeting") { #expect($0.status == .noContent) }
            try await Self.expectText(app, "greeting", "(none)")
            #expect(try await store.l2.has("greeting") == false)
            try await app.testing().test(.PUT, "text/kept", body: .init(string: "survives")) { #expect($0.status == .ok) }
            try await store.close()
        }
        // A new process of the app: a new L1, the same SQLite file.
        try await withApp { app in
            app.caches.use(.strata(try stores.tieredOverSQLite()))
            Self.cacheRoutes(app)
            try await Self.expectText(app, "kept", "survives")
            try await app.testing().test(.GET, "profile") { #expect($0.body.string == "Ada 3") }
        }
    }

    @Test("req.cache over a TieredStore on Redis; reading as the wrong type fails the request without a crash")
    func cacheOverRedis() async throws {
        let stores = IntegrationStores()
        let store = try await stores.tieredOverRedis()
        try await withApp { app in
            app.caches.use(.strata(store))
            Self.cacheRoutes(app)
            try await app.testing().test(.PUT, "text/k", body: .init(string: "over redis")) { #expect($0.status == .ok) }
            try await Self.expectText(app, "k", "over redis")
            #expect(try await store.l2.get("k", as: String.self) == "over redis")
            try await app.testing().test(.PUT, "text/profile", body: .init(string: "not json")) { #expect($0.status == .ok) }
            try await app.testing().test(.GET, "profile") { #expect($0.status == .internalServerError) }
            // A key Strata refuses (over 1024 bytes) fails the request with the StrataError, never a crash.
            try await app.testing().test(.GET, "text/" + String(repeating: "k", count: 1_100)) {
                #expect($0.status == .internalServerError)
            }
        }
        try await store.clear()
    }

    /// Routes that use sessions: log in, read, log out.
    static func sessionRoutes(_ app: Application) {
        app.middleware.use(app.sessions.middleware)
        app.post("login", ":user") { req async throws -> HTTPStatus in
            req.session.data["user"] = req.parameters.get("user")!
            return .ok
        }
        app.get("me") { req async throws -> String in req.session.data["user"] ?? "anonymous" }
        app.post("logout") { req async throws -> HTTPStatus in
            req.session.destroy()
            return .ok
        }
    }

    static func sessionCookie(_ response: TestingHTTPResponse) -> String? {
        response.headers.setCookie?["vapor-session"]?.string
    }

    @Test(
        "sessions over SQLite and over Redis: survive requests, expire, end with nothing left; foreign cookies are never adopted",
        arguments: ["sqlite", "redis"])
    func sessions(backend: String) async throws {
        let stores = IntegrationStores()
        let store: TieredStore = backend == "sqlite" ? try stores.tieredOverSQLite() : try await stores.tieredOverRedis()
        try await withApp { app in
            app.sessions.use(.strata(store, configuration: .init(lifetime: "30min")))
            Self.sessionRoutes(app)
            var cookie = ""
            try await app.testing().test(.POST, "login/ada") { response in
                #expect(response.status == .ok)
                cookie = Self.sessionCookie(response) ?? ""
            }
            #expect(cookie.utf8.count == 43)
            let headers: HTTPHeaders = ["Cookie": "vapor-session=\(cookie)"]
            try await app.testing().test(.GET, "me", headers: headers) { #expect($0.body.string == "ada") }
            try await app.testing().test(.GET, "me", headers: headers) { #expect($0.body.string == "ada") }
            #expect(try await store.keys(prefix: "vapor-session:") == ["vapor-session:" + cookie])
            let entry = try #require(try await store.l2.entry(forKey: "vapor-session:" + cookie))
            #expect(entry.expiresAt != nil, "a session has a lifetime")

            // Cookies that are not a live session: unknown, malformed, huge, hostile.
            for foreign in [String(repeating: "A", count: 43), "../x", String(repeating: "x", count: 2_000), "a*b?c%00", ""] {
                try await app.testing().test(.GET, "me", headers: ["Cookie": "vapor-session=\(foreign)"]) { response in
                    #expect(response.status == .ok, "\(foreign.prefix(20))")
                    #expect(response.body.string == "anonymous")
                }
            }
            #expect(try await store.keys(prefix: "vapor-session:").count == 1, "no session was created or adopted")

            try await app.testing().test(.POST, "logout", headers: headers) { #expect($0.status == .ok) }
            try await app.testing().test(.GET, "me", headers: headers) { #expect($0.body.string == "anonymous") }
            #expect(try await store.keys(prefix: "vapor-session:").isEmpty, "ending a session leaves nothing")
        }
        if backend == "sqlite" {
            // Lifetimes: a session not touched for longer than its lifetime is gone.
            try await withApp { app in
                app.sessions.use(.strata(store, configuration: .init(lifetime: "30min")))
                Self.sessionRoutes(app)
                var cookie = ""
                try await app.testing().test(.POST, "login/bob") { cookie = Self.sessionCookie($0) ?? "" }
                stores.clock.advance(by: .seconds(31 * 60))
                try await app.testing().test(.GET, "me", headers: ["Cookie": "vapor-session=\(cookie)"]) {
                    #expect($0.body.string == "anonymous")
                }
            }
        } else {
            try await store.clear()
        }
        try await store.close()
    }
}
#endif
