import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Testing

/// With the compute lock, a `getOrSet` still counts one request in L1's W-TinyLFU sample:
/// its looks at L1 after the first (the lock's read, a waiter's polls of L2) count nothing.
@Suite("Compute lock: one request counted in L1 a call")
struct ComputeLockRequestCountTests {
    /// A tiered instance over its own connection, its L1 bounded (W-TinyLFU, which counts).
    static func instance(_ server: RedisTestServer) throws -> (TieredStore, MemoryStore, RedisStore) {
        let redis = try RedisStore(url: server.unixURL)
        let l1 = MemoryStore(configuration: .init(maxEntries: 1_000))
        return (TieredStore(l1: l1, l2: redis, configuration: .lockTest(redis)), l1, redis)
    }

    @Test(
        "a miss, an L2 hit, an L1 hit and a wait for another instance's computation (polling L2) each count one request",
        .timeLimit(.minutes(1)))
    func oneRequestPerCall() async throws {
        let server = try await RedisTestServer()
        let (a, aL1, _) = try Self.instance(server)
        let (b, bL1, bRedis) = try Self.instance(server)
        var counted = aL1.requestsCountedForWindow
        #expect(try await a.getOrSet("miss", as: String.self) { "computed" } == "computed")
        #expect(aL1.requestsCountedForWindow == counted + 1, "a miss computed under the lock")
        counted = bL1.requestsCountedForWindow
        #expect(try await b.getOrSet("miss", as: String.self) { "again" } == "computed")
        #expect(bL1.requestsCountedForWindow == counted + 1, "an L2 hit read with the lock")
        #expect(try await b.getOrSet("miss", as: String.self) { "again" } == "computed")
        #expect(bL1.requestsCountedForWindow == counted + 2, "an L1 hit")

        // A holds the lock of "slow" until released; B waits for its value, polling L2.
        let (started, startedSignal) = AsyncStream<Void>.makeStream()
        let (release, releaseSignal) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await a.getOrSet("slow", as: String.self) {
                startedSignal.yield()
                for await _ in release { break }
                return "from A"
            }
        }
        for await _ in started { break }
        counted = bL1.requestsCountedForWindow
        let roundTrips = bRedis.statistics.roundTrips
        let waiter = Task { try await b.getOrSet("slow", as: String.self) { "from B" } }
        // Released once B has read L2 a few times while A held the lock (polls every 10 ms).
        while bRedis.statistics.roundTrips < roundTrips + 4 { try await Task.sleep(for: .milliseconds(5)) }
        releaseSignal.yield()
        #expect(try await holder.value == "from A")
        #expect(try await waiter.value == "from A", "B waited for A's value")
        #expect(bL1.requestsCountedForWindow == counted + 1, "B's wait, polls and all, counted once")
    }
}
