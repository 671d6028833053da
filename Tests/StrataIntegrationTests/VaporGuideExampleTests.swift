// An example of Docs/Integrations.md, compiled (and run where the test run has what it
// needs), so the guide cannot drift from the API.
#if Vapor
import Strata
import StrataSQLite
import StrataVapor
import Testing
import VaporTesting

@Suite("Integration guide examples")
struct VaporGuideExampleTests {
    // Docs/Integrations.md, "Vapor": the example's body.
    static func configure(_ app: Application, path: String) throws {
        let cache = TieredStore(
            l1: MemoryStore(maxEntries: 10_000), l2: try SQLiteStore(path: path),
            defaultExpiry: "10min")
        app.caches.use(.strata(cache))  // req.cache, app.cache
        app.sessions.use(.strata(cache, configuration: .init(lifetime: "1d")))
        app.middleware.use(app.sessions.middleware)
        app.lifecycle.use(StoreLifecycle(cache))  // deletes expired rows and sessions
        app.get("hello") { req async throws -> String in
            try await req.cache.set("greeting", to: "hi", expiresIn: .minutes(5))
            return try await req.cache.get("greeting", as: String.self) ?? "?"
        }
    }

    @Test("the Vapor example answers hi")
    func vapor() async throws {
        try await withApp { app in
            try Self.configure(app, path: IntegrationStores().sqlitePath)
            try await app.testing().test(.GET, "hello") { #expect($0.body.string == "hi") }
        }
    }
}
#endif
