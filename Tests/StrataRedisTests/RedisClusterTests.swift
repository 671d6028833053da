import Foundation
import Strata
@testable import StrataRedis
import StrataTesting
import Synchronization
import Testing

enum RedisClusterContexts {
    /// A store over the shared test cluster, in a namespace of its own.
    static func cluster() -> KeyValueStoreConformance.Context {
        .init(makeStore: { defaultExpiry in
            let cluster = try await RedisTestCluster.shared
            var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: cluster.seeds[0]))
            configuration.clusterSeeds = try cluster.seeds.map { try RedisEndpoint(url: $0) }
            configuration.keyNamespace = "test:\(UUID().uuidString):"
            configuration.defaultExpiry = defaultExpiry
            return try RedisStore(configuration: configuration)
        }, shortLifetimeSeconds: 3)
    }

    /// The contexts the conformance suite runs in, by name.
    static func named(_ name: String) -> KeyValueStoreConformance.Context {
        switch name {
        case "prefixed view": cluster().prefixed("a*?[]{}\\")
        case "TieredStore over it": RedisContexts.tiered(over: cluster())
        default: cluster()
        }
    }
}

@Suite("RedisStore on a Redis Cluster: conformance")
struct RedisClusterConformanceTests {
    @Test("RedisStore(cluster:), a prefixed view of it, and a TieredStore over it",
          arguments: ["RedisStore(cluster:)", "prefixed view", "TieredStore over it"], KeyValueStoreConformance.checks)
    func conformance(_ store: String, _ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(RedisClusterContexts.named(store))
    }
}

@Suite("RedisStore on a Redis Cluster")
struct RedisClusterTests {
    @Test("key slots: CRC16 (XMODEM) mod 16384, hash tags as Redis reads them, the same as CLUSTER KEYSLOT")
    func slots() async throws {
        #expect(RedisClusterSlot.crc16(Array("123456789".utf8)[...]) == 0x31C3)
        let cluster = try await RedisTestCluster.shared
        let keys = ["foo", "{user1000}.following", "{user1000}.followers", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}",
                    "{", "}{", "a{b", "ключ{ж}", "", "x\u{0}y", String(repeating: "k", count: 1_024)]
        for key in keys where !key.contains("\u{0}") {
            let expected = try await cluster.servers[0].cli("CLUSTER", "KEYSLOT", key).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(String(RedisClusterSlot.of(Array(key.utf8))) == expected, "\(key)")
        }
        #expect(RedisClusterSlot.of(Array("{user1000}.following".utf8)) == RedisClusterSlot.of(Array("{user1000}.followers".utf8)))
    }

    @Test("keys spread over all three primaries, each sent straight to its owner; a prefix clear spans them")
    func spread() async throws {
        let cluster = try await RedisTestCluster.shared
        let namespace = "spread:\(UUID().uuidString):"
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: cluster.seeds[0]))
        configuration.clusterSeeds = try cluster.seeds.map { try RedisEndpoint(url: $0) }
        configuration.keyNamespace = namespace
        configuration.poolSize = 1
        let store = try RedisStore(configuration: configuration)
        let before = store.statistics
        for index in 0..<300 { try await store.set("k\(index)", index) }
        // Routed by our own slot map: no MOVED (which would cost a round trip more each).
        #expect(store.statistics.roundTrips - before.roundTrips == 300)

        let primaries = try await cluster.primaries()
        #expect(primaries.count == 3)
        for primary in primaries {
            let held = try await primary.cli("--scan", "--pattern", namespace + "*").split(separator: "\n").count
            #expect(held > 50, "a primary holds \(held) of the 300 keys")
        }
        #expect(try await store.keys(prefix: "k").count == 300)
        #expect(try await store.entries(prefix: "k", as: Int.self).count == 300)
        #expect(try await store.clear(prefix: "k") == 300)
        #expect(try await store.keys().isEmpty)
        try await store.close()
    }

    @Test("a seed list with no reachable node, or a server that is no cluster, is a clear error")
    func badSeeds() async throws {
        let port = RedisTestServer.freePort()
        let unreachable = #expect(throws: StrataError(code: .backendUnavailable, message: "")) {
            try RedisStore(cluster: ["redis://127.0.0.1:\(port)"])
        }
        #expect(unreachable?.description.contains("127.0.0.1:\(port)") == true)
        let single = try await RedisTestServer()
        let notCluster = #expect(throws: StrataError(code: .backendUnavailable, message: "")) {
            try RedisStore(cluster: [single.tcpURL])
        }
        #expect(notCluster?.description.contains("cluster") == true)
    }
}
