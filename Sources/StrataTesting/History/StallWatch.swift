import Foundation
import Strata
import Synchronization

/// Watches for stalls while a history runs, with a thread of its own that wakes every
/// millisecond: a wake later than `threshold` marks a stall of the process (or the
/// machine); a job it gives Swift's cooperative pool that starts later than `threshold`
/// marks a stall of the pool (its threads held), which delays a bus's publishing task.
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
    private let processStalled = Atomic<Int64>(0)
    private let stopped = Atomic<Bool>(false)
    /// When the job given to the pool that has not started yet was given; 0 when none waits.
    private let probeGiven = Atomic<Int64>(0)
    /// Nanoseconds the thread sleeps once, at its next wake (a test's stall).
    private let hold = Atomic<Int64>(0)

    /// Starts watching; times are nanoseconds since `origin` (the history's clock).
    package init(origin: ContinuousClock.Instant, threshold: Duration) {
        self.origin = origin
        self.threshold = Self.nanoseconds(threshold)
        Thread.detachNewThread { [self] in
            var last = now()
            while !stopped.load(ordering: .relaxed) {
                let held = hold.exchange(0, ordering: .relaxed)
                usleep(useconds_t(max(1_000, held / 1_000)))
                let current = now()
                if current - last > self.threshold {
                    record(from: last, to: current)
                    processStalled.add(current - last, ordering: .relaxed)
                }
                last = current
                if probeGiven.compareExchange(expected: 0, desired: current, ordering: .relaxed).exchanged {
                    Task.detached { [self] in
                        let given = probeGiven.exchange(0, ordering: .relaxed)
                        let started = now()
                        if given != 0, started - given > self.threshold { record(from: given, to: started) }
                    }
                }
            }
        }
    }

    /// Makes the thread sleep `duration` once: a stall, for a test of the watch.
    package func holdHeartbeat(for duration: Duration) {
        hold.store(Self.nanoseconds(duration), ordering: .relaxed)
    }

    /// Stops watching and returns the stalls seen.
    package func stop() -> HistoryStalls {
        stopped.store(true, ordering: .relaxed)
        return HistoryStalls(spans.withLock { $0 }, ofTheProcess: processStalled.load(ordering: .relaxed))
    }

    private func record(from start: Int64, to end: Int64) {
        guard !stopped.load(ordering: .relaxed) else { return }
        spans.withLock { $0.append((start: start, end: end)) }
    }

    private func now() -> Int64 { Self.nanoseconds(ContinuousClock.now - origin) }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}
