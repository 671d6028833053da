import Foundation
import Strata

/// Blocking work held until it is released, by the test or, whatever happens, by a watchdog
/// thread after a time limit: a test of what the process can still do while the work is
/// blocked then fails, rather than hangs, where it cannot do it (a timer that waits until
/// the work is released), and leaves nothing blocked behind it.
///
/// ```swift
/// let held = HeldWork(holders: 64, releasingAfter: .seconds(20))
/// defer { held.release() }
/// for _ in 0..<64 { Task { await offPool { held.hold() } } }
/// try await Task.sleep(for: .milliseconds(1))
/// #expect(!held.isReleased, "the sleep ended while the work was blocked")
/// ```
package final class HeldWork: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let state = Lock((released: false, holding: 0))
    private let holders: Int
    private let onRelease: @Sendable () -> Void

    /// Work for `holders` holders, released after `limit` at the latest; `onRelease` runs
    /// once, at the release (say, to kill child processes the work reads).
    package init(holders: Int, releasingAfter limit: Duration, onRelease: @escaping @Sendable () -> Void = {}) {
        self.holders = holders
        self.onRelease = onRelease
        let deadline = ContinuousClock.now + limit
        // Foundation's own thread: neither Swift's pools nor Dispatch's, which the work may fill.
        Thread.detachNewThread { [self] in
            while !isReleased, ContinuousClock.now < deadline { usleep(10_000) }
            release()
        }
    }

    /// Blocks the calling thread until the release.
    package func hold() {
        let released = state.withLock { state in
            state.holding += 1
            return state.released
        }
        if !released { semaphore.wait() }  // one signal per holder: a late one must not wait for another
    }

    /// How many holders are blocked or were.
    package var holding: Int { state.withLock { $0.holding } }

    /// Whether the work was released.
    package var isReleased: Bool { state.withLock { $0.released } }

    /// Releases every holder, once.
    package func release() {
        let first = state.withLock { state in
            defer { state.released = true }
            return !state.released
        }
        guard first else { return }
        for _ in 0..<holders { semaphore.signal() }
        onRelease()
    }
}
