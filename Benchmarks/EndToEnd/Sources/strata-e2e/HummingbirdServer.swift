import Hummingbird
import Logging
import ServiceLifecycle
import Strata

/// The application on Hummingbird: `GET /item/{id}` answers the row of `id`, `GET /stats`
/// the queries run.
enum HummingbirdServer {
    static func run(_ options: Options) async throws {
        let origin = Origin(latency: options.latency)
        let router = Router()
        var services: [any Service] = []
        switch options.cache {
        case .none:
            router.get("item/{id}") { _, context in
                try respond(try await origin.row(try context.parameters.require("id", as: Int.self)))
            }
        case .framework:
            // What a Hummingbird application does with its own store: get, and on a miss
            // query and set (no single flight: concurrent misses each query).
            let persist = MemoryPersistDriver()
            services.append(persist)
            router.get("item/{id}") { _, context in
                let id = try context.parameters.require("id", as: Int.self)
                if let row = try await persist.get(key: "item:\(id)", as: Row.self) {
                    return try respond(row)
                }
                let row = try await origin.row(id)
                try await persist.set(key: "item:\(id)", value: row, expires: .seconds(600))
                return try respond(row)
            }
        case .strata:
            let rows = try StrataRows(redisURL: options.redis, computeLock: options.computeLock, origin: origin)
            // The store's background work: the bus's subscription among it.
            services.append(rows.cache)
            router.get("item/{id}") { _, context in
                try respond(try await rows.row(try context.parameters.require("id", as: Int.self)))
            }
        }
        router.get("stats") { _, _ in
            Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(bytes: statsBody(origin))))
        }
        var logger = Logger(label: "strata-e2e")
        logger.logLevel = .warning
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: options.port)),
            services: services,
            logger: logger
        )
        try await app.runService()
    }

    static func respond(_ row: Row) throws -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try body(of: row)))
        )
    }
}
