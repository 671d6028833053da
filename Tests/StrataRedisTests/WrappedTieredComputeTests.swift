import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Testing

/// A prefixed view and a fault injector over a `TieredStore` keep its compute path
/// (`Pipeline`): its single flight (C1) and its compute lock (C3), for `getOrSet` with options.
@Suite("Wrappers keep the tiered compute path")
struct WrappedTieredComputeTests {
    /// A tiered store over Redis in a namespace of its own, with a compute lock when asked.
    static func tiered(namespace: String, computeLock: Bool, computeLockWait: Duration = .seconds(5)) async throws -> TieredStore {
        var redisConfiguration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: await RedisTestServer.shared))
        redisConfiguration.keyNamespace = namespace
        let redis = try RedisStore(configuration: redisConfiguration)
        // l2Timeout: a read stalled past it skips the lock by design (see ComputeLockTests).
        var configuration = TieredStore.Configuration(
            l2Timeout: .seconds(60), computeLock: computeLock ? RedisComputeLock(redis: redis) : nil)
        configuration.computeLockWait = computeLockWait
        configuration.computeLockLease = .seconds(120)  // see TieredStore.Configuration.lockTest
        return TieredStore(l1: MemoryStore(maxEntries: 1_000), l2: redis, configuration: configuration)
    }

    static let options = EntryOptions(expires: "1h", grace: "1h", tags: ["tenants"])

    /// Asks for `tenant:k` through `wrapper` ("prefixed": `cache.prefixed("tenant:")`;
    /// "fault injector": a `FaultInjectingStore` wrapping `cache`) or through `cache` itself.
    static func ask(_ cache: TieredStore, through wrapper: String?, value: String, _ computations: Counter) async throws -> String {
        let compute: @Sendable () async throws -> String = {
            computations.increment()
            return value
        }
        switch wrapper {
        case "prefixed": return try await cache.prefixed("tenant:").getOrSet("k", as: String.self, options: options, compute: compute)
        case "fault injector":
            return try await FaultInjectingStore(wrapping: cache).getOrSet("tenant:k", as: String.self, options: options, compute: compute)
        default: return try await cache.getOrSet("tenant:k", as: String.self, options: options, compute: compute)
        }
    }

    @Test(
        "C1 through wrappers: concurrent getOrSet with options through a tiered store, a prefixed view and a fault injector over it share one flight: one computation",
        .timeLimit(.minutes(1)))
    func singleFlightSharedWithWrappers() async throws {
        let cache = try await Self.tiered(namespace: "wrapped-flight:\(UUID().uuidString):", computeLock: false)
        let computations = Counter()
        // The first caller is held at its miss until every other caller has read the key
        // (a miss each) and so joins its flight, or would compute on its own.
        let gate = PipelineGates.shared.arm(.afterMiss, key: "tenant:k", in: cache)
        defer { PipelineGates.shared.disarm(gate) }
        let leader = Task { try await Self.ask(cache, through: nil, value: "computed once", computations) }
        try await gate.reached()
        let followers = (0..<12).map { index in
            Task {
                try await Self.ask(cache, through: [nil, "prefixed", "fault injector"][index % 3], value: "computed again", computations)
            }
        }
        #expect(try await eventually(within: .seconds(10)) { cache.statistics.misses >= 13 }, "every caller read the key and missed")
        gate.open()
        #expect(try await leader.value == "computed once")
        for follower in followers {
            #expect(try await follower.value == "computed once", "a follower got the leader's value")
        }
        #expect(computations.count == 1, "computed \(computations.count) times for callers through the store and its wrappers")
        _ = try await cache.clear()
        try await cache.close()
    }

    @Test(
        "C3 through wrappers: getOrSet with options through a prefixed view or a fault injector over a tiered store takes its compute lock: it waits for another instance's computation",
        .timeLimit(.minutes(1)), arguments: ["prefixed", "fault injector"])
    func computeLockThroughWrapper(wrapper: String) async throws {
        let namespace = "wrapped-lock:\(UUID().uuidString):"
        // computeLockWait of a minute: only the holder's value (or its release) lets the wrapper's call go on.
        let cache = try await Self.tiered(namespace: namespace, computeLock: true, computeLockWait: .seconds(60))
        let other = try await Self.tiered(namespace: namespace, computeLock: true)
        let computations = Counter()
        // The other instance takes the lock and is held at its miss, computing.
        let gate = PipelineGates.shared.arm(.afterMiss, key: "tenant:k", in: other)
        defer { PipelineGates.shared.disarm(gate) }
        let holder = Task { try await Self.ask(other, through: nil, value: "the holder's", computations) }
        try await gate.reached()
        let waiting = Task { try await Self.ask(cache, through: wrapper, value: "the wrapper's", computations) }
        // While it waits for the lock, the wrapper's call looks for the holder's value in L2:
        // a miss each time (a call that ignored the lock would compute at once instead).
        #expect(try await eventually(within: .seconds(10)) { cache.statistics.misses >= 3 }, "the wrapper's call waits for the lock")
        #expect(computations.count == 0, "nothing computed yet: the holder is held at its miss, and the wrapper's call waits")
        gate.open()
        #expect(try await holder.value == "the holder's")
        #expect(try await waiting.value == "the holder's", "the wrapper's call got the holder's value")
        #expect(computations.count == 1, "computed \(computations.count) times")
        _ = try await cache.clear()
        try await cache.close()
        try await other.close()
    }
}
