#if Hummingbird
import Foundation
import Hummingbird
import HummingbirdAuth
import HummingbirdTesting
import StrataHummingbird
import StrataRedis
import StrataSQLite
import StrataTesting
import Testing

/// Strata's `PersistDriver` held to what Hummingbird's own `MemoryPersistDriver` does,
/// over memory, SQLite and Redis, inside a real Hummingbird application.
@Suite("Hummingbird")
struct HummingbirdIntegrationTests {
    static let backends = ["memory", "sqlite", "redis"]

    /// A driver over a fresh store of the backend; its clock, when the backend has one of ours.
    static func driver(_ backend: String, stores: IntegrationStores = IntegrationStores()) async throws -> StrataPersistDriver {
        switch backend {
        case "memory": StrataPersistDriver(store: MemoryStore())
        case "sqlite": StrataPersistDriver(store: try stores.tieredOverSQLite())
        default: StrataPersistDriver(store: try await stores.redis())
        }
    }

    /// Routes over the driver: PUT stores the body (with `?seconds=` a lifetime), GET reads it.
    static func router(_ persist: StrataPersistDriver) -> Router<BasicRequestContext> {
        let router = Router()
        router.put("/values/:key") { request, context -> HTTPResponse.Status in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            let key = try context.parameters.require("key")
            let seconds = request.uri.queryParameters.get("seconds", as: Int.self)
            try await persist.set(key: key, value: body, expires: seconds.map { .seconds($0) })
            return .ok
        }
        router.post("/values/:key") { request, context -> HTTPResponse.Status in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            do {
                try await persist.create(key: try context.parameters.require("key"), value: body, expires: nil)
            } catch let error as PersistError where error == .duplicate {
                return .conflict
            }
            return .created
        }
        router.get("/values/:key") { _, context -> String in
            try await persist.get(key: try context.parameters.require("key"), as: String.self) ?? "(none)"
        }
        router.get("/values/:key/ttl") { _, context -> String in
            let ttl = try await persist.getWithTTL(key: try context.parameters.require("key"), as: String.self)?.ttl
            return ttl.map { String($0.components.seconds) } ?? "(none)"
        }
        router.delete("/values/:key") { _, context -> HTTPResponse.Status in
            try await persist.remove(key: try context.parameters.require("key"))
            return .noContent
        }
        return router
    }

    @Test("set, get, set twice, remove, create and its duplicate, TTL, through a real application", arguments: backends)
    func throughAnApplication(backend: String) async throws {
        let persist = try await Self.driver(backend)
        let app = Application(router: Self.router(persist), services: [persist])
        try await app.test(.router) { client in
            try await client.execute(uri: "/values/a", method: .put, body: ByteBuffer(string: "first")) { #expect($0.status == .ok) }
            try await client.execute(uri: "/values/a", method: .put, body: ByteBuffer(string: "second")) { #expect($0.status == .ok) }
            try await client.execute(uri: "/values/a", method: .get) { #expect(String(buffer: $0.body) == "second") }
            try await client.execute(uri: "/values/a", method: .delete) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/values/a", method: .get) { #expect(String(buffer: $0.body) == "(none)") }

            try await client.execute(uri: "/values/c", method: .post, body: ByteBuffer(string: "one")) { #expect($0.status == .created) }
            try await client.execute(uri: "/values/c", method: .post, body: ByteBuffer(string: "two")) { #expect($0.status == .conflict) }
            try await client.execute(uri: "/values/c", method: .get) { #expect(String(buffer: $0.body) == "one", "the first value stays") }

            let written = ContinuousClock.now
            try await client.execute(uri: "/values/t?seconds=10", method: .put, body: ByteBuffer(string: "timed")) { _ in }
            try await client.execute(uri: "/values/t/ttl", method: .get) { response in
                let seconds = try #require(Int(String(buffer: response.body)))
                // The lifetime left, less the time the two requests took (a loaded CI machine
                // once took more than 2 s), rounded down to whole seconds.
                let taken = Int((ContinuousClock.now - written).components.seconds)
                #expect(seconds <= 10 && seconds >= 9 - taken, "the real time left: \(seconds) after \(taken) s")
            }
            try await client.execute(uri: "/values/c/ttl", method: .get) { #expect(String(buffer: $0.body) == "(none)") }
        }
        try await persist.store.clear()
    }

    @Test(
        "lifetimes: .zero and negative are already expired (never a trap); set(expires: nil) keeps the lifetime; re-adding after expiry works",
        arguments: backends)
    func lifetimes(backend: String) async throws {
        let persist = try await Self.driver(backend)
        try await persist.set(key: "zero", value: "gone", expires: .zero)
        try await persist.set(key: "negative", value: "gone", expires: .seconds(-5))
        #expect(try await persist.get(key: "zero", as: String.self) == nil)
        #expect(try await persist.get(key: "negative", as: String.self) == nil)
        try await persist.create(key: "zero", value: "created expired", expires: .zero)
        #expect(try await persist.get(key: "zero", as: String.self) == nil)
        try await persist.set(key: "zero", value: "back", expires: .seconds(10))
        #expect(try await persist.get(key: "zero", as: String.self) == "back")

        try await persist.set(key: "kept", value: "v1", expires: .seconds(100))
        try await persist.set(key: "kept", value: "v2", expires: nil)
        let (value, ttl) = try #require(try await persist.getWithTTL(key: "kept", as: String.self))
        #expect(value == "v2")
        #expect(
            ttl.map { $0 > .seconds(90) && $0 <= .seconds(100) } == true, "set(expires: nil) kept the lifetime: \(String(describing: ttl))")
        try await persist.set(key: "forever", value: 1, expires: nil)
        #expect(try await persist.getWithTTL(key: "forever", as: Int.self)?.ttl == nil)
        try await persist.set(key: "tiny", value: 1, expires: .nanoseconds(1))
        try await persist.set(key: "huge", value: 1, expires: .seconds(Int64.max))
        #expect(try await persist.get(key: "huge", as: Int.self) == 1)
        try await persist.store.clear()
    }

    @Test("values are JSON: reading as the wrong type throws invalidConversion; Codable values round-trip", arguments: backends)
    func types(backend: String) async throws {
        struct Job: Codable, Sendable, Equatable { var id: Int; var name: String }
        let persist = try await Self.driver(backend)
        try await persist.set(key: "job", value: Job(id: 1, name: "index"), expires: nil)
        #expect(try await persist.get(key: "job", as: Job.self) == Job(id: 1, name: "index"))
        await #expect(throws: PersistError.invalidConversion) { try await persist.get(key: "job", as: String.self) }
        try await persist.set(key: "text", value: "plain", expires: nil)
        await #expect(throws: PersistError.invalidConversion) { try await persist.get(key: "text", as: Job.self) }
        await #expect(throws: PersistError.invalidConversion) { try await persist.get(key: "text", as: Int.self) }
        #expect(try await persist.get(key: "text", as: String.self) == "plain")
        try await persist.store.clear()
    }

    @Test("concurrent creates of one key: exactly one wins, the others get duplicate", arguments: backends)
    func oneWinner(backend: String) async throws {
        let persist = try await Self.driver(backend)
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<16 {
                group.addTask {
                    do {
                        try await persist.create(key: "race", value: index, expires: .seconds(60))
                        return true
                    } catch let error as PersistError where error == .duplicate {
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        try await persist.store.clear()
    }

    @Test(
        "hummingbird-auth sessions over the driver: a session created, read back on the next request, unknown cookies rejected",
        arguments: backends)
    func sessions(backend: String) async throws {
        struct User: Sendable { var name: String }
        struct Users: UserSessionRepository {
            func getUser(from id: String, context: UserRepositoryContext) async throws -> User? { User(name: id) }
        }
        let persist = try await Self.driver(backend)
        let router = Router(context: BasicSessionRequestContext<String, User>.self)
        router.addMiddleware { SessionMiddleware(storage: persist) }
        router.post("login") { _, context -> HTTPResponse.Status in
            context.sessions.createSession("ada")
            return .ok
        }
        router.group().add(middleware: SessionAuthenticator(users: Users())).get("me") { _, context -> String in
            context.identity?.name ?? "anonymous"
        }
        let app = Application(router: router)
        try await app.test(.router) { client in
            let cookie = try await client.execute(uri: "/login", method: .post) { response in
                #expect(response.status == .ok)
                return response.headers[.setCookie]
            }
            let sessionCookie = try #require(cookie)
            try await client.execute(uri: "/me", method: .get, headers: [.cookie: sessionCookie]) {
                #expect(String(buffer: $0.body) == "ada")
            }
            try await client.execute(uri: "/me", method: .get, headers: [.cookie: "SESSION_ID=forged"]) {
                #expect($0.status == .unauthorized || String(buffer: $0.body) == "anonymous")
            }
        }
        #expect(try await persist.store.keys(prefix: "hbs.").count == 1, "the session is an entry of the store")
        try await persist.store.clear()
    }
}
#endif
