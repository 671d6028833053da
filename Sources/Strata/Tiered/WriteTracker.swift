import Synchronization

/// Keeps a tiered store's L1 from holding a value that disagrees with L2 after this
/// process's own calls complete, without holding any lock across an L2 call.
///
/// Keys are spread over stripes; each stripe counts the writes in flight and numbers
/// the writes begun. A write may leave its value in L1 only if, when it finishes, it
/// was the only write in flight on its stripe and the last one begun: otherwise two
/// writes raced in L2 and no one knows which landed last, so the L1 copy is dropped.
/// A read may copy an L2 hit into L1 only if no write was in flight on the stripe when
/// it read, and none began since. Prefix operations count as writes on every stripe.
/// Every check and the L1 change it guards happen under one lock, so a check cannot go
/// stale before its L1 change. A collision of two keys on a stripe only costs a copy
/// dropped or not made.
final class WriteTracker: Sendable {
    private struct Stripe {
        var inFlight = 0
        var begun: UInt64 = 0
    }

    private struct State {
        var stripes = [Stripe](repeating: Stripe(), count: WriteTracker.stripeCount)
        var prefixWritesInFlight = 0
        var prefixWritesBegun: UInt64 = 0
    }

    struct Ticket {
        let stripe: Int
        let begun: UInt64
        let prefixWritesBegun: UInt64
    }

    struct ReadSnapshot {
        let stripe: Int
        let begun: UInt64
        let prefixWritesBegun: UInt64
        let wasQuiet: Bool
    }

    static let stripeCount = 1_024
    private let state = Mutex(State())

    private static func stripe(of key: ByteKey) -> Int {
        Int(UInt(bitPattern: key.hashValue) % UInt(stripeCount))
    }

    func beginWrite(_ key: ByteKey) -> Ticket {
        let stripe = Self.stripe(of: key)
        return state.withLock { state in
            state.stripes[stripe].inFlight += 1
            state.stripes[stripe].begun &+= 1
            return Ticket(stripe: stripe, begun: state.stripes[stripe].begun, prefixWritesBegun: state.prefixWritesBegun)
        }
    }

    /// Ends a write: runs `keep` when the write's value may stay in L1, `drop` otherwise.
    func finishWrite(_ ticket: Ticket, keep: () throws -> Void, drop: () throws -> Void) rethrows {
        try state.withLock { state in
            defer { state.stripes[ticket.stripe].inFlight -= 1 }
            let stripe = state.stripes[ticket.stripe]
            let alone = stripe.inFlight == 1 && stripe.begun == ticket.begun
                && state.prefixWritesInFlight == 0 && state.prefixWritesBegun == ticket.prefixWritesBegun
            if alone { try keep() } else { try drop() }
        }
    }

    func snapshot(_ key: ByteKey) -> ReadSnapshot {
        let stripe = Self.stripe(of: key)
        return state.withLock { state in
            ReadSnapshot(
                stripe: stripe, begun: state.stripes[stripe].begun, prefixWritesBegun: state.prefixWritesBegun,
                wasQuiet: state.stripes[stripe].inFlight == 0 && state.prefixWritesInFlight == 0)
        }
    }

    /// Runs `fill` if nothing could have changed the key in L2 since `snapshot`; `true` if it ran.
    @discardableResult
    func fillIfUnchanged(since snapshot: ReadSnapshot, _ fill: () throws -> Void) rethrows -> Bool {
        try state.withLock { state in
            let stripe = state.stripes[snapshot.stripe]
            guard snapshot.wasQuiet, stripe.inFlight == 0, stripe.begun == snapshot.begun,
                  state.prefixWritesInFlight == 0, state.prefixWritesBegun == snapshot.prefixWritesBegun
            else { return false }
            try fill()
            return true
        }
    }

    func beginPrefixWrite() {
        state.withLock { state in
            state.prefixWritesInFlight += 1
            state.prefixWritesBegun &+= 1
        }
    }

    /// Ends a prefix write, running `invalidate` (the L1 change) under the lock.
    func finishPrefixWrite(_ invalidate: () throws -> Void) rethrows {
        try state.withLock { state in
            defer { state.prefixWritesInFlight -= 1 }
            try invalidate()
        }
    }
}

/// Runs `operation` for at most `timeout`, abandoning it (it goes on in the background)
/// when it takes longer. For a backend that hangs without honouring cancellation.
func withTimeout<Output: Sendable>(
    _ timeout: Duration?, _ operation: @escaping @Sendable () async throws -> Output
) async throws -> Output {
    guard let timeout else { return try await operation() }
    let outcome = TimeoutRace<Output>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            outcome.start(continuation)
            let work = Task { outcome.finish(with: await Result(catching: { try await operation() })) }
            Task {
                try? await Task.sleep(for: timeout)
                if outcome.finish(with: .failure(TimeoutRace<Output>.TimedOut())) { work.cancel() }
            }
        }
    } onCancel: {
        outcome.finish(with: .failure(CancellationError()))
    }
}

/// Whichever of an operation and its timer finishes first resumes the caller.
final class TimeoutRace<Output: Sendable>: Sendable {
    struct TimedOut: Error {}

    private let state = Mutex<(continuation: CheckedContinuation<Output, any Error>?, early: Result<Output, any Error>?)>((nil, nil))

    func start(_ continuation: CheckedContinuation<Output, any Error>) {
        let early = state.withLock { state -> Result<Output, any Error>? in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Resumes the caller with `result` unless something finished first; `true` if this did.
    @discardableResult
    func finish(with result: Result<Output, any Error>) -> Bool {
        let continuation = state.withLock { state -> CheckedContinuation<Output, any Error>?? in
            if let continuation = state.continuation {
                state.continuation = nil
                state.early = result  // marks it finished
                return .some(continuation)
            }
            if state.early == nil {
                state.early = result  // finished before start
                return .some(nil)
            }
            return nil  // already finished
        }
        guard let continuation else { return false }
        continuation?.resume(with: result)
        return true
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
