import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Synchronization
import Testing

/// A real redis-server that refuses writes (out of memory, a replica, an ACL, a failing
/// snapshot, a busy script): every write path must throw, never report success, and
/// reads must keep working where the server allows them.
@Suite("Redis refusals")
struct RedisRefusalTests {
    /// One store, bus and lock on a server, with entries for each write path to act on.
    struct Fixture {
        let server: RedisTestServer
        let store: RedisStore
        let bus: RedisInvalidationBus
        let lock: RedisComputeLock
        let heldToken: String

        /// `url` is what the store under test logs in with; the entries are written over
        /// the server's unix socket with full rights first.
        init(_ server: RedisTestServer, url: String? = nil) async throws {
            self.server = server
            let admin = try RedisStore(url: server.unixURL)
            try await admin.set("keep:1", "kept")
            try await admin.set("expire:me", "x")
            try await admin.set("delete:me", "x")
            try await admin.set("clear:me:a", "x")
            try await admin.set("clear:me:b", "x")
            heldToken = try #require(try await RedisComputeLock(redis: admin).acquire("held", lease: .seconds(60)))
            try await admin.close()
            store = try RedisStore(url: url ?? server.unixURL)
            bus = RedisInvalidationBus(redis: store)
            lock = RedisComputeLock(redis: store)
        }

        /// Every way the package writes to Redis, by name.
        var writePaths: [(name: String, run: @Sendable () async throws -> Void)] {
            let (store, bus, lock, token) = (store, bus, lock, heldToken)
            let value = [UInt8](repeating: 7, count: 1_024)
            return [
                ("set", { try await store.set("written:plain", value) }),
                ("set with lifetime", { try await store.set("written:ttl", value, expires: "1h") }),
                ("setIfAbsent", { _ = try await store.setIfAbsent("written:nx", value, expires: "1h") }),
                ("increment", { _ = try await store.increment("written:count", by: 1, expires: "1h") }),
                ("expire", { try Self.check(try await store.expire("expire:me", "1h"), "expire found its key") }),
                ("delete", { try Self.check(try await store.delete("delete:me"), "delete found its key") }),
                ("clear(prefix:)", { try Self.check(try await store.clear(prefix: "clear:me:") == 2, "clear removed 2 keys") }),
                ("bus publish", { _ = try await bus.announce(.key("keep:1")) }),
                ("lock acquire", { _ = try await lock.acquire("written:lock", lease: .seconds(5)) }),
                ("lock release", { try await lock.release("held", token: token) }),
            ]
        }

        /// Throws unless a write path that succeeded did what it says.
        static func check(_ condition: Bool, _ what: String) throws {
            if !condition { throw TestServerError(message: "not as expected: \(what)") }
        }

        /// Runs every write path; the error each threw, or `nil` when it succeeded.
        func attemptWrites() async -> [String: StrataError?] {
            var outcomes: [String: StrataError?] = [:]
            for path in writePaths {
                do {
                    try await path.run()
                    outcomes[path.name] = .some(nil)
                } catch let error as StrataError {
                    outcomes[path.name] = error
                } catch {
                    Issue.record("\(path.name) threw \(error), not a StrataError")
                }
            }
            return outcomes
        }

        /// Reads answer from what the server holds.
        func expectReadsWork(_ comment: Comment? = nil) async throws {
            #expect(try await store.get("keep:1", as: String.self) == "kept", comment)
            #expect(try await store.has("keep:1"), comment)
            #expect(try await store.keys(prefix: "keep:") == ["keep:1"], comment)
            #expect(try await store.entries(prefix: "keep:", as: String.self).map(\.value) == ["kept"], comment)
        }

        /// Nothing the refused writes sent is stored.
        func expectNothingWritten() async throws {
            for key in ["written:plain", "written:ttl", "written:nx", "written:count"] {
                #expect(try await server.cli("EXISTS", key).hasPrefix("0"), "\(key) was not stored")
            }
        }
    }

    /// Checks that every write path except `allowed` threw `code`, with the server's
    /// `word` in its description and the key named; and that the `allowed` ones succeeded.
    static func expectRefused(
        _ outcomes: [String: StrataError?], code: StrataError.Code, word: String, allowed: Set<String> = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(outcomes.count == 10, sourceLocation: sourceLocation)
        for (name, outcome) in outcomes.sorted(by: { $0.key < $1.key }) {
            if allowed.contains(name) {
                #expect(outcome == nil, "the server allows \(name): \(String(describing: outcome))", sourceLocation: sourceLocation)
                continue
            }
            guard let error = outcome else {
                Issue.record("\(name) reported success although the server refused it", sourceLocation: sourceLocation)
                continue
            }
            #expect(error.code == code, "\(name): \(error)", sourceLocation: sourceLocation)
            #expect(error.description.contains(word), "\(name): \(error)", sourceLocation: sourceLocation)
            #expect(error.description.contains("RedisStore"), "\(name) names the backend: \(error)", sourceLocation: sourceLocation)
            #expect((error.underlying as? RedisServerError)?.kind == word, "\(name): \(error)", sourceLocation: sourceLocation)
            if name != "bus publish" && name != "clear(prefix:)" {
                #expect(error.key != nil, "\(name) names its key: \(error)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test("OOM (maxmemory, noeviction): writes that need memory throw storageFull; deletes, expire, publish and reads work")
    func outOfMemory() async throws {
        let server = try await RedisTestServer(extraArguments: ["--maxmemory-policy", "noeviction"])
        let fixture = try await Fixture(server)
        try await server.cli("CONFIG", "SET", "maxmemory", "1")
        let outcomes = await fixture.attemptWrites()
        Self.expectRefused(
            outcomes, code: .storageFull, word: "OOM",
            allowed: ["expire", "delete", "clear(prefix:)", "bus publish", "lock release"])
        try await fixture.expectNothingWritten()
        try await fixture.expectReadsWork()
        #expect(try await server.cli("EXISTS", "delete:me").hasPrefix("0"), "the allowed delete was done")
        #expect(try await server.cli("EXISTS", "strata:lock:held").hasPrefix("0"), "the allowed release was done")

        try await server.cli("CONFIG", "SET", "maxmemory", "0")
        try await fixture.store.set("written:plain", "now")
        #expect(try await fixture.store.get("written:plain", as: String.self) == "now", "writes work once memory is there")
    }

    @Test("the reported case: 64 KiB values into a 3 MB noeviction server; every acknowledged write is readable")
    func acknowledgedMeansStored() async throws {
        let server = try await RedisTestServer(extraArguments: ["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"])
        let store = try RedisStore(url: server.unixURL)
        let value = [UInt8](repeating: 42, count: 64 << 10)
        var acknowledged: [String] = []
        var refusals: [StrataError] = []
        for index in 0..<200 {
            do {
                try await store.set("big:\(index)", value)
                acknowledged.append("big:\(index)")
            } catch let error as StrataError {
                refusals.append(error)
            }
        }
        #expect(!refusals.isEmpty, "3 MB cannot hold 200 values of 64 KiB")
        #expect(refusals.allSatisfy { $0.code == .storageFull }, "\(refusals.first.map(String.init(describing:)) ?? "")")
        #expect(refusals.first?.key?.hasPrefix("big:") == true)
        for key in acknowledged {
            #expect(try await store.get(key, as: [UInt8].self) == value, "\(key) was acknowledged, so it is stored")
        }
    }

    @Test("READONLY (the server became a replica): every write throws backendUnavailable; reads and publish work")
    func readOnlyReplica() async throws {
        let server = try await RedisTestServer()
        let fixture = try await Fixture(server)
        // A replica of a primary that does not exist: it keeps its data and refuses writes.
        try await server.cli("REPLICAOF", "127.0.0.1", String(try RedisTestServer.freePort()))
        let outcomes = await fixture.attemptWrites()
        Self.expectRefused(outcomes, code: .backendUnavailable, word: "READONLY", allowed: ["bus publish"])
        try await fixture.expectNothingWritten()
        try await fixture.expectReadsWork()
        #expect(try await server.cli("EXISTS", "delete:me").hasPrefix("1"), "the refused delete left the key")

        try await server.cli("REPLICAOF", "NO", "ONE")
        #expect(try await fixture.store.delete("delete:me"), "writes work once it is a primary again")
    }

    @Test("NOPERM (an ACL user without write commands): every write throws accessDenied; reads work")
    func aclWithoutWrites() async throws {
        let server = try await RedisTestServer()
        try await server.cli("ACL", "SETUSER", "reader", "on", ">reader pw", "~*", "&*", "+@all", "-@write", "-publish")
        let fixture = try await Fixture(server, url: "redis://reader:reader%20pw@127.0.0.1:\(server.port)")
        let outcomes = await fixture.attemptWrites()
        // A script's refused call is reported as ERR by the server, with the same meaning.
        for (name, outcome) in outcomes where name != "increment" && name != "lock release" {
            #expect(
                outcome?.code == .accessDenied && outcome?.description.contains("NOPERM") == true,
                "\(name): \(String(describing: outcome))")
        }
        for name in ["increment", "lock release"] {
            #expect(outcomes[name]??.code == .accessDenied, "\(name): \(String(describing: outcomes[name]))")
        }
        try await fixture.expectNothingWritten()
        try await fixture.expectReadsWork()

        // The tiered store's announcements go out without waiting: a refused one is counted and kept.
        await fixture.bus.publish(.key("keep:1"))
        #expect(try await eventually { fixture.bus.failedPublishes == 1 }, "the refused PUBLISH was counted")
        #expect(fixture.bus.lastPublishError?.code == .accessDenied)
    }

    @Test("credentials revoked under a running store (ACL DELUSER): calls throw, then accessDenied on reconnect")
    func revokedCredentials() async throws {
        let server = try await RedisTestServer()
        try await server.cli("ACL", "SETUSER", "app", "on", ">app pw", "~*", "&*", "+@all")
        let store = try RedisStore(url: "redis://app:app%20pw@127.0.0.1:\(server.port)")
        try await store.set("k", "v")
        try await server.cli("ACL", "DELUSER", "app")  // also disconnects the user's connections
        var codes: [StrataError.Code] = []
        for _ in 0..<3 {
            do {
                try await store.set("k", "w")
                Issue.record("a write by a deleted user reported success")
            } catch let error as StrataError {
                codes.append(error.code)
            }
        }
        #expect(codes.last == .accessDenied, "\(codes)")
        #expect(codes.allSatisfy { $0 == .accessDenied || $0 == .backendUnavailable }, "\(codes)")
        #expect(try await server.cli("GET", "k").hasPrefix("v"))
    }

    @Test("MISCONF (snapshots failing): every write throws backendUnavailable; reads and publish work")
    func failingSnapshots() async throws {
        let server = try await RedisTestServer(extraArguments: ["--save", "3600 1", "--enable-protected-configs", "yes"])
        let fixture = try await Fixture(server)
        // Snapshot into a directory that is then removed: the save fails, and Redis stops writes.
        let doomed = server.directory + "/snapshots"
        try FileManager.default.createDirectory(atPath: doomed, withIntermediateDirectories: true)
        try await server.cli("CONFIG", "SET", "dir", doomed)
        try FileManager.default.removeItem(atPath: doomed)
        try await server.cli("BGSAVE")
        try #require(
            await eventually { try await server.cli("INFO", "persistence").contains("rdb_last_bgsave_status:err") },
            "the snapshot failed")
        let outcomes = await fixture.attemptWrites()
        Self.expectRefused(outcomes, code: .backendUnavailable, word: "MISCONF", allowed: ["bus publish"])
        try await fixture.expectNothingWritten()
        try await fixture.expectReadsWork()
    }

    @Test(
        "BUSY (a script runs too long): calls throw backendUnavailable naming BUSY, and work after SCRIPT KILL",
        .timeLimit(.minutes(1)))
    func busyScript() async throws {
        let server = try await RedisTestServer(extraArguments: ["--busy-reply-threshold", "50"])
        let fixture = try await Fixture(server)
        let script = try ChildProcess(
            try RedisTestServer.executable("redis-cli"), ["-s", server.socket, "EVAL", "while true do end", "0"],
            output: .discarded, errors: .discarded)
        defer { script.send(SIGTERM) }
        // Wait until the server answers BUSY.
        try #require(
            await eventually { (try? await server.cli("PING"))?.hasPrefix("BUSY") == true },
            "the script did not make the server busy")
        let outcomes = await fixture.attemptWrites()
        Self.expectRefused(outcomes, code: .backendUnavailable, word: "BUSY")
        let read = await #expect(throws: StrataError(code: .backendUnavailable, message: "")) {
            try await fixture.store.get("keep:1", as: String.self)
        }
        #expect(read?.description.contains("BUSY") == true, "a read the server refuses is an error, not a miss")

        try await server.cli("SCRIPT", "KILL")
        try await script.exited()
        try await fixture.expectNothingWritten()
        try await fixture.expectReadsWork("after SCRIPT KILL")
        #expect(try await fixture.store.delete("delete:me"))
    }

    @Test("TieredStore over a refusing Redis: the write throws and L1 holds no new value")
    func tieredOverRefusingRedis() async throws {
        let server = try await RedisTestServer(extraArguments: ["--maxmemory-policy", "noeviction"])
        let redis = try RedisStore(url: server.unixURL)
        let cache = TieredStore(l1: MemoryStore(), l2: redis)
        try await cache.set("old", "first")
        try await server.cli("CONFIG", "SET", "maxmemory", "1")

        await #expect(throws: StrataError(code: .storageFull, message: "")) { try await cache.set("new", "refused") }
        #expect(try await cache.l1.get("new", as: String.self) == nil, "L1 did not keep what L2 refused")
        #expect(try await cache.get("new", as: String.self) == nil)

        await #expect(throws: StrataError(code: .storageFull, message: "")) { try await cache.set("old", "second") }
        #expect(try await cache.get("old", as: String.self) == "first", "both tiers agree on what L2 holds")
        // getOrSet answers with what it computed (caching is not what the caller asked for),
        // and reports that L2 refused to keep it.
        let errorsBefore = cache.statistics.l2Errors
        #expect(try await cache.getOrSet("computed", as: String.self) { "value" } == "value")
        #expect(cache.statistics.l2Errors == errorsBefore + 1)
    }

    @Test("the bus: a refused SUBSCRIBE is no subscription; it subscribes once the ACL allows it", .timeLimit(.minutes(1)))
    func refusedSubscription() async throws {
        let server = try await RedisTestServer()
        try await server.cli("ACL", "SETUSER", "app", "on", ">app pw", "~*", "resetchannels", "+@all")
        let redis = try RedisStore(url: "redis://app:app%20pw@127.0.0.1:\(server.port)")
        let bus = RedisInvalidationBus(redis: redis)
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: .init(invalidationPublisher: bus))
        let listening = Task { try await bus.run(delivering: cache) }
        defer { listening.cancel() }
        #expect(try await eventually { bus.lastSubscribeError != nil }, "the subscription was refused")
        #expect(bus.lastSubscribeError?.code == .accessDenied, "\(String(describing: bus.lastSubscribeError))")
        #expect(!bus.isSubscribed)

        try await server.cli("ACL", "SETUSER", "app", "allchannels")
        #expect(try await eventually { bus.isSubscribed }, "subscribed once the channels were allowed")
        #expect(try await server.cli("PUBSUB", "NUMSUB", bus.channel).contains("1"))
        listening.cancel()
        try await listening.value
        #expect(!bus.isSubscribed, "cancelled")
    }
}
