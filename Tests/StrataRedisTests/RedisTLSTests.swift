import Foundation
import Strata
import StrataRedis
import StrataTesting
import Testing

/// TLS against a real `redis-server` listening with `--tls-port` and the certificates the
/// tests make (``RedisTestCertificates``): the conformance suite over TLS, the bus and the
/// compute lock over TLS, mutual TLS, and every way a TLS connection can be refused.
@Suite("RedisStore over TLS")
struct RedisTLSTests {
    @Test("RedisStore over TLS (rediss:// URL with the CA)", arguments: KeyValueStoreConformance.checks)
    func conformance(_ check: KeyValueStoreConformance.Check) async throws {
        let server = try await RedisTestTLSServer.shared
        try await check.run(
            .init(
                makeStore: { defaultExpiry in
                    var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.url))
                    configuration.keyNamespace = "tls:\(UUID().uuidString):"
                    configuration.defaultExpiry = defaultExpiry
                    // One connection, made (handshake included) by the initializer: a check's 3 s
                    // lifetime then never pays for the handshakes of connections made lazily, which
                    // on a loaded machine ran it out (every test shares the one TLS server).
                    configuration.poolSize = 1
                    // Off the cooperative pool: under load a handshake took seconds, and two of
                    // them at once held both of its threads (a stack dump of a stalled run).
                    return try await makeStoreOffPool(configuration)
                }, shortLifetimeSeconds: 3))
    }

    @Test(
        "the bus and the compute lock over TLS: a write in one instance drops the other's copy; three instances compute once",
        .timeLimit(.minutes(1)))
    func busAndLockOverTLS() async throws {
        let server = try await RedisTestTLSServer.shared
        let namespace = "tls:\(UUID().uuidString):"
        var instances: [(cache: TieredStore, bus: RedisInvalidationBus, subscription: Task<Void, any Error>)] = []
        for _ in 0..<3 {
            var configuration = server.configuration()
            configuration.keyNamespace = namespace
            let redis = try RedisStore(configuration: configuration)
            let bus = RedisInvalidationBus(redis: redis)
            let cache = TieredStore(
                l1: MemoryStore(), l2: redis, configuration: .init(invalidationPublisher: bus, computeLock: RedisComputeLock(redis: redis)))
            instances.append((cache, bus, Task { try await bus.run(delivering: cache) }))
        }
        defer { instances.forEach { $0.subscription.cancel() } }
        #expect(try await eventually(within: .seconds(20)) { instances.allSatisfy { $0.bus.isSubscribed } })

        let computations = Counter()
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for instance in instances {
                for _ in 0..<4 {
                    group.addTask {
                        try await instance.cache.getOrSet("report", as: String.self) {
                            computations.increment()
                            try await Task.sleep(for: .milliseconds(200))
                            return "built once"
                        }
                    }
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(values == Array(repeating: "built once", count: 12))
        #expect(computations.count == 1, "computed \(computations.count) times over TLS")

        #expect(try await instances[1].cache.get("report", as: String.self) == "built once", "held in instance 1's L1")
        try await instances[0].cache.set("report", "rebuilt")
        #expect(
            try await eventually(within: .seconds(10)) { try await instances[1].cache.get("report", as: String.self) == "rebuilt" },
            "the announcement crossed TLS and dropped instance 1's copy")
    }

    @Test(
        "mutual TLS: a store that shows the client certificate works; one without it is refused, naming the server",
        .timeLimit(.minutes(1)))
    func mutualTLS() async throws {
        let server = try await RedisTestTLSServer.mutual
        let store = try RedisStore(configuration: server.configuration(server.certificates.clientTLS(mutual: true)))
        try await store.set("k", "over mutual TLS")
        #expect(try await store.get("k", as: String.self) == "over mutual TLS")
        try await store.close()

        let error = try await #require(throws: StrataError.self) {
            try await makeStoreOffPool(server.configuration(server.certificates.clientTLS(mutual: false)))
        }
        #expect(error.code == .accessDenied, "\(error.message)")
        #expect(
            error.message.contains("127.0.0.1:\(server.tlsPort)") && error.message.contains("requires a client certificate"),
            "\(error.message)")
    }

    /// A way to be refused: the configuration, and what the error must say.
    struct Refusal: Sendable, CustomTestStringConvertible {
        let name: String
        let code: StrataError.Code
        let says: String
        let configuration: @Sendable (RedisTestTLSServer, RedisTestTLSServer) throws -> RedisStore.Configuration
        var testDescription: String { name }
    }

    static let refusals: [Refusal] = [
        Refusal(name: "a server certificate from an unknown CA", code: .backendUnavailable, says: "the server's certificate was refused") {
            server, _ in server.configuration(RedisTLS(trust: .certificates(path: server.certificates.otherCA)))
        },
        Refusal(name: "a server certificate for another name", code: .backendUnavailable, says: "hostname mismatch") { server, _ in
            server.configuration(RedisTLS(trust: .certificates(path: server.certificates.ca), serverName: "elsewhere.example"))
        },
        Refusal(name: "an expired server certificate", code: .backendUnavailable, says: "certificate has expired") { _, expired in
            expired.configuration()
        },
        Refusal(name: "a TLS client on the plain port", code: .backendUnavailable, says: "is this its TLS port?") { server, _ in
            var configuration = server.configuration()
            configuration.endpoint.address = .tcp(host: "127.0.0.1", port: server.server.port)
            return configuration
        },
        Refusal(name: "a plain client on the TLS port", code: .backendUnavailable, says: "use rediss://") { server, _ in
            var configuration = server.configuration()
            configuration.tls = nil
            return configuration
        },
        Refusal(name: "a CA bundle that does not exist, in the URL", code: .invalidConfiguration, says: "/nonexistent/ca.pem") {
            server, _ in
            RedisStore.Configuration(endpoint: try RedisEndpoint(url: "rediss://127.0.0.1:\(server.tlsPort)?ca=/nonexistent/ca.pem"))
        },
        Refusal(name: "a client certificate that does not exist", code: .invalidConfiguration, says: "/nonexistent/client.pem") {
            server, _ in
            server.configuration(RedisTLS(trust: .certificates(path: server.certificates.ca), clientCertificate: "/nonexistent/client.pem"))
        },
        Refusal(name: "a private key that is not the certificate's", code: .invalidConfiguration, says: "not the certificate's") {
            server, _ in
            server.configuration(
                RedisTLS(
                    trust: .certificates(path: server.certificates.ca), clientCertificate: server.certificates.clientCertificate,
                    privateKey: server.certificates.serverKey))
        },
        Refusal(name: "a CA bundle that is not PEM", code: .invalidConfiguration, says: "holds no PEM certificate") { server, _ in
            server.configuration(RedisTLS(trust: .certificates(path: server.certificates.directory + "/index.txt")))
        },
    ]

    @Test(
        "each bad TLS input is a clear StrataError naming the server or the file, within the connect timeout",
        .timeLimit(.minutes(1)), arguments: refusals)
    func refused(_ refusal: Refusal) async throws {
        let server = try await RedisTestTLSServer.shared
        let expired = try await RedisTestTLSServer.expired
        var configuration = try refusal.configuration(server, expired)
        configuration.connectTimeout = .seconds(2)
        configuration.commandTimeout = .seconds(6)
        let started = ContinuousClock.now
        let error = try await #require(throws: StrataError.self) { try await makeStoreOffPool(configuration) }
        let elapsed = ContinuousClock.now - started
        #expect(error.code == refusal.code, "\(error)")
        #expect(error.message.contains(refusal.says), "\(error.message)")
        if refusal.code == .backendUnavailable {
            #expect(error.message.contains("127.0.0.1:"), "names the server: \(error.message)")
            // Within the connect timeout (a plain port answers nothing to a TLS hello: the
            // handshake's deadline), never at the command timeout or later.
            #expect(elapsed < configuration.commandTimeout, "refused after \(elapsed)")
        }
    }

    @Test("rediss:// URLs: TLS settings as query items; an unknown item or a query on redis:// names the URL")
    func urls() throws {
        let endpoint = try RedisEndpoint(
            url: "rediss://u:p@cache.example.com:6380/2?ca=/etc/ca.pem&cert=/c.pem&key=/k.pem&server_name=redis.internal")
        #expect(
            endpoint.tls
                == RedisTLS(
                    trust: .certificates(path: "/etc/ca.pem"), clientCertificate: "/c.pem", privateKey: "/k.pem",
                    serverName: "redis.internal"))
        #expect(endpoint.database == 2 && endpoint.password == "p" && endpoint.address == .tcp(host: "cache.example.com", port: 6380))
        #expect(endpoint.description == "rediss://u:***@cache.example.com:6380/2")
        #expect(try RedisEndpoint(url: "rediss://h").tls == RedisTLS())
        #expect(try RedisEndpoint(url: "rediss://h?verify=insecure-none").tls?.verification == .insecureNoVerification)
        #expect(try RedisEndpoint(url: "redis://h").tls == nil)
        // The API contract's lines (../shared/API.md, "Redis in production").
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: "rediss://cache.internal:6380"))
        configuration.tls = .init(
            trust: .certificates(path: "/etc/ssl/redis-ca.pem"),
            clientCertificate: "/etc/ssl/app.pem", privateKey: "/etc/ssl/app.key")
        #expect(configuration.endpoint.tls?.trust == .certificates(path: "/etc/ssl/redis-ca.pem"))
        #expect(configuration.endpoint.description == "rediss://cache.internal:6380/0")
        let question = try RedisEndpoint(url: "redis://:pa?ss@h:7000")
        #expect(question.password == "pa?ss" && question.address == .tcp(host: "h", port: 7000), "a ? in a password is the password's")
        #expect(try RedisEndpoint(url: "rediss://:pa?ss@h?ca=/c.pem").tls?.trust == .certificates(path: "/c.pem"))
        for bad in ["rediss://h?verify=yes", "rediss://h?color=blue", "redis://h?ca=/x.pem", "rediss://:secret@h?ca"] {
            let error = try #require(throws: StrataError.self) { try RedisEndpoint(url: bad) }
            #expect(error.code == .invalidConfiguration && !error.message.contains("secret"), "\(error.message)")
        }
    }

    @Test(
        "values larger than the socket's buffer go out over TLS in parts (WANT_WRITE, then the rest when writable)",
        // Under ThreadSanitizer beside the consistency histories it ran 77 s (2026-12-06), 10 s alone.
        .timeLimit(.minutes(3)))
    func largeValues() async throws {
        let server = try await RedisTestTLSServer.shared
        var configuration = server.configuration()
        configuration.poolSize = 1  // every batch on one connection: the socket's buffer fills
        // 16 MiB through one TLS connection: on a loaded machine more than the default 5 s
        // (what is tested is that every part goes out, not how fast).
        configuration.commandTimeout = .seconds(60)
        let store = try await makeStoreOffPool(configuration)
        let values = (0..<8).map { index in [UInt8](repeating: UInt8(index), count: 2 << 20) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, value) in values.enumerated() { group.addTask { try await store.set("big:\(index)", value) } }
            try await group.waitForAll()
        }
        for (index, value) in values.enumerated() {
            #expect(try await store.get("big:\(index)", as: [UInt8].self) == value, "value \(index) read back whole")
        }
        try await store.close()
    }

    @Test("verification can be turned off only by name: a certificate from an unknown CA is then taken", .timeLimit(.minutes(1)))
    func insecureNoVerification() async throws {
        let server = try await RedisTestTLSServer.shared
        let store = try RedisStore(
            configuration: server.configuration(
                RedisTLS(
                    trust: .certificates(path: server.certificates.otherCA), serverName: "elsewhere.example",
                    verification: .insecureNoVerification)))
        try await store.set("k", "v")
        #expect(try await store.get("k", as: String.self) == "v")
        try await store.close()
    }

    @Test(
        "a TLS cluster (tls-cluster yes): keys on every node, a clear by prefix, and the bus's subscription, all over TLS",
        .timeLimit(.minutes(3)))
    func cluster() async throws {
        let cluster = try await RedisTestCluster(replicas: 0, certificates: try await RedisTestCertificates.shared)
        let store = try RedisStore(cluster: cluster.seeds)
        let keys = (0..<200).map { "user:\($0)" }
        for key in keys { try await store.set(key, key.uppercased()) }
        for key in keys { #expect(try await store.get(key, as: String.self) == key.uppercased()) }
        for server in cluster.servers {
            #expect(
                Int(try await server.cli("DBSIZE").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 0,
                "every primary holds keys: the slot map's TLS ports were followed")
        }
        try await store.clear(prefix: "user:1")
        #expect(try await store.keys(prefix: "user:").count == 200 - 111)

        let listener = try RedisStore(cluster: cluster.seeds)
        let bus = RedisInvalidationBus(redis: listener)
        let recorder = DeliveryRecorder()
        let subscription = Task { try await bus.run(delivering: recorder) }
        defer { subscription.cancel() }
        #expect(try await eventually(within: .seconds(20)) { bus.isSubscribed })
        await RedisInvalidationBus(redis: store).publish(.key("user:7"))
        #expect(try await eventually(within: .seconds(10)) { recorder.keys.contains("user:7") }, "announced over a TLS cluster")
        try await store.close()
        try await listener.close()
    }
}
