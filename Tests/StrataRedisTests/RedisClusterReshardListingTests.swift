import Foundation
import Strata
import StrataTesting
import Synchronization
import Testing

@testable import StrataRedis

/// Leased writes while slots move: each task takes a lease on a key of its own, changes
/// the key on every other round, then writes under the lease. The leased write must be
/// refused exactly when the key changed, and the key must then hold the change.
final class LeaseLoad: Sendable {
    let running = Lock(true)
    let seen = Lock((landed: 0, refused: 0, problems: [String]()))

    func run(on store: RedisStore) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for task in 0..<4 {
                    group.addTask {
                        var round = 0
                        while self.running.withLock({ $0 }) {
                            round += 1
                            let key = "lease:\(task):\(round % 100)"
                            let changed = round % 2 == 0
                            do {
                                let lease = EntryLease.random()
                                _ = try await store.leaseEntry(forKey: key, lease: lease, duration: .seconds(60))
                                let change = Array("changed \(round)".utf8)
                                if changed { try await store.setEntry(StoredEntry(bytes: change), forKey: key) }
                                let computed = Array("computed \(round)".utf8)
                                let wrote = try await store.setEntry(
                                    StoredEntry(bytes: computed), forKey: key, ifLeased: lease, keepingLease: false)
                                let now = try await store.entry(forKey: key)?.bytes
                                self.seen.withLock {
                                    if wrote { $0.landed += 1 } else { $0.refused += 1 }
                                    if wrote == changed { $0.problems.append("\(key) round \(round): changed \(changed), wrote \(wrote)") }
                                    if now != (changed ? change : computed) {
                                        $0.problems.append("\(key) round \(round): holds the wrong value")
                                    }
                                }
                            } catch {
                                self.seen.withLock { $0.problems.append("\(key): \(error)") }
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

@Suite("RedisStore on a Redis Cluster: listings and clears while slots move")
struct RedisClusterReshardListingTests {
    /// Writes `keys` (the value is the key) with 32 tasks at once.
    static func fill(_ store: RedisStore, _ keys: [String]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for part in 0..<32 {
                group.addTask { for index in stride(from: part, to: keys.count, by: 32) { try await store.set(keys[index], keys[index]) } }
            }
            try await group.waitForAll()
        }
    }

    @Test(
        "while 1,000 slots move under load, clear(prefix:) removes every key written before it (a direct scan of every node finds none left) and keys(prefix:) lists every key of a stable set; leased writes land or are refused as they should",
        .timeLimit(.minutes(5)))
    func listingsDuringResharding() async throws {
        let cluster = try await RedisTestCluster()
        var configuration = try cluster.configuration()
        configuration.scanBatchSize = 100  // a longer pass, so more keys move during it
        let store = try RedisStore(configuration: configuration)
        let clears = 5, perClear = 5_000, stable = 10_000
        let stableKeys = (0..<stable).map { "k:\($0)" }
        try await Self.fill(store, (0..<clears).flatMap { clear in (0..<perClear).map { "c\(clear):\($0)" } } + stableKeys)

        // Slots move from the primary scanned last to the one scanned first: a pass that does
        // not notice the move misses the keys that moved behind it.
        let order = try #require(store.cluster?.primaries)
        let target = try cluster.server(named: order[0].name)
        let source = try cluster.server(named: order[order.count - 1].name)
        let slotsBefore = try await cluster.slotCount(of: target)
        let load = ClusterLoad()
        let running = load.run(on: store)
        let leases = LeaseLoad()
        let leasing = leases.run(on: store)
        let sourceID = try await cluster.id(of: source), targetID = try await cluster.id(of: target)
        let reshardStarted = ContinuousClock.now
        let reshard = Task {
            let output = try await source.cli(arguments: [
                "--cluster", "reshard", "127.0.0.1:\(source.port)", "--cluster-from", sourceID, "--cluster-to", targetID,
                "--cluster-slots", "1000", "--cluster-yes",
            ])
            return (output, ContinuousClock.now - reshardStarted)
        }
        try #require(
            await eventually(within: .seconds(60), poll: .milliseconds(5)) { try await cluster.slotCount(of: target) != slotsBefore },
            "the slots began to move")

        var overlapped = 0
        var clearTimes: [Duration] = [], listTimes: [Duration] = []
        for clear in 0..<clears {
            let slotsAtStart = try await cluster.slotCount(of: target)
            var started = ContinuousClock.now
            let removed = try await store.clear(prefix: "c\(clear):")
            clearTimes.append(ContinuousClock.now - started)
            #expect(removed == perClear, "clear(prefix: c\(clear):) removed \(removed)")
            started = ContinuousClock.now
            let listed = try await store.keys(prefix: "k:")
            listTimes.append(ContinuousClock.now - started)
            #expect(listed.count == stable, "keys(prefix: k:) listed \(listed.count) of \(stable)")
            if try await cluster.slotCount(of: target) != slotsAtStart { overlapped += 1 }
        }
        let (output, reshardTook) = try await reshard.value
        await load.stop(running)
        await leases.stop(leasing)

        #expect(output.contains("Moving slot"), "redis-cli moved slots: \(output.suffix(300))")
        #expect(try await cluster.slotCount(of: target) == slotsBefore + 1_000)
        #expect(overlapped >= 1, "no clear ran while slots moved")
        let rescans = store.rescans.load(ordering: .relaxed)
        #expect(rescans >= 1, "a pass that met moving slots scanned them again")
        let seen = load.seen.withLock { $0 }
        #expect(seen.failures.isEmpty, "\(seen.failures.count) calls failed: \(seen.failures.prefix(3))")
        #expect(seen.wrong.isEmpty, "\(seen.wrong.prefix(3))")
        let leased = leases.seen.withLock { $0 }
        #expect(leased.problems.isEmpty, "\(leased.problems.count) leased writes went wrong: \(leased.problems.prefix(3))")
        #expect(leased.landed > 10 && leased.refused > 10, "\(leased.landed) landed, \(leased.refused) refused")

        // Nothing of the cleared prefixes on any node (replicas follow their primaries).
        var left: [String: [String]] = [:]
        let settled = try await eventually(within: .seconds(5), poll: .milliseconds(100)) {
            left = try await cluster.namesOnEveryNode(matching: "c[0-9]:*").filter { !$0.value.isEmpty }
            return left.isEmpty
        }
        #expect(settled, "keys left: \(left.mapValues { $0.count }), e.g. \(left.values.first?.prefix(3) ?? [])")
        #expect(Set(try await store.keys(prefix: "k:")) == Set(stableKeys))
        print(
            """
            resharding 1,000 slots took \(reshardTook); \(overlapped) of \(clears) rounds ran while slots moved, \(rescans) passes \
            made again; \
            clear(prefix:) of \(perClear) keys: \(clearTimes); keys(prefix:) of \(stable): \(listTimes); \
            leased writes: \(leased.landed) landed, \(leased.refused) refused
            """)
        try await store.close()
    }
}
