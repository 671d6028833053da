import Strata

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The thread that hands the invalidation buses' news to their stores, in the order it was
/// read: messages, and the drop of L1 when a subscription is lost.
///
/// Not the event loop, which serves every Redis connection of the process and must never
/// run a store's work or its observers; not Swift's cooperative pool, whose threads a busy
/// application can hold for seconds; not Dispatch's, which tests and applications fill
/// with blocking work: a loss must drop L1 at once whatever else the process does.
final class RedisDeliveryThread: Sendable {
    /// The process's delivery thread, started with the first bus that subscribes.
    static let shared = RedisDeliveryThread()

    private let jobs = Lock<[@Sendable () -> Void]>([])
    /// The thread sleeps reading the pipe; a byte written wakes it.
    private let wakeUp: (read: Int32, write: Int32)

    private init() {
        var ends: [Int32] = [0, 0]
        precondition(pipe(&ends) == 0, "cannot make the delivery thread's pipe: \(RedisSocket.describe(errno: errno))")
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)  // a full pipe already wakes it
        wakeUp = (ends[0], ends[1])
        startThread { [self] in run() }
    }

    /// Runs `job` on the delivery thread, after the jobs given before it.
    func async(_ job: @escaping @Sendable () -> Void) {
        jobs.withLock { $0.append(job) }
        var byte: UInt8 = 1
        _ = write(wakeUp.write, &byte, 1)
    }

    private func run() {
        var drained = [UInt8](repeating: 0, count: 64)
        while true {
            if read(wakeUp.read, &drained, drained.count) < 0 && errno != EINTR { continue }
            let batch = jobs.withLock { jobs in
                defer { jobs.removeAll(keepingCapacity: true) }
                return jobs
            }
            for job in batch { job() }
        }
    }
}
