// Strata with Hummingbird: a slow query cached in a TieredStore over Redis, sessions
// kept in the same store, and the store's background work run as a service of the app.
//
//   REDIS_URL=redis://127.0.0.1:6379 PORT=8080 swift run
//   curl -i localhost:8080/report/42     # X-Cache: miss, after ~200 ms
//   curl -i localhost:8080/report/42     # X-Cache: hit, at once
import Foundation
import Hummingbird
import HummingbirdAuth
import Strata
import StrataHummingbird
import StrataRedis

/// What the slow query returns. `computedAt` shows when it really ran.
struct Report: ResponseCodable {
    var id: String
    var total: Int
    var computedAt: Date
}

/// Stands in for an expensive database query.
func slowQuery(id: String) async throws -> Report {
    try await Task.sleep(for: .milliseconds(200))
    return Report(id: id, total: id.utf8.reduce(0) { $0 &+ Int($1) }, computedAt: Date())
}

/// Each request's context carries its session (here, a visit count) and no login.
typealias AppContext = BasicSessionRequestContext<Int, Never>

@main
struct HummingbirdQuickStart {
    static func main() async throws {
        let env = Environment()  // the process's environment variables
        let redisURL = env.get("REDIS_URL") ?? "redis://127.0.0.1:6379"
        let port = env.get("PORT", as: Int.self) ?? 8080
        let redis = try RedisStore(url: redisURL)
        // L1 in this process, L2 in Redis. The bus tells other instances of the app to drop
        // their L1 copy of a key this one changes, so every instance reads the newest value.
        let cache = TieredStore(
            l1: MemoryStore(maxEntries: 10_000), l2: redis,
            configuration: .init(defaultExpiry: "10min", invalidationPublisher: RedisInvalidationBus(redis: redis)))

        let router = Router(context: AppContext.self)
        // Sessions live in the same store (keys "hbs.<id>"), so every instance sees them.
        router.addMiddleware { SessionMiddleware(storage: StrataPersistDriver(store: cache)) }

        router.get("report/:id") { _, context -> EditedResponse<Report> in
            let id = try context.parameters.require("id")
            // getOrSet runs the closure only on a miss, once in this process however many
            // requests wait for it (across instances too with a RedisComputeLock). The flag
            // says whether *this* request ran the query: "hit" also covers a request that
            // waited for another's computation.
            var computed = false
            let report = try await cache.getOrSet("report:\(id)", as: Report.self, expires: "1min") {
                computed = true
                return try await slowQuery(id: id)
            }
            return EditedResponse(headers: [.init("X-Cache")!: computed ? "miss" : "hit"], response: report)
        }

        // A counter in the session: the cookie carries only the session's id.
        router.get("visits") { _, context -> String in
            let visits = (context.sessions.session ?? 0) + 1
            if !context.sessions.updateSession(visits) { context.sessions.createSession(visits) }
            return "\(visits)\n"
        }

        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            // StoreService runs the store's background work (L1's sweeper, the bus's
            // subscription) and closes the store on shutdown. The app stops its services in
            // reverse order, the server first, so the store outlives every request.
            services: [StoreService(cache)])
        app.logger.notice("Redis at \(redisURL) (set REDIS_URL to change it)")
        try await app.runService()  // serves until SIGINT or SIGTERM, then shuts down gracefully
    }
}
