import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Testing

@testable import StrataRedis

/// A slot moved by hand, one step at a time, so that a call meets exactly the state it
/// must handle: some keys of the slot on the target already, the others still on the
/// source; and a node frozen while the map must be read again.
@Suite("RedisStore on a Redis Cluster: a slot in mid-migration, a frozen node")
struct RedisClusterMigrationTests {
    static func entry(_ text: String) -> StoredEntry { StoredEntry(bytes: Array(text.utf8), expiresAt: nil) }

    @Test(
        "a batched read of a slot in mid-migration (half its keys moved) finds every key; a write to a key still on the source lands there only; a lease taken meanwhile reads the key under it and holds or breaks as it should",
        .timeLimit(.minutes(2)))
    func slotInMidMigration() async throws {
        let cluster = try await RedisTestCluster()
        let store = try RedisStore(cluster: cluster.seeds)
        let keys = (0..<20).map { "{mig}\($0)" }
        for key in keys { try await store.set(key, key) }
        let slot = RedisClusterSlot.of(Array("{mig}".utf8))
        let source = try cluster.owner(of: slot, in: store)
        let target = try #require(try await cluster.primaries().first { $0 !== source })
        try await cluster.beginMigration(of: slot, from: source, to: target)
        try await cluster.migrate(Array(keys[0..<10]), from: source, to: target)

        // One batch (one slot): GET and PTTL of the 10 keys moved get ASK, the 10 others
        // their values; each key is answered where it is.
        let read = try await store.entries(keys.map { (Array($0.utf8), $0) })
        #expect(read.map(\.key).sorted() == keys.sorted(), "found \(read.count) of 20")
        for (key, entry) in read {
            #expect(entry.bytes == (try await store.entry(forKey: key))?.bytes, "\(key)")
        }
        #expect(try await store.entries(prefix: "{mig}", as: String.self).count == 20)

        // DEL of the (missing) lease gets ASK, the SET of the key (still on the source) OK:
        // only the DEL goes to the target, so the key is not written twice.
        try await store.set(keys[15], "changed")
        let onTarget = try await target.cli("CLUSTER", "COUNTKEYSINSLOT", String(slot))
        #expect(onTarget.trimmingCharacters(in: .whitespacesAndNewlines) == "10", "keys of the slot on the target")
        #expect(try await store.get(keys[15], as: String.self) == "changed")

        // The lease is a missing name on the source: it is set on the target (ASK), and the
        // key is read after it, where the key is (the source), not on the target.
        let held = EntryLease.random()
        let current = try await store.leaseEntry(forKey: keys[16], lease: held, duration: .seconds(60))
        #expect(current != nil, "the key read under the lease")
        let broken = EntryLease.random()
        _ = try await store.leaseEntry(forKey: keys[17], lease: broken, duration: .seconds(60))
        try await store.set(keys[17], "changed")  // breaks the lease, on the target
        try await cluster.finishMigration(of: slot, from: source, to: target)
        #expect(try await store.setEntry(Self.entry("computed"), forKey: keys[16], ifLeased: held, keepingLease: false))
        #expect(!(try await store.setEntry(Self.entry("stale"), forKey: keys[17], ifLeased: broken, keepingLease: false)))
        #expect(try await store.entry(forKey: keys[16])?.bytes == Array("computed".utf8))
        #expect(try await store.get(keys[17], as: String.self) == "changed")
        #expect(try await store.entries(keys.map { (Array($0.utf8), $0) }).count == 20)
        try await store.close()
    }

    @Test(
        "increment in a slot in mid-migration counts each key where it is (still on the source, moved, or new) rather than wait out the migration",
        .timeLimit(.minutes(2)))
    func incrementInMidMigration() async throws {
        let cluster = try await RedisTestCluster()
        var configuration = try cluster.configuration()
        // A call that waited for the migration to end (TRYAGAIN) fails when this runs out.
        configuration.clusterRetryTime = .seconds(2)
        let store = try RedisStore(configuration: configuration)
        try await store.set("{inc}source", 5)
        try await store.set("{inc}moved", 10)
        let slot = RedisClusterSlot.of(Array("{inc}".utf8))
        let source = try cluster.owner(of: slot, in: store)
        let target = try #require(try await cluster.primaries().first { $0 !== source })
        try await cluster.beginMigration(of: slot, from: source, to: target)
        try await cluster.migrate(["{inc}moved"], from: source, to: target)
        #expect(try await store.increment("{inc}source") == 6, "still on the source")
        #expect(try await store.increment("{inc}moved", by: 2) == 12, "moved to the target")
        #expect(try await store.increment("{inc}new", expires: "1h") == 1, "a new key: created on the target")
        try await cluster.finishMigration(of: slot, from: source, to: target)
        #expect(try await store.get("{inc}source", as: Int.self) == 6)
        #expect(try await store.get("{inc}moved", as: Int.self) == 12)
        #expect(try await store.get("{inc}new", as: Int.self) == 1)
        try await store.close()
    }

    @Test(
        "a slot-map refresh against a frozen node (SIGSTOP) is bounded: on a cluster that is down, a call fails with backendUnavailable within clusterRetryTime",
        .timeLimit(.minutes(2)))
    func frozenNodeRefresh() async throws {
        let cluster = try await RedisTestCluster()
        var configuration = try cluster.configuration()
        // A command timeout far past the test's time limit: a refresh that waited for the
        // frozen node's answer would run into the limit; only clusterRetryTime ends the call.
        configuration.commandTimeout = .seconds(600)
        configuration.clusterRetryTime = .seconds(2)
        let store = try RedisStore(configuration: configuration)
        // The first primary of the map is the first asked for the map again.
        let frozen = try cluster.server(named: try #require(store.cluster?.primaries.first).name)
        var replicas: [RedisTestServer] = []
        for server in cluster.servers where server !== frozen {
            let role = try await server.cli("ROLE")
            if role.hasPrefix("slave") && role.contains("\n\(frozen.port)\n") { replicas.append(server) }
        }
        let replica = try #require(replicas.first)
        var key = "k0"
        for index in 0..<100 where try cluster.owner(of: RedisClusterSlot.of(Array("k\(index)".utf8)), in: store) !== frozen {
            key = "k\(index)"
            break
        }
        try await store.set(key, "value")
        _ = try await store.keys()  // a connection to every primary is open

        // Frozen with its replica, the node's slots have no one to serve them: the others
        // declare the cluster down and answer CLUSTERDOWN, so the call reads the map again.
        frozen.send(SIGSTOP)
        replica.send(SIGSTOP)
        defer {
            frozen.send(SIGCONT)
            replica.send(SIGCONT)
        }
        let witness = try #require(cluster.servers.first { $0 !== frozen && $0 !== replica })
        try #require(
            await eventually(within: .seconds(30), poll: .milliseconds(100)) {
                try await witness.cli("CLUSTER", "INFO").contains("cluster_state:fail")
            },
            "the cluster was not declared down")
        let started = ContinuousClock.now
        let error = await #expect(throws: StrataError.self) { _ = try await store.get(key, as: String.self) }
        let took = ContinuousClock.now - started
        print(
            "a call on a cluster that is down, its first primary frozen: failed after \(took) (clusterRetryTime 2 s, commandTimeout 600 s)")
        #expect(error?.code == .backendUnavailable)
        #expect(error?.key == key)
    }
}
