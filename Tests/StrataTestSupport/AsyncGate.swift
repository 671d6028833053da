import Strata

/// A gate a test opens: `wait()` suspends until `open()`, and returns at once after it.
///
/// ```swift
/// let held = AsyncGate()
/// let leader = Task { await held.wait(); return 1 }
/// held.open()
/// ```
public final class AsyncGate: Sendable {
    private let state = Lock<(open: Bool, waiting: Int, waiters: [CheckedContinuation<Void, Never>])>((false, 0, []))

    public init() {}

    /// Suspends until the gate opens.
    public func wait() async {
        await withCheckedContinuation { continuation in
            let goOn = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiting += 1
                state.waiters.append(continuation)
                return false
            }
            if goOn { continuation.resume() }
        }
    }

    /// How many calls of `wait()` have been held so far (held ones stay counted once it opens).
    public var held: Int { state.withLock { $0.waiting } }

    /// Lets every waiter go on, and any later one pass.
    public func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
