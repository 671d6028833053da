import Foundation
import StrataTestSupport
import StrataTesting
import Testing

@testable import Strata

/// The test kit's blocking work (`offPool`: a store's initializer, a child's output) and
/// the package's (`OwnThread`: a DNS or Sentinel look-up, a loopback HTTP connection) run
/// on threads of their own. On `DispatchQueue.global()` they held back every task of the
/// process on Linux: Swift's tasks run on that pool's threads, and it grows by a thread a
/// second while they are blocked (20 blocked items held eight trivial child tasks for
/// 18 s, 40 held a 10 ms sleep for 38 s).
@Suite("Blocking work on threads of its own")
struct BlockingWorkTests {
    @Test(
        "64 blocked offPool calls and 64 reads of silent children hold back no task: new tasks run and a sleep ends while they still wait")
    func blockedWorkLeavesTimersAlone() async throws {
        let blocked = 64
        let children = Lock<[ChildProcess]>([])
        let held = HeldWork(holders: blocked, releasingAfter: .seconds(20)) {
            for child in children.withLock({ $0 }) { child.send(SIGKILL) }
        }
        defer { held.release() }
        for _ in 0..<blocked {
            let child = try ChildProcess("/bin/sleep", ["60"], output: .piped, errors: .discarded)
            children.withLock { $0.append(child) }
        }
        let sleptWhileHeld = try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<blocked {
                group.addTask { await offPool { held.hold() } }
            }
            for child in children.withLock({ $0 }) {
                group.addTask {
                    let output = await child.readToEnd()  // the child writes nothing, and is killed at the release
                    #expect(output.isEmpty)
                }
            }
            // Within the watchdog's 20 s: work merely slow to start must not pass for a late sleep.
            try #require(try await eventually(within: .seconds(15)) { held.holding == blocked })
            // Where the blocked work sits on Dispatch's shared pool, these tasks run and
            // this sleep ends only after the watchdog released the work, 20 s on.
            await withTaskGroup(of: Void.self) { tasks in for _ in 0..<8 { tasks.addTask {} } }
            try await Task.sleep(for: .milliseconds(1))
            let sleptWhileHeld = !held.isReleased
            held.release()
            try await group.waitForAll()
            return sleptWhileHeld
        }
        #expect(sleptWhileHeld, "eight new tasks and a 1 ms sleep ended only after the blocked work was released")
        for child in children.withLock({ $0 }) { #expect(try await child.exited() == 128 + SIGKILL) }
    }

    @Test("OwnThread.run returns the work's value, throws its error, and runs it off the caller's thread")
    func ownThreadRun() async throws {
        let caller = pthread_self()
        let (value, sameThread) = try await OwnThread.run(named: "strata-test") { (42, pthread_equal(pthread_self(), caller) != 0) }
        #expect(value == 42 && !sameThread)
        let error = await #expect(throws: StrataError.self) {
            try await OwnThread.run(named: "strata-test") { () throws -> Int in throw StrataError(code: .timeout, message: "from the work")
            }
        }
        #expect(error?.message == "from the work")
    }

    /// Made on `OwnThread.run`'s thread, read by its caller with no lock between.
    private final class MadeOnThread: @unchecked Sendable {  // written before the hand-off only
        var values: [Int]
        init() { values = Array(1...64) }
    }

    @Test(
        "what OwnThread.run's thread made reaches the caller in an order ThreadSanitizer sees, also when the thread resumed the caller before it suspended"
    )
    func ownThreadRunResumingFirst() async throws {
        // Under TSan (.ci/tsan), this read was reported as a race before SanitizerHandOff: CI
        // saw it on 2026-12-06, a RedisStore made off the pool and read by its bus.
        for _ in 0..<8 {
            let made = try await OwnThread.run(named: "strata-test", resumingBeforeSuspending: true) { MadeOnThread() }
            #expect(made.values == Array(1...64))
            made.values.append(65)  // a write too, after the thread's
            // And an error the thread made, its message a string of its own.
            let error = await #expect(throws: StrataError.self) {
                try await OwnThread.run(named: "strata-test", resumingBeforeSuspending: true) { () throws -> Int in
                    throw StrataError(code: .timeout, message: "made on the thread, \(made.values.count) values")
                }
            }
            #expect(error?.message == "made on the thread, 65 values")
        }
    }
}
