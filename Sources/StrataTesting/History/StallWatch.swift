import Foundation
import Strata
import Synchronization

/// Watches for stalls of the process while a history runs: a thread of its own and a task
/// on Swift's cooperative pool each tick every millisecond, and a tick later than
/// `threshold` marks a stall (the thread: the process or the machine was not scheduled; the
/// task: the cooperative pool was held, where a bus publishes its announcements).
///
/// ```swift
/// let watch = StallWatch(origin: ContinuousClock.now, threshold: .milliseconds(100))
/// // … run the history …
/// let stalls = watch.stop()
/// ```
package final class StallWatch: Sendable {
    private let origin: ContinuousClock.Instant
    private let threshold: Int64
    private let spans = Lock<[(start: Int64, end: Int64)]>([])
    private let stopped = Atomic<Bool>(false)
    /// Nanoseconds the heartbeat thread sleeps once, at its next tick (a test's stall).
    private let hold = Atomic<Int64>(0)
    private let task = Lock<Task<Void, Never>?>(nil)

    /// Starts watching; times are nanoseconds since `origin` (the history's clock).
    package init(origin: ContinuousClock.Instant, threshold: Duration) {
        self.origin = origin
        self.threshold = Self.nanoseconds(threshold)
        Thread.detachNewThread { [self] in
            var last = now()
            while !stopped.load(ordering: .relaxed) {
                let held = hold.exchange(0, ordering: .relaxed)
                usleep(useconds_t(max(1_000, held / 1_000)))
                last = tick(after: last)
            }
        }
        task.withLock {
            $0 = Task { [self] in
                var last = now()
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(1))
                    last = tick(after: last)
                }
            }
        }
    }

    /// Makes the heartbeat thread sleep `duration` once: a stall, for a test of the watch.
    package func holdHeartbeat(for duration: Duration) {
        hold.store(Self.nanoseconds(duration), ordering: .relaxed)
    }

    /// Stops watching and returns the stalls seen.
    package func stop() -> HistoryStalls {
        stopped.store(true, ordering: .relaxed)
        task.withLock { $0?.cancel() }
        return HistoryStalls(spans.withLock { $0 })
    }

    /// Records the span since `last` when it is longer than the threshold; returns now.
    private func tick(after last: Int64) -> Int64 {
        let current = now()
        if current - last > threshold, !stopped.load(ordering: .relaxed) {
            spans.withLock { $0.append((start: last, end: current)) }
        }
        return current
    }

    private func now() -> Int64 { Self.nanoseconds(ContinuousClock.now - origin) }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}
