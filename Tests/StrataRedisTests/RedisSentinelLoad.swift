import Foundation
import Strata
import StrataRedis
import StrataTesting
import Testing

/// What 16 tasks writing through a store behind Sentinel saw while the primary changed.
struct SentinelLoad: Sendable {
    let name: String
    let successes: Int
    /// Failures by error code, and those that were not `backendUnavailable` (with their text).
    let failures: Int
    let wrongErrors: [String]
    let slowestFailure: Duration
    /// The longest a failed call may take: a call waits up to the command timeout to be
    /// written (a connection being made), then up to the command timeout for its reply.
    let bound: Duration
    /// From the event to the end of the last call that failed.
    let recovered: Duration
    let acknowledged: Int
    let lost: Int
    /// From the first write that was then lost to the last, by their acknowledgements: how
    /// long the old primary took the store's writes once they no longer reached the new one
    /// (from the promotion, give or take the replication's lag, until the store moved; zero
    /// when none was lost). Measured on the writes, so Sentinel's own time to promote does
    /// not count.
    let lostWindow: Duration
    /// When the last write that was then lost was acknowledged, after the event.
    let lastLostAfter: Duration
    let newPrimary: Int?

    /// Runs the load, makes `event` happen after a second of it, and stops once the
    /// sentinels name another primary and no call failed for 2 s (or after 60 s).
    static func run(
        on set: RedisTestSentinels, name: String, event: @escaping @Sendable () async throws -> Void
    ) async throws -> SentinelLoad {
        var configuration = RedisStore.Configuration(endpoint: RedisEndpoint(address: .tcp(host: "", port: 0)))
        configuration.sentinel = try RedisSentinel.parse(url: set.url()).sentinel
        configuration.connectTimeout = .seconds(1)
        configuration.commandTimeout = .seconds(2)
        let store = try await makeStoreOffPool(configuration)
        let bound = configuration.commandTimeout * 2 + .milliseconds(500)
        let seen = Lock((successes: 0, failures: 0, wrong: [String](), slowest: Duration.zero, lastFailure: ContinuousClock.Instant?.none))
        let acknowledged = Lock([String: (value: Int, at: ContinuousClock.Instant)]())
        let running = Lock(true)
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for task in 0..<16 {
                    group.addTask {
                        var index = 0
                        while running.withLock({ $0 }) {
                            index += 1
                            let key = "load:\(task):\(index)"  // each write a key of its own: a lost one is not hidden by a later one
                            let started = ContinuousClock.now
                            do {
                                try await store.set(key, index)
                                let at = ContinuousClock.now
                                acknowledged.withLock { $0[key] = (index, at) }
                                seen.withLock { $0.successes += 1 }
                            } catch {
                                let ended = ContinuousClock.now
                                seen.withLock { seen in
                                    seen.failures += 1
                                    seen.slowest = max(seen.slowest, ended - started)
                                    seen.lastFailure = ended
                                    if (error as? StrataError)?.code != .backendUnavailable { seen.wrong.append("\(error)") }
                                }
                            }
                        }
                    }
                }
            }
        }
        try await Task.sleep(for: .seconds(1))
        let oldPrimary = try await set.primaryPort()
        let happened = ContinuousClock.now
        try await event()
        let deadline = happened + .seconds(60)
        var newPrimary: Int?
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            if newPrimary == nil, let port = try? await set.primaryPort(), port != oldPrimary { newPrimary = port }
            let quiet = seen.withLock { seen in
                seen.lastFailure.map { ContinuousClock.now - $0 > .seconds(2) } ?? (ContinuousClock.now - happened > .seconds(5))
            }
            if newPrimary != nil, quiet { break }
        }
        running.withLock { $0 = false }
        await load.value
        let written = acknowledged.withLock { $0 }
        let keys = Array(written.keys)
        let lostAt = await withTaskGroup(of: [ContinuousClock.Instant].self) { group in
            for part in 0..<16 {
                group.addTask {
                    var lost: [ContinuousClock.Instant] = []
                    for index in stride(from: part, to: keys.count, by: 16) {
                        let key = keys[index]
                        if let write = written[key], (try? await store.get(key, as: Int.self)) != write.value { lost.append(write.at) }
                    }
                    return lost
                }
            }
            return await group.reduce([], +)
        }
        let lost = lostAt.count
        try await store.close()
        let outcome = seen.withLock { $0 }
        return SentinelLoad(
            name: name, successes: outcome.successes, failures: outcome.failures, wrongErrors: outcome.wrong,
            slowestFailure: outcome.slowest, bound: bound,
            recovered: outcome.lastFailure.map { max(.zero, $0 - happened) } ?? .zero,
            acknowledged: written.count, lost: lost,
            lostWindow: lostAt.max().flatMap { last in lostAt.min().map { last - $0 } } ?? .zero,
            lastLostAfter: lostAt.max().map { max(.zero, $0 - happened) } ?? .zero,
            newPrimary: newPrimary)
    }

    /// Every failure was `backendUnavailable` within its bound, and calls worked again.
    func check() {
        print(
            """
            \(name) under 16 tasks: \(successes) calls succeeded, \(failures) failed (slowest \(slowestFailure), bound \(bound)); \
            every call succeeded again \(recovered) after it; acknowledged writes lost: \(lost) of \(acknowledged), acknowledged within \(lostWindow), the last \(lastLostAfter) after the event
            """)
        #expect(wrongErrors.isEmpty, "errors other than backendUnavailable: \(wrongErrors.prefix(5))")
        #expect(slowestFailure <= bound, "a failed call took \(slowestFailure)")
        #expect(newPrimary != nil, "the sentinels named a new primary")
        #expect(recovered < .seconds(30))
        #expect(successes > 0)
    }
}
