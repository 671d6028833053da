// Strata with Vapor: a slow query cached in a TieredStore over Redis, sessions kept in
// the same store, and the store's background work tied to the app's lifecycle.
//
//   REDIS_URL=redis://127.0.0.1:6379 PORT=8080 swift run
//   curl -i localhost:8080/report/42     # X-Cache: miss, after ~200 ms
//   curl -i localhost:8080/report/42     # X-Cache: hit, at once
import Foundation
import Strata
import StrataRedis
import StrataVapor
import Vapor

/// What the slow query returns. `computedAt` shows when it really ran.
struct Report: Content {
    var id: String
    var total: Int
    var computedAt: Date
}

/// Stands in for an expensive database query.
func slowQuery(id: String) async throws -> Report {
    try await Task.sleep(for: .milliseconds(200))
    return Report(id: id, total: id.utf8.reduce(0) { $0 &+ Int($1) }, computedAt: Date())
}

func configure(_ app: Application) throws {
    let redisURL = Environment.get("REDIS_URL") ?? "redis://127.0.0.1:6379"
    app.logger.notice("Redis at \(redisURL) (set REDIS_URL to change it)")
    let redis = try RedisStore(url: redisURL)
    // L1 in this process, L2 in Redis. The bus tells other instances of the app to drop
    // their L1 copy of a key this one changes, so every instance reads the newest value.
    let cache = TieredStore(
        l1: MemoryStore(maxEntries: 10_000), l2: redis,
        configuration: .init(defaultExpiry: "10min", invalidationPublisher: RedisInvalidationBus(redis: redis)))
    // StrataVapor's handler runs the store's background work (L1's sweeper, the bus's
    // subscription) once the app has booted, and closes the store when the app shuts
    // down, after the server has stopped.
    app.lifecycle.use(StoreLifecycle(cache))

    // Sessions live in the same store (keys "vapor-session:..."), so every instance sees them.
    app.sessions.use(.strata(cache, configuration: .init(lifetime: "1d")))
    app.middleware.use(app.sessions.middleware)

    app.get("report", ":id") { req async throws -> Response in
        let id = try req.parameters.require("id")
        // getOrSet runs the closure only on a miss, once in this process however many
        // requests wait for it (across instances too with a RedisComputeLock). The flag
        // says whether *this* request ran the query: "hit" also covers a request that
        // waited for another's computation.
        var computed = false
        let report = try await cache.getOrSet("report:\(id)", as: Report.self, expires: "1min") {
            computed = true
            return try await slowQuery(id: id)
        }
        let response = try await report.encodeResponse(for: req)
        response.headers.replaceOrAdd(name: "X-Cache", value: computed ? "miss" : "hit")
        return response
    }

    // A counter in the session: the cookie carries only the session's id.
    app.get("visits") { req -> String in
        let visits = (req.session.data["visits"].flatMap { Int($0) } ?? 0) + 1
        req.session.data["visits"] = String(visits)
        return "\(visits)\n"
    }
}

@main
enum Entrypoint {
    static func main() async throws {
        var env = try Environment.detect()
        try LoggingSystem.bootstrap(from: &env)
        let app = try await Application.make(env)
        app.http.server.configuration.port = Environment.get("PORT").flatMap { Int($0) } ?? 8080
        do {
            try configure(app)
            try await app.execute()  // serves until SIGINT or SIGTERM
        } catch {
            app.logger.report(error: error)
            try? await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()  // StoreLifecycle closes the store here
    }
}
