/// Polls `condition` until it holds, or until `limit` of real time has passed: whether it held.
///
/// For what a cache does in the background, which a test can only wait for: a sweeper
/// removing expired entries, another instance's change arriving over an invalidation bus,
/// a subscription coming back after its connection dropped. It returns `true` as soon as
/// `condition` holds (it is checked at once, then every `interval`), and `false` when it
/// still does not hold at its last check, the first one at or after the deadline. So the
/// test fails where it waited, with its own message:
///
/// ```swift
/// import StrataTesting
/// import Testing
///
/// // B drops its copy when A's change arrives over the bus.
/// try await a.set("user:1", "new")
/// #expect(try await eventually { try await b.l1.get("user:1", as: String.self) == nil }, "B dropped its stale copy")
///
/// // A step the rest of the test needs: stop there if it never happens.
/// try #require(await eventually(within: .seconds(30)) { bus.isSubscribed }, "the bus subscribed")
/// ```
///
/// It suspends between checks (it never blocks a thread), and it runs `condition` in the
/// caller's isolation, so the condition may read the caller's state. An error `condition`
/// throws, or the task's cancellation, ends the wait and is thrown.
///
/// - Parameters:
///   - limit: How long to keep checking, in real time (a ``ManualClock`` does not move it).
///     The default, 30 seconds, is long: a wait that succeeds returns as soon as it can, and
///     a loaded machine can take seconds for what usually takes milliseconds (a suite of
///     hundreds of tests on two cores has held a job for Swift's cooperative pool 3.7 s at
///     a time, and a sweeper needs several such jobs: 10 seconds once ran out).
///   - interval: How long to wait between checks.
///   - isolation: The caller's actor, where `condition` runs: leave it to its default.
///   - condition: What to wait for.
/// - Returns: `true` as soon as `condition` returned `true`; `false` if it did not by the deadline.
public func eventually(
    within limit: Duration = .seconds(30),
    poll interval: Duration = .milliseconds(10),
    isolation: isolated (any Actor)? = #isolation,
    _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try await Task.sleep(for: interval)
    }
}
