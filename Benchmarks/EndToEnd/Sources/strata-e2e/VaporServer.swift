import Strata
import StrataVapor
import Vapor

/// The application on Vapor: `GET /item/:id` answers the row of `id`, `GET /stats` the
/// queries run.
enum VaporServer {
    static func run(_ options: Options) async throws {
        let origin = Origin(latency: options.latency)
        // `serve` with no arguments of ours: the options are already read.
        let app = try await Application.make(Environment(name: "production", arguments: ["strata-e2e"]))
        app.logger.logLevel = .warning
        // No request log: the benchmark measures serving, not writing a line per request.
        app.middleware = Middlewares()
        app.middleware.use(ErrorMiddleware.default(environment: app.environment))
        app.http.server.configuration.hostname = "127.0.0.1"
        app.http.server.configuration.port = options.port
        switch options.cache {
        case .none:
            app.get("item", ":id") { request async throws -> Response in
                try respond(try await origin.row(try id(of: request)))
            }
        case .framework:
            // What a Vapor application does with its own cache: get, and on a miss query
            // and set (no single flight: concurrent misses each query).
            app.caches.use(.memory)
            app.get("item", ":id") { request async throws -> Response in
                let id = try id(of: request)
                if let row = try await request.cache.get("item:\(id)", as: Row.self) {
                    return try respond(row)
                }
                let row = try await origin.row(id)
                try await request.cache.set("item:\(id)", to: row, expiresIn: .minutes(10))
                return try respond(row)
            }
        case .strata:
            let rows = try StrataRows(redisURL: options.redis, computeLock: options.computeLock, origin: origin)
            // The store's background work (the bus's subscription among it), and its closing.
            app.lifecycle.use(StoreLifecycle(rows.cache))
            app.get("item", ":id") { request async throws -> Response in
                try respond(try await rows.row(try id(of: request)))
            }
        }
        app.get("stats") { _ async -> Response in
            Response(status: .ok, body: .init(buffer: ByteBuffer(bytes: statsBody(origin))))
        }
        try await app.execute()
        try await app.asyncShutdown()
    }

    static func id(of request: Request) throws -> Int {
        guard let id = request.parameters.get("id", as: Int.self) else { throw Abort(.badRequest) }
        return id
    }

    static func respond(_ row: Row) throws -> Response {
        Response(
            status: .ok,
            headers: ["Content-Type": "application/json"],
            body: .init(buffer: ByteBuffer(bytes: try body(of: row)))
        )
    }
}
