import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Synchronization
import Testing

@testable import StrataRedis

enum RedisClusterContexts {
    /// A store over the shared test cluster, in a namespace of its own.
    static func cluster() -> KeyValueStoreConformance.Context {
        .init(
            makeStore: { defaultExpiry in
                let cluster = try await RedisTestCluster.shared
                var configuration = try cluster.configuration()
                configuration.keyNamespace = "test:\(UUID().uuidString):"
                configuration.defaultExpiry = defaultExpiry
                return try await makeStoreOffPool(configuration)  // it reads the slot map before it returns
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
    @Test(
        "RedisStore(cluster:), a prefixed view of it, and a TieredStore over it",
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
        let keys = [
            "foo", "{user1000}.following", "{user1000}.followers", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}",
            "{", "}{", "a{b", "ключ{ж}", "", "x\u{0}y", String(repeating: "k", count: 1_024),
        ]
        for key in keys where !key.contains("\u{0}") {
            let expected = try await cluster.servers[0].cli("CLUSTER", "KEYSLOT", key).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(String(RedisClusterSlot.of(Array(key.utf8))) == expected, "\(key)")
        }
        #expect(RedisClusterSlot.of(Array("{user1000}.following".utf8)) == RedisClusterSlot.of(Array("{user1000}.followers".utf8)))
    }

    @Test(
        "a redirection naming a slot outside 0..<16384 (a proxy's, a server's that is no Redis) is no redirection, never a crash: the command fails with the reply"
    )
    func redirectionOutOfRange() {
        for message in ["MOVED 16384 127.0.0.1:7000", "MOVED 70000 127.0.0.1:7000", "MOVED -1 127.0.0.1:7000", "MOVED x 127.0.0.1:7000"] {
            #expect(RedisCluster.Redirection(.error(message)) == nil, "\(message)")
        }
        guard case .moved(let slot, let node)? = RedisCluster.Redirection(.error("MOVED 16383 127.0.0.1:7000")) else {
            Issue.record("the last slot is a redirection")
            return
        }
        #expect(slot == 16_383 && node == "127.0.0.1:7000")
    }

    @Test("keys spread over all three primaries, each sent straight to its owner; a prefix clear spans them")
    func spread() async throws {
        let cluster = try await RedisTestCluster.shared
        let namespace = "spread:\(UUID().uuidString):"
        var configuration = try cluster.configuration()
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
        let port = try RedisTestServer.freePort()
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

    @Test(
        "a seed that serves no slots (a cluster node not joined yet, or reset) is passed over: the map comes from the next seed; alone (a cluster still forming), the store opens and its calls wait for slots"
    )
    func seedServingNoSlots() async throws {
        let unjoined = try await RedisTestServer(extraArguments: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
        var forming = RedisStore.Configuration(endpoint: try RedisEndpoint(url: unjoined.tcpURL))
        forming.clusterSeeds = [try RedisEndpoint(url: unjoined.tcpURL)]
        forming.clusterRetryTime = .seconds(1)
        let early = try RedisStore(configuration: forming)
        await #expect(throws: StrataError(code: .backendUnavailable, message: ""), "no slot has an owner yet") {
            try await early.set("k", 1)
        }
        try await early.close()
        let cluster = try await RedisTestCluster.shared
        var configuration = try cluster.configuration()
        configuration.clusterSeeds = try ([unjoined.tcpURL] + cluster.seeds).map { try RedisEndpoint(url: $0) }
        configuration.keyNamespace = "unjoined:\(UUID().uuidString):"
        let store = try RedisStore(configuration: configuration)
        #expect(store.cluster?.primaries.count == 3, "the map the cluster's seed gave")
        for index in 0..<30 { try await store.set("k\(index)", index) }
        #expect(try await store.keys().count == 30)
        try await store.close()
    }
}

/// What a load of many tasks saw while the cluster changed under it.
final class ClusterLoad: Sendable {
    let running = Lock(true)
    let seen = Lock((successes: 0, failures: [String](), slowestFailure: Duration.zero, wrong: [String]()))
    /// Each key's last acknowledged value.
    let acknowledged = Lock([String: Int]())

    /// 16 tasks, each writing increasing values to 50 keys of its own and reading each back.
    func run(on store: RedisStore) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for task in 0..<16 {
                    group.addTask {
                        var round = 0
                        while self.running.withLock({ $0 }) {
                            round += 1
                            let key = "load:\(task):\(round % 50)"
                            let started = ContinuousClock.now
                            do {
                                try await store.set(key, round)
                                self.acknowledged.withLock { $0[key] = round }
                                let read = try await store.get(key, as: Int.self)
                                self.seen.withLock {
                                    $0.successes += 1
                                    if read != round { $0.wrong.append("\(key): wrote \(round), read \(read.map(String.init) ?? "nil")") }
                                }
                            } catch {
                                let took = ContinuousClock.now - started
                                self.seen.withLock {
                                    $0.failures.append("\(error)")
                                    $0.slowestFailure = max($0.slowestFailure, took)
                                }
                                try? await Task.sleep(for: .milliseconds(20))
                            }
                        }
                    }
                }
            }
        }
    }

    func stop(_ load: Task<Void, Never>) async {
        running.withLock { $0 = false }
        await load.value
    }
}

@Suite("RedisStore on a Redis Cluster, changing under load")
struct RedisClusterChangeTests {
    @Test(
        "resharding under load: 1,000 slots move between primaries while 16 tasks write and read; no call fails, no write is lost, every read returns the last written value",
        .timeLimit(.minutes(3)))
    func resharding() async throws {
        let cluster = try await RedisTestCluster()
        let store = try RedisStore(cluster: cluster.seeds)
        let primaries = try await cluster.primaries()
        let source = try await primaries[0].cli("CLUSTER", "MYID").trimmingCharacters(in: .whitespacesAndNewlines)
        let target = try await primaries[1].cli("CLUSTER", "MYID").trimmingCharacters(in: .whitespacesAndNewlines)
        let load = ClusterLoad()
        let running = load.run(on: store)
        // Counted in calls, not time: a loaded machine runs fewer in the same 300 ms.
        let successes = { load.seen.withLock { $0.successes } }
        #expect(try await eventually(within: .seconds(60)) { successes() >= 100 }, "the load runs before the slots move")
        let output = try await primaries[0].cli(arguments: [
            "--cluster", "reshard", "127.0.0.1:\(primaries[0].port)", "--cluster-from", source, "--cluster-to", target,
            "--cluster-slots", "1000", "--cluster-yes",
        ])
        let afterReshard = successes()
        #expect(try await eventually(within: .seconds(60)) { successes() >= afterReshard + 100 }, "and goes on after")
        await load.stop(running)

        let seen = load.seen.withLock { $0 }
        #expect(seen.failures.isEmpty, "\(seen.failures.count) calls failed: \(seen.failures.prefix(3))")
        #expect(seen.wrong.isEmpty, "\(seen.wrong.prefix(3))")
        let slotsMoved = try await primaries[1].cli("CLUSTER", "COUNTKEYSINSLOT", "0")  // any answer: the node serves
        #expect(!slotsMoved.isEmpty)
        #expect(output.contains("Moving slot"), "redis-cli moved slots: \(output.suffix(300))")
        for (key, value) in load.acknowledged.withLock({ $0 }) {
            #expect(try await store.get(key, as: Int.self) == value, "\(key)")
        }
        try await store.close()
    }

    @Test(
        "failover under load: a primary killed (SIGKILL), its replica promoted; calls in the window succeed or throw backendUnavailable within the retry time, all succeed after (a listing too, on a map that still names the dead primary), and acknowledged writes lost are counted",
        .timeLimit(.minutes(3)))
    func failover() async throws {
        let cluster = try await RedisTestCluster()
        var configuration = try cluster.configuration()
        configuration.commandTimeout = .seconds(1)
        configuration.clusterRetryTime = .seconds(3)
        let store = try RedisStore(configuration: configuration)
        // Another store, opened before the failover, that makes no keyed call after it: only
        // its listing can find out that the map names a dead primary.
        let idle = try RedisStore(configuration: configuration)
        try await idle.set("listed:before", 1)
        let load = ClusterLoad()
        let running = load.run(on: store)
        try await Task.sleep(for: .milliseconds(500))
        let victim = try await cluster.primaries()[0]
        victim.kill()
        try await cluster.waitUntilHealthy()  // the replica took over
        let failuresAtHealing = load.seen.withLock { $0.failures.count }
        try await Task.sleep(for: .seconds(1))
        await load.stop(running)

        let seen = load.seen.withLock { $0 }
        let other = seen.failures.filter { !$0.hasPrefix("backendUnavailable") }
        #expect(other.isEmpty, "only backendUnavailable: \(other.prefix(3))")
        #expect(seen.slowestFailure <= .seconds(6), "a failing call gave up within the retry time: \(seen.slowestFailure)")
        #expect(seen.wrong.isEmpty, "\(seen.wrong.prefix(3))")
        // Once healed, calls succeed (a failure or two may still be on its way back).
        #expect(seen.failures.count - failuresAtHealing <= 16, "\(seen.failures.count - failuresAtHealing) failures after healing")
        var lost = 0
        for (key, value) in load.acknowledged.withLock({ $0 }) {
            let read = try await store.get(key, as: Int.self)
            if read != value { lost += 1 }
        }
        print(
            "failover: \(seen.successes) calls succeeded, \(seen.failures.count) failed (\(failuresAtHealing) before healing); "
                + "\(lost) of \(load.acknowledged.withLock { $0.count }) keys lost their last acknowledged write")
        #expect(try await store.get("after", as: String.self) == nil)
        try await store.set("after", "failover")
        #expect(try await store.get("after", as: String.self) == "failover")
        // A listing on the map of before the failover reads the map again: it lists every key
        // (its first pass met the dead primary), never throws for as long as the map is stale.
        let listed = try await idle.keys(prefix: "")
        #expect(Set(listed) == Set(try await store.keys(prefix: "")), "the idle store lists what the store does")
        #expect(listed.contains("listed:before") && listed.contains("after"))
        try await store.close()
        try await idle.close()
    }
}

@Suite("Coherence over a Redis Cluster")
struct RedisClusterCoherenceTests {
    @Test(
        "two tiered instances over a cluster stay coherent through the bus, and across the failover of the node their subscription was on",
        .timeLimit(.minutes(3)))
    func coherenceAcrossFailover() async throws {
        let cluster = try await RedisTestCluster()
        let a = Instance(redis: try RedisStore(cluster: cluster.seeds))
        let b = Instance(redis: try RedisStore(cluster: cluster.seeds))
        defer { [a, b].forEach { $0.subscription.cancel() } }
        try await b.waitUntilSubscribed(via: a)
        try await a.waitUntilSubscribed(via: b)

        func changeIsSeen(_ key: String, _ value: String) async throws -> Bool {
            try await a.cache.set(key, value)
            return try await eventually { try await b.cache.get(key, as: String.self) == value }
        }
        let keys = (0..<20).map { "user:\($0)" }  // over every primary
        for key in keys {
            try await a.cache.set(key, "v1")
            #expect(try await b.cache.get(key, as: String.self) == "v1")
        }
        for key in keys { #expect(try await changeIsSeen(key, "v2"), "\(key)") }

        // The subscriptions are on the first primary of the slot map: kill it.
        let subscribed = try #require(b.redis.cluster?.primaries.first?.endpoint)
        let victim = try #require(cluster.servers.first { "\(subscribed)".contains(":\($0.port)/") })
        victim.kill()
        try await cluster.waitUntilHealthy()
        // The lost subscription is a gap: L1 is dropped, so no copy of before can be served.
        #expect(try await eventually { try await !b.cache.l1.has(keys[0]) })
        try await b.waitUntilSubscribed(via: a)
        try await a.waitUntilSubscribed(via: b)
        for key in keys {
            _ = try await b.cache.get(key, as: String.self)  // B holds copies again
            #expect(try await changeIsSeen(key, "v3"), "\(key) after the failover")
        }
        try await a.redis.close()
        try await b.redis.close()
    }
}
