#if Hummingbird
import Foundation
import Strata
import Hummingbird
import StrataHummingbird
import StrataTesting
import Testing

/// `StrataPersistDriver` reads an entry as a plain read does (Docs/Consistency.md, R3).
@Suite("StrataPersistDriver reads as a plain read does")
struct HummingbirdPlainReadTests {
    typealias Profile = OptionsScene.Profile

    @Test(
        "R3 through Hummingbird: StrataPersistDriver.get and getWithTTL of an entry written with options are its value and its lifetime, nothing in its grace or after its tag's invalidation; create over such an entry succeeds",
        .timeLimit(.minutes(1)), arguments: OptionsScene.backends)
    func persistDriverReadsAsAPlainRead(backend: String) async throws {
        try await OptionsScene.run(backend: backend) { scene in
            let persist = StrataPersistDriver(store: scene.store)
            let short = try await persist.get(key: "short", as: Profile.self)
            let shortTTL = try await persist.getWithTTL(key: "short", as: Profile.self)?.ttl
            let taggedTTL = try await persist.getWithTTL(key: "tagged", as: Profile.self)?.ttl
            var duplicate = false
            do {
                try await persist.create(key: "short", value: Profile(name: "other", visits: 0), expires: .seconds(60))
            } catch let error as PersistError where error == .duplicate {
                duplicate = true
            }
            try scene.requireWithinLifetime()
            #expect(short == OptionsScene.ada, "within its lifetime: the value, not invalidConversion")
            #expect(
                shortTTL.map { $0 > .zero && $0 <= scene.lifetime } == true,
                "the TTL is what is left of the lifetime, not of the lifetime and the grace: \(String(describing: shortTTL))")
            #expect(
                taggedTTL.map { $0 > .seconds(3_500) && $0 <= .seconds(3_600) } == true,
                "an hour, not two: \(String(describing: taggedTTL))")
            #expect(duplicate, "a live entry makes create a duplicate")

            try await scene.passShortLifetime()
            #expect(try await persist.get(key: "short", as: Profile.self) == nil, "in its grace: nothing")
            #expect(try await persist.getWithTTL(key: "short", as: Profile.self) == nil, "getWithTTL in its grace: nothing")
            try await scene.store.invalidate(tags: ["team"])
            #expect(try await persist.get(key: "tagged", as: Profile.self) == nil, "after its tag's invalidation: nothing")

            let created = Profile(name: "created", visits: 1)
            try await persist.create(key: "short", value: created, expires: .seconds(60))  // not a duplicate
            #expect(try await persist.get(key: "short", as: Profile.self) == created, "create over an entry in its grace")
            try await persist.create(key: "tagged", value: created, expires: .seconds(60))
            #expect(try await persist.get(key: "tagged", as: Profile.self) == created, "create over an invalidated entry")
        }
    }

    @Test(
        "over a RedisStore alone, StrataPersistDriver.get is one GET (no PTTL, since it returns no lifetime) and getWithTTL two (GET and PTTL)",
        .timeLimit(.minutes(1)))
    func persistDriverGetReadsNoLifetime() async throws {
        let redis = try await IntegrationStores().redis()
        let persist = StrataPersistDriver(store: redis)
        try await persist.set(key: "profile", value: OptionsScene.ada, expires: .seconds(60))
        let before = redis.statistics.commands
        #expect(try await persist.get(key: "profile", as: Profile.self) == OptionsScene.ada)
        #expect(try await persist.get(key: "absent", as: Profile.self) == nil)
        #expect(redis.statistics.commands - before == 2, "GET per get, without PTTL")
        let ttl = try await persist.getWithTTL(key: "profile", as: Profile.self)?.ttl
        #expect(ttl.map { $0 > .zero && $0 <= .seconds(60) } == true, "\(String(describing: ttl))")
        #expect(redis.statistics.commands - before == 4, "getWithTTL reads the lifetime: GET and PTTL")
        _ = try await redis.clear()
        try await redis.close()
    }

    @Test("StrataPersistDriver reads and writes values with the store's coder and compression, and reads a value the store wrote")
    func persistDriverUsesTheStoresFormat() async throws {
        var configuration = MemoryStore.Configuration()
        configuration.valueCoder = .binary
        configuration.compression = .zlib(above: 1)
        let store = MemoryStore(configuration: configuration)
        let persist = StrataPersistDriver(store: store)
        let long = Profile(name: String(repeating: "a long name that compresses ", count: 20), visits: 3)
        try await store.set("written-by-the-store", long)
        #expect(try await persist.get(key: "written-by-the-store", as: Profile.self) == long, "a compressed binary value")
        #expect(try await persist.getWithTTL(key: "written-by-the-store", as: Profile.self)?.object == long)
        try await persist.set(key: "session", value: long, expires: .seconds(60))
        let bytes = try #require(try await store.entry(forKey: "session")?.bytes)
        #expect(bytes.starts(with: [0x00, 0x53, 0x54, 0x52, 0x5A]), "compressed, as the store's own writes are")
        #expect(try await store.get("session", as: Profile.self) == long)
        #expect(try await persist.get(key: "session", as: Profile.self) == long)
        // Text stays JSON, as the driver always wrote it.
        try await persist.set(key: "token", value: "abc", expires: nil)
        #expect(try await store.entry(forKey: "token")?.bytes == Array("\"abc\"".utf8))
        #expect(try await persist.get(key: "token", as: String.self) == "abc")
        // A compressed value that does not expand is a miss, not an error.
        let damaged: [UInt8] = [0x00, 0x53, 0x54, 0x52, 0x5A, 1, 0, 0, 0, 40] + [UInt8](repeating: 0xEE, count: 20)
        try await store.setEntry(StoredEntry(bytes: damaged), forKey: "damaged")
        #expect(try await persist.get(key: "damaged", as: Profile.self) == nil)
        await store.close()
    }
}
#endif
