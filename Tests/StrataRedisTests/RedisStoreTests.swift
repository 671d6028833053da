import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Synchronization
import Testing

@Suite("RedisStore")
struct RedisStoreTests {
    @Test("URLs: TCP, unix sockets, credentials, databases; malformed ones name the URL without its password")
    func urls() throws {
        let full = try RedisEndpoint(url: "redis://alice:s3cr%40t@cache.local:6380/2")
        #expect(full.address == .tcp(host: "cache.local", port: 6380))
        #expect(full.user == "alice" && full.password == "s3cr@t" && full.database == 2)
        #expect(full.description == "redis://alice:***@cache.local:6380/2")
        #expect(try RedisEndpoint(url: "redis://:pw@127.0.0.1").user == nil)
        #expect(try RedisEndpoint(url: "redis://127.0.0.1").address == .tcp(host: "127.0.0.1", port: 6379))
        #expect(try RedisEndpoint(url: "redis://[::1]:7000/1").address == .tcp(host: "::1", port: 7000))
        let unix = try RedisEndpoint(url: "redis+unix:///run/redis/redis.sock?db=3")
        #expect(unix.address == .unix(path: "/run/redis/redis.sock") && unix.database == 3)
        for bad in [
            "http://127.0.0.1", "redis://", "redis://host:notaport", "redis://host:99999", "redis://:hunter2@host/x",
            "redis+unix://relative.sock", "redis+unix:///s.sock?db=x",
        ] {
            let error = #expect(throws: StrataError(code: .invalidConfiguration, message: "")) { try RedisEndpoint(url: bad) }
            #expect(error?.description.contains("hunter2") == false, "\(bad)")
            #expect(error?.description.contains("invalid Redis URL") == true)
        }
    }

    @Test("an unreachable server is backendUnavailable naming host and port, within the connect timeout")
    func unreachable() throws {
        let port = try RedisTestServer.freePort()
        let error = #expect(throws: StrataError(code: .backendUnavailable, message: "")) {
            try RedisStore(url: "redis://127.0.0.1:\(port)")
        }
        #expect(error?.description.contains("127.0.0.1:\(port)") == true)

        // A server that accepts the connection and then never answers: the login times out.
        let listener = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(listener, $0, length)
                _ = listen(listener, 8)
                _ = getsockname(listener, $0, &length)
            }
        }
        var configuration = RedisStore.Configuration(
            endpoint: try RedisEndpoint(url: "redis://:password@127.0.0.1:\(UInt16(bigEndian: address.sin_port))"))
        configuration.connectTimeout = .milliseconds(300)
        configuration.commandTimeout = .milliseconds(300)
        let silent = #expect(throws: StrataError(code: .backendUnavailable, message: "")) {
            try RedisStore(configuration: configuration)
        }
        #expect(silent?.description.contains("password") == false)
    }

    @Test("AUTH with a password and with an ACL user, and SELECT of a database, on every connection")
    func authenticationAndDatabases() async throws {
        let server = try await RedisTestServer(extraArguments: ["--requirepass", "top secret"])
        try await server.cli("-a", "top secret", "ACL", "SETUSER", "app", "on", ">app pass", "~*", "+@all")
        let byPassword = try RedisStore(url: "redis://:top%20secret@127.0.0.1:\(server.port)/2")
        let byUser = try RedisStore(url: "redis://app:app%20pass@127.0.0.1:\(server.port)/2")
        let otherDatabase = try RedisStore(url: "redis://app:app%20pass@127.0.0.1:\(server.port)/0")
        try await byPassword.set("k", "v")
        #expect(try await byUser.get("k", as: String.self) == "v")
        #expect(try await otherDatabase.get("k", as: String.self) == nil, "database 0 is another keyspace")
        // The server refused the credentials: accessDenied (a retry cannot cure it), with the server's reason.
        let refused = #expect(throws: StrataError(code: .accessDenied, message: "")) {
            try RedisStore(url: "redis://:wrong%20guess@127.0.0.1:\(server.port)")
        }
        #expect((refused?.underlying as? RedisServerError)?.kind == "WRONGPASS")
        #expect(refused?.description.contains("wrong guess") == false)
        // No password where the server requires one: found at start-up (the initializer's PING), accessDenied.
        let unauthenticated = #expect(throws: StrataError(code: .accessDenied, message: "")) {
            try RedisStore(url: "redis://127.0.0.1:\(server.port)")
        }
        #expect((unauthenticated?.underlying as? RedisServerError)?.kind == "NOAUTH", "\(String(describing: unauthenticated))")
        // Every pooled connection logs in: run enough calls at once to open them all.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<32 { group.addTask { try await byUser.set("p\(index)", index) } }
            try await group.waitForAll()
        }
        #expect(try await byPassword.keys(prefix: "p").count == 32)
    }

    @Test("keys and values are binary-safe arguments: nothing in them changes a command")
    func binarySafety() async throws {
        let store = try RedisStore(url: await RedisTestServer.shared)
        let key = "inj\r\nSET evil 1\r\n \0 key é"
        let value: [UInt8] = Array("*3\r\n$3\r\nDEL\r\n".utf8) + [0, 255, 13, 10]
        try await store.set(key, value)
        #expect(try await store.get(key, as: [UInt8].self) == value)
        #expect(try await store.get("evil", as: String.self) == nil)
        try await store.delete(key)
    }

    @Test("clear(prefix: \"a*\") leaves \"ab\" alone, and clearing 100,000 keys works")
    func clearing() async throws {
        // A server of its own: 100,000 writes would hold up the shared server's other tests.
        let server = try await RedisTestServer()
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.unixURL))
        configuration.keyNamespace = "clear:\(UUID().uuidString):"
        let store = try RedisStore(configuration: configuration)
        for key in ["a*", "a*b", "ab", "a", "a?", "a[b]"] { try await store.set(key, 1) }
        #expect(try await store.clear(prefix: "a*") == 2)
        #expect(try await store.keys() == ["a", "a?", "a[b]", "ab"])
        #expect(try await store.clear(prefix: "a[") == 1)

        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<50 {
                group.addTask { for index in stride(from: task, to: 100_000, by: 50) { try await store.set("bulk:\(index)", index) } }
            }
            try await group.waitForAll()
        }
        #expect(try await store.keys(prefix: "bulk:").count == 100_000)
        #expect(try await store.clear(prefix: "bulk:") == 100_000)
        #expect(try await store.keys() == ["a", "a?", "ab"])
    }

    @Test("concurrent callers are pipelined: 64 tasks take far fewer than 64 round trips")
    func pipelining() async throws {
        let server = try await RedisTestServer()
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.unixURL))
        configuration.poolSize = 1
        let store = try RedisStore(configuration: configuration)
        for index in 0..<64 { try await store.set("k\(index)", index) }
        let before = store.statistics
        // Hold the server for 300 ms: the reads pile up behind the first batch, as they do
        // behind a busy connection, and go out together when it answers.
        try await server.cli("CLIENT", "PAUSE", "300")
        let values = try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
            for index in 0..<64 { group.addTask { (index, try await store.get("k\(index)", as: Int.self)) } }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        let after = store.statistics
        #expect(values.count == 64 && values.allSatisfy { $0.key == $0.value }, "each caller got its own reply")
        #expect(after.commands - before.commands == 64, "GET for each of 64 reads (a typed get reads no lifetime)")
        #expect(after.roundTrips - before.roundTrips <= 8, "\(after.roundTrips - before.roundTrips) round trips for 64 reads")
    }

    @Test(
        "a typed get or has of the store alone, of a prefixed view or through a FaultInjectingStore, is GET alone (no PTTL on the server) and answers as before: an envelope past its expiry and an invalidated tag miss, a list is corruptEntry naming the key (present for has); entry(forKey:) and a tiered store's L2 read still read the lifetime"
    )
    func typedGetReadsNoLifetime() async throws {
        let server = try await RedisTestServer()
        let store = try RedisStore(url: "redis://127.0.0.1:\(server.port)")
        let written = SystemClock().now().millisecondsSince1970
        try await store.set("plain", "p", expires: "1h")
        try await store.set("forever", "f")
        try await RedisBulkTests.writeEnvelopes(store)
        let view = store.prefixed("view:")
        try await view.set("inside", "i", expires: "1h")
        _ = try await server.cli("LPUSH", "list", "x")

        let before = try await RedisBulkTests.commandCounts(server)
        #expect(try await store.get("plain", as: String.self) == "p")
        #expect(try await store.get("forever", as: String.self) == "f")
        #expect(try await store.get("ended", as: String.self) == nil, "past its envelope's expiry, kept by Redis for its grace")
        #expect(try await store.get("tagged", as: String.self) == nil, "its tag was invalidated")
        #expect(try await store.get("kept", as: String.self) == "k")
        #expect(try await store.get("absent", as: String.self) == nil)
        #expect(try await view.get("inside", as: String.self) == "i")
        let error = await #expect(throws: StrataError(code: .corruptEntry, message: "")) { try await store.get("list", as: String.self) }
        #expect(error?.key == "list")
        let after = try await RedisBulkTests.commandCounts(server)
        #expect(after["get", default: 0] - before["get", default: 0] == 9, "one per read, and the tag's record: \(after)")
        #expect(after["pttl", default: 0] == before["pttl", default: 0], "no PTTL: \(after)")

        // `has` answers as the get does (a list is present: something is there), through a
        // fault-injecting wrapper as in production.
        let faulty = FaultInjectingStore(wrapping: store)
        for reader in [store, faulty] as [any KeyValueStore] {
            for key in ["plain", "forever", "kept", "list"] { #expect(try await reader.has(key), "\(key) is there") }
            for key in ["ended", "tagged", "absent"] { #expect(try await !reader.has(key), "\(key) is not") }
        }
        #expect(try await view.has("inside"))
        #expect(try await faulty.get("plain", as: String.self) == "p")
        let afterHas = try await RedisBulkTests.commandCounts(server)
        #expect(afterHas["get", default: 0] - after["get", default: 0] == 18, "one per has and get, and the tag's record: \(afterHas)")
        #expect(afterHas["pttl", default: 0] == before["pttl", default: 0], "no PTTL for has: \(afterHas)")

        // Reads that keep the lifetime still ask for it.
        let entry = try #require(try await store.entry(forKey: "plain"))
        // The hour set at `written`, read back through PTTL: however long the test took since
        // (15 s once, on a loaded machine), it ends an hour after the write, not before.
        let expiresAt = try #require(entry.expiresAt).millisecondsSince1970
        let readAt = SystemClock().now().millisecondsSince1970
        #expect((written + 3_600_000 - 1_000...readAt + 3_600_000).contains(expiresAt), "ends \(expiresAt - written) ms after the write")
        let tiered = TieredStore(l1: MemoryStore(), l2: store)
        #expect(try await tiered.get("plain", as: String.self) == "p")
        let copy = try #require(try await tiered.l1.entry(forKey: "plain"))
        #expect(copy.expiresAt != nil, "the L1 copy keeps L2's lifetime")
        #expect(try await RedisBulkTests.commandCounts(server)["pttl", default: 0] - afterHas["pttl", default: 0] == 2)
        try await store.close()
    }

    @Test("an expiry far in the future (a saturated timestamp) is stored, not refused by Redis as an invalid expire time")
    func farFuture() async throws {
        let store = try RedisStore(url: await RedisTestServer.shared)
        let key = "far-future:\(UUID().uuidString)"
        try await store.setEntry(StoredEntry(bytes: Array("v".utf8), expiresAt: Timestamp(millisecondsSince1970: .max)), forKey: key)
        let entry = try #require(try await store.entry(forKey: key))
        #expect(entry.bytes == Array("v".utf8))
        #expect(try await store.expire(key, "10000y"))
        #expect(try await store.incrementEntry(forKey: key + ":n", by: 1, expiresAt: Timestamp(millisecondsSince1970: .max)) == 1)
        try await store.delete(key)
        try await store.delete(key + ":n")
    }

    @Test("a key holding a Redis list is a clear error, not a crash")
    func wrongType() async throws {
        let server = try await RedisTestServer()
        let store = try RedisStore(url: server.unixURL)
        try await server.cli("RPUSH", "queue", "a", "b")
        let error = await #expect(throws: StrataError.corruptEntry) { try await store.get("queue", as: String.self) }
        #expect(error?.key == "queue")
        #expect(error?.description.contains("not a string") == true)
        await #expect(throws: StrataError.corruptEntry) { try await store.increment("queue") }
        #expect(try await store.has("queue"))
        // In a batch read, the error names the key among many.
        try await store.set("queued", "fine")
        let listing = await #expect(throws: StrataError.corruptEntry) { try await store.entries(prefix: "queue", as: String.self) }
        #expect(listing?.key == "queue")
    }

    @Test(
        "a server killed and restarted under load: in-flight calls get backendUnavailable, later calls succeed, no reply reaches the wrong caller",
        .timeLimit(.minutes(2)))
    func serverRestart() async throws {
        let server = try await RedisTestServer()
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.unixURL))
        configuration.connectTimeout = .milliseconds(200)
        configuration.commandTimeout = .seconds(1)
        let store = try RedisStore(configuration: configuration)
        let shared = LoadState()
        let load = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<16 {
                    group.addTask {
                        var round = 0
                        while shared.running.withLock({ $0 }) {
                            round += 1
                            let key = "t\(task)"
                            let value = "task \(task) round \(round)"
                            do {
                                try await store.set(key, value)
                                let read = try await store.get(key, as: String.self)
                                shared.outcomes.withLock {
                                    // The server may have lost the write (it keeps nothing across a
                                    // restart): nil is fine; another caller's value never is.
                                    if read == value || read == nil { $0.successes += 1 } else { $0.wrong += 1 }
                                }
                            } catch let error as StrataError where error.code == .backendUnavailable {
                                shared.outcomes.withLock { $0.unavailable += 1 }
                                try await Task.sleep(for: .milliseconds(5))
                            } catch {
                                shared.outcomes.withLock { $0.other.append("\(error)") }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        server.kill()
        try await Task.sleep(for: .milliseconds(300))
        try await server.start()
        let successesAtRestart = shared.outcomes.withLock { $0.successes }
        try await Task.sleep(for: .milliseconds(700))
        shared.running.withLock { $0 = false }
        try await load.value

        let result = shared.outcomes.withLock { $0 }
        #expect(result.wrong == 0, "no reply was delivered to the wrong caller")
        #expect(result.other.isEmpty, "only backendUnavailable errors: \(result.other.prefix(3))")
        #expect(result.unavailable > 0, "the outage was seen")
        #expect(result.successes > successesAtRestart, "calls succeed again after the restart")
        try await store.set("after", "restart")
        #expect(try await store.get("after", as: String.self) == "restart")
    }
}

/// What the restart test's load saw.
final class LoadState: Sendable {
    let running = Lock(true)
    let outcomes = Lock((successes: 0, unavailable: 0, wrong: 0, other: [String]()))
}
