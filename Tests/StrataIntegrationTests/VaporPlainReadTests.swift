#if Vapor
import Foundation
import Strata
import StrataTesting
import StrataVapor
import Testing
import VaporTesting

/// Vapor's `req.cache` reads an entry as a plain read does (Docs/Consistency.md, R3).
@Suite("Vapor's req.cache reads as a plain read does")
struct VaporPlainReadTests {
    static func routes(_ app: Application) {
        app.get("profile", ":key") { req async throws -> String in
            let profile = try await req.cache.get(req.parameters.get("key")!, as: OptionsScene.Profile.self)
            return profile.map { "\($0.name) \($0.visits)" } ?? "(none)"
        }
        app.put("profile", ":key") { req async throws -> HTTPStatus in
            try await req.cache.set(req.parameters.get("key")!, to: OptionsScene.Profile(name: "Grace", visits: 1))
            return .ok
        }
        app.put("text", ":key") { req async throws -> HTTPStatus in
            try await req.cache.set(req.parameters.get("key")!, to: req.body.string ?? "")
            return .ok
        }
    }

    /// The status and body of `GET /profile/<key>`.
    static func profile(_ app: Application, _ key: String) async throws -> String {
        var answer = ""
        try await app.testing().test(.GET, "profile/\(key)") { answer = "\($0.status.code) \($0.body.string)" }
        return answer
    }

    @Test(
        "R3 through Vapor: req.cache.get of an entry written with options is its value within its lifetime, nothing in its grace or after its tag's invalidation; req.cache.set round-trips through store.get",
        .timeLimit(.minutes(1)), arguments: OptionsScene.backends)
    func vaporReadsAsAPlainRead(backend: String) async throws {
        try await OptionsScene.run(backend: backend) { scene in
            try await withApp { app in
                app.caches.use(.strata(scene.store))
                Self.routes(app)
                let short = try await Self.profile(app, "short")
                let tagged = try await Self.profile(app, "tagged")
                try scene.requireWithinLifetime()
                #expect(short == "200 Ada 3", "within its lifetime: 200 with the value, not the envelope's bytes")
                #expect(tagged == "200 Ada 3", "within its lifetime")

                try await scene.passShortLifetime()
                #expect(try await Self.profile(app, "short") == "200 (none)", "in its grace: nothing")
                #expect(try await scene.store.get("short", as: OptionsScene.Profile.self) == nil, "as store.get")
                try await scene.store.invalidate(tags: ["team"])
                #expect(try await Self.profile(app, "tagged") == "200 (none)", "after its tag's invalidation: nothing")

                try await app.testing().test(.PUT, "profile/written") { #expect($0.status == .ok) }
                #expect(
                    try await scene.store.get("written", as: OptionsScene.Profile.self) == OptionsScene.Profile(name: "Grace", visits: 1),
                    "req.cache.set, then store.get")
                try await app.testing().test(.PUT, "text/note", body: .init(string: "plain text")) { #expect($0.status == .ok) }
                #expect(try await scene.store.get("note", as: String.self) == "plain text", "a String round-trips too")
            }
        }
    }

    @Test("over a RedisStore alone, req.cache.get is one GET (no PTTL: it keeps only the value)", .timeLimit(.minutes(1)))
    func vaporGetReadsNoLifetime() async throws {
        let redis = try await IntegrationStores().redis()
        try await withApp { app in
            app.caches.use(.strata(redis))
            Self.routes(app)
            try await app.testing().test(.PUT, "profile/written") { #expect($0.status == .ok) }
            let before = redis.statistics.commands
            #expect(try await Self.profile(app, "written") == "200 Grace 1")
            #expect(try await Self.profile(app, "absent") == "200 (none)")
            #expect(redis.statistics.commands - before == 2, "GET per get, without PTTL")
        }
        _ = try await redis.clear()
        try await redis.close()
    }

    @Test("req.cache.set of bytes that begin as Strata's envelope does reads them back whole, through the cache and through store.get")
    func vaporBytesLikeAnEnvelope() async throws {
        let store = TieredStore(l1: MemoryStore(), l2: MemoryStore())
        // The envelope's magic, its version, an expiry and a time, no tags: what a read would parse.
        let header = EntryEnvelope.magic + [1, 0x7F] + [UInt8](repeating: 0xFF, count: 7) + [UInt8](repeating: 0, count: 10)
        let upload = Data(header + Array("tail".utf8))
        try await withApp { app in
            app.caches.use(.strata(store))
            try await app.cache.set("upload", to: upload)
            #expect(try await app.cache.get("upload", as: Data.self) == upload, "the whole bytes, not the tail")
        }
        #expect(try await store.get("upload", as: Data.self) == upload)
        #expect(try await store.l2.get("upload", as: [UInt8].self) == Array(upload), "as a plain set stores them")
        try await store.close()
    }
}
#endif
