import Foundation
import StrataTestSupport
import StrataTesting
import Testing

@testable import Strata

/// The test kit's blocking work (`offPool`: a store's initializer, a child's output) and
/// the package's (`OwnThread`: a DNS or Sentinel look-up, a loopback HTTP connection) run
/// on threads of their own. On `DispatchQueue.global()` they held back every timer of the
/// process on Linux: its `Task.sleep`s resume through that pool, which grows by a thread a
/// second while its threads are blocked (40 blocked items held a 10 ms sleep for 38 s),
/// and the Sentinel fixture's 60 s wait for its sentinels failed in CI, its replies read
/// long after they were written.
@Suite("Blocking work on threads of its own")
struct BlockingWorkTests {
    @Test(
        "300 blocked offPool calls and 300 reads of silent children hold back no timer: a sleep ends while they wait",
        .timeLimit(.minutes(1)))
    func blockedWorkLeavesTimersAlone() async throws {
        let blocked = 300
        let release = DispatchSemaphore(value: 0)
        let started = Lock(0)
        let children = try (0..<blocked).map { _ in
            try ChildProcess("/bin/sleep", ["60"], output: .piped, errors: .discarded)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<blocked {
                group.addTask {
                    await offPool {
                        started.withLock { $0 += 1 }
                        release.wait()
                    }
                }
            }
            for child in children {
                group.addTask {
                    let output = await child.readToEnd()  // the child writes nothing, then is killed
                    #expect(output.isEmpty)
                }
            }
            // Every offPool call is blocked on its own thread.
            #expect(try await eventually(within: .seconds(30)) { started.withLock { $0 } == blocked })
            // Fails where the blocked work sits on Dispatch's shared pool: the wake-up of
            // this sleep waits behind 600 blocked items, and the test hangs past its limit.
            try await Task.sleep(for: .milliseconds(1))
            for _ in 0..<blocked { release.signal() }
            for child in children { child.send(SIGKILL) }
            try await group.waitForAll()
        }
        for child in children { #expect(try await child.exited() == 128 + SIGKILL) }
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
}
