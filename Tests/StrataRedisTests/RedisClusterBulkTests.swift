import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Testing

@testable import StrataRedis

/// Bulk calls on a Redis Cluster: keys grouped by the node that owns their slot, one
/// pipeline per node; redirections followed per slot as a single-key call follows them.
@Suite("RedisStore on a Redis Cluster: bulk calls")
struct RedisClusterBulkTests {
    static func entry(_ text: String) -> StoredEntry { StoredEntry(bytes: Array(text.utf8), expiresAt: nil) }

    @Test("300 keys over every primary: written, read and removed in one pipeline per node each (256 keys a pipeline)")
    func spread() async throws {
        let cluster = try await RedisTestCluster.shared
        var configuration = try cluster.configuration()
        configuration.keyNamespace = "bulk:\(UUID().uuidString):"
        configuration.poolSize = 1
        let store = try RedisStore(configuration: configuration)
        let entries = Dictionary(uniqueKeysWithValues: (0..<300).map { ("k\($0)", Self.entry("v\($0)")) })
        let nodes = try #require(store.cluster?.primaries.count)
        #expect(nodes == 3)

        var before = store.statistics
        try await store.setEntries(entries)
        // Two pipelines of keys (256 and 44), each cut by node.
        #expect(store.statistics.roundTrips - before.roundTrips <= 2 * nodes)
        for primary in try await cluster.primaries() {
            let held = try await primary.cli("--scan", "--pattern", configuration.keyNamespace + "*").split(separator: "\n").count
            #expect(held > 50, "a primary holds \(held) of the 300 keys")
        }
        before = store.statistics
        let found = try await store.entries(forKeys: Array(entries.keys) + ["absent"])
        #expect(store.statistics.roundTrips - before.roundTrips <= 2 * nodes)
        #expect(found == entries)
        for key in ["k0", "k17", "k299"] { #expect(try await store.entry(forKey: key) == entries[key]) }
        // A typed bulk get reads values alone: GET per key, no PTTL.
        before = store.statistics
        let values = try await store.get(Array(entries.keys) + ["absent"], as: String.self)
        #expect(values == entries.mapValues { String(decoding: $0.bytes, as: UTF8.self) })
        #expect(store.statistics.commands - before.commands == 301)
        #expect(store.statistics.roundTrips - before.roundTrips <= 2 * nodes)

        before = store.statistics
        #expect(try await store.removeEntries(forKeys: Array(entries.keys) + ["absent"]) == 300)
        #expect(store.statistics.roundTrips - before.roundTrips <= 2 * nodes)
        #expect(try await store.keys(prefix: "").isEmpty)
        try await store.close()
    }

    @Test(
        "a slot in mid-migration (ASK for the keys moved) and then moved (MOVED, the store's map stale): every key read, written and removed where it is",
        .timeLimit(.minutes(2)))
    func migration() async throws {
        let cluster = try await RedisTestCluster()
        let store = try RedisStore(cluster: cluster.seeds)
        let tagged = (0..<20).map { "{mig}\($0)" }
        let others = (0..<30).map { "other\($0)" }
        let keys = tagged + others
        try await store.setEntries(Dictionary(uniqueKeysWithValues: keys.map { ($0, Self.entry($0)) }))
        let slot = RedisClusterSlot.of(Array("{mig}".utf8))
        let source = try cluster.owner(of: slot, in: store)
        let target = try #require(try await cluster.primaries().first { $0 !== source })
        try await cluster.beginMigration(of: slot, from: source, to: target)
        try await cluster.migrate(Array(tagged[0..<10]), from: source, to: target)

        // Half the slot's keys answer ASK: read where they are.
        let read = try await store.entries(forKeys: keys)
        #expect(read == Dictionary(uniqueKeysWithValues: keys.map { ($0, Self.entry($0)) }), "found \(read.count) of 50")

        // Each key written once, where it is: the moved ones on the target, the others on the source.
        try await store.setEntries(Dictionary(uniqueKeysWithValues: keys.map { ($0, Self.entry("new " + $0)) }))
        let onTarget = try await target.cli("CLUSTER", "COUNTKEYSINSLOT", String(slot))
        #expect(onTarget.trimmingCharacters(in: .whitespacesAndNewlines) == "10", "keys of the slot on the target")
        #expect(try await store.entries(forKeys: keys) == Dictionary(uniqueKeysWithValues: keys.map { ($0, Self.entry("new " + $0)) }))

        // The slot moved: the store's map still names the source, which answers MOVED.
        try await cluster.finishMigration(of: slot, from: source, to: target)
        try await store.setEntries(Dictionary(uniqueKeysWithValues: keys.map { ($0, Self.entry("moved " + $0)) }))
        #expect(try await store.entries(forKeys: keys) == Dictionary(uniqueKeysWithValues: keys.map { ($0, Self.entry("moved " + $0)) }))
        #expect(try await store.removeEntries(forKeys: keys + ["{mig}absent"]) == 50)
        #expect(try await store.entries(forKeys: keys).isEmpty)
        try await store.close()
    }

    @Test(
        "a primary killed with a batch out: backendUnavailable naming the backend and the node; the other nodes' keys in writtenKeys",
        .timeLimit(.minutes(2)))
    func nodeGoesAway() async throws {
        let cluster = try await RedisTestCluster()
        var configuration = try cluster.configuration()
        configuration.poolSize = 1
        configuration.commandTimeout = .seconds(30)
        configuration.clusterRetryTime = .seconds(1)
        let store = try RedisStore(configuration: configuration)
        let keys = (0..<60).map { "k\($0)" }
        try await store.setEntries(Dictionary(uniqueKeysWithValues: keys.map { ($0, Self.entry($0)) }))
        let doomed = try cluster.server(named: try #require(store.cluster?.primaries.first).name)
        let lost = Set(try keys.filter { try cluster.owner(of: RedisClusterSlot.of(Array($0.utf8)), in: store) === doomed })
        #expect(!lost.isEmpty && lost.count < keys.count)
        let before = store.statistics.roundTrips
        doomed.send(SIGSTOP)
        let call = Task { try await store.setEntries(Dictionary(uniqueKeysWithValues: keys.map { ($0, Self.entry("new")) })) }
        #expect(try await eventually { store.statistics.roundTrips == before + 3 }, "a pipeline out to each primary")
        doomed.kill()
        let error = await #expect(throws: StrataError(code: .backendUnavailable, message: "")) { try await call.value }
        #expect(error?.backend == store.backendName)
        #expect(error?.description.contains("127.0.0.1:\(doomed.port)") == true, "names the node: \(String(describing: error))")
        #expect(error?.writtenKeys == BulkKeys.byteOrdered(keys.filter { !lost.contains($0) }))
        #expect(lost.contains(error?.key ?? ""), "the key named is one the node lost")
        try await store.close()
    }
}
