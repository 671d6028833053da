import Dispatch
import Synchronization

/// Threads of a store's own for blocking file work: a call hands its work to the next
/// of a few serial queues and suspends, so a slow disk, another process's lock or a
/// network file system never holds one of Swift's cooperative threads.
final class FileThreads: Sendable {
    private let queues: [DispatchQueue]
    private let next = Atomic<Int>(0)

    /// How many threads there are.
    var count: Int { queues.count }

    /// How many calls have been handed to the threads so far.
    var handOffs: Int { next.load(ordering: .relaxed) }

    init(count: Int, label: String) {
        queues = (0..<count).map { DispatchQueue(label: "\(label).\($0)") }
    }

    /// Runs `work` on one of the threads and returns what it returned (or throws what it threw).
    func run<Output: Sendable>(_ work: @escaping @Sendable () throws -> Output) async throws -> Output {
        let queue = queues[next.add(1, ordering: .relaxed).oldValue % queues.count]
        defer { SanitizerHandOff.receive(through: self) }  // the output or the error
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                let result = Result(catching: work)
                SanitizerHandOff.handOff(through: self)  // also when it resumes before the caller suspended
                continuation.resume(with: result)
            }
        }
    }
}
