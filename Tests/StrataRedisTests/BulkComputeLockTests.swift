import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Testing

/// C3 (Docs/Consistency.md) for the bulk `getOrSet`: instances sharing Redis with a compute
/// lock compute each missing key once between them, whichever instance and call asks.
@Suite("Bulk getOrSet across instances with the compute lock")
struct BulkComputeLockTests {
    static func instances(_ count: Int) async throws -> [TieredStore] {
        let url = try await RedisTestServer.shared
        let namespace = "bulk-lock:\(UUID().uuidString):"
        return try (0..<count).map { _ in
            var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: url))
            configuration.keyNamespace = namespace
            let redis = try RedisStore(configuration: configuration)
            // See TieredStore.Configuration.lockTest in ComputeLockTests.
            return TieredStore(
                l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))
        }
    }

    @Test("C3: a bulk call that meets another instance's locks waits for its values instead of computing them", .timeLimit(.minutes(1)))
    func waitsForTheLockHolder() async throws {
        let caches = try await Self.instances(2)
        let log = BulkCallLog()
        let gate = BulkGate()
        let started = BulkGate()
        let holder = Task {
            try await caches[0].getOrSet(["p:1", "p:2", "p:3"], as: String.self, expires: "1h") { missing in
                log.record(missing)
                started.open()
                await gate.pass()
                return Dictionary(uniqueKeysWithValues: missing.map { ($0, "from A") })
            }
        }
        await started.pass()  // A holds the locks of p:1 to p:3
        let waiting = Task {
            try await caches[1].getOrSet(["p:2", "p:3", "p:4"], as: String.self, expires: "1h") { missing in
                log.record(missing)
                return Dictionary(uniqueKeysWithValues: missing.map { ($0, "from B") })
            }
        }
        // B computes p:4, the one key nobody else holds, without waiting for A.
        #expect(try await eventually { log.all.count == 2 }, "B computed p:4 while A held p:2 and p:3: \(log.all)")
        gate.open()
        #expect(try await holder.value == ["p:1": "from A", "p:2": "from A", "p:3": "from A"])
        #expect(try await waiting.value == ["p:2": "from A", "p:3": "from A", "p:4": "from B"], "B took A's values")
        #expect(log.counts == ["p:1": 1, "p:2": 1, "p:3": 1, "p:4": 1], "each key computed once: \(log.all)")
        _ = try await caches[0].clear()
        for cache in caches { try await cache.close() }
    }

    /// However the three calls interleave (the forced interleaving is the test above), each
    /// key is computed once.
    @Test("C3: three instances asking for overlapping batches at once compute each key once", .timeLimit(.minutes(1)))
    func overlappingBatches() async throws {
        let caches = try await Self.instances(3)
        let log = BulkCallLog()
        let batches = [(0..<8), (4..<12), (2..<10)].map { range in range.map { "q:\($0)" } }
        let results = try await withThrowingTaskGroup(of: [String: Int].self) { group in
            for (index, cache) in caches.enumerated() {
                group.addTask {
                    try await cache.getOrSet(batches[index], as: Int.self, expires: "1h") { missing in
                        log.record(missing)
                        return Dictionary(uniqueKeysWithValues: missing.map { ($0, Int($0.dropFirst(2))!) })
                    }
                }
            }
            return try await group.reduce(into: [[String: Int]]()) { $0.append($1) }
        }
        for result in results { #expect(result.allSatisfy { Int($0.key.dropFirst(2)) == $0.value }) }
        #expect(results.map(\.count).sorted() == [8, 8, 8], "every caller got every key")
        #expect(log.counts.values.allSatisfy { $0 == 1 } && log.counts.count == 12, "each key computed once: \(log.all)")
        _ = try await caches[0].clear()
        for cache in caches { try await cache.close() }
    }
}
