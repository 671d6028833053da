import Synchronization

/// Runs `operation` for at most `timeout`, abandoning it (it goes on in the background)
/// when it takes longer. For a backend that hangs without honouring cancellation.
///
/// The operation starts at once on the caller's thread (`Task.immediate`): an L2 call that
/// completes without suspending (SQLite's usual case) finishes before any timer exists,
/// so the fast path costs no thread hop and no timer. Only an operation that suspends gets
/// a deadline, kept by one shared watchdog rather than a sleeping task per call: the first
/// version (a task for the work and a task sleeping out the timeout, per call) made a
/// getOrSet miss over SQLite cost 52–104 µs instead of 22–33 µs.
func withTimeout<Output: Sendable>(
    _ timeout: Duration?, _ operation: @escaping @Sendable () async throws -> Output
) async throws -> Output {
    guard let timeout else { return try await operation() }
    let race = TimeoutRace<Output>()
    defer { SanitizerHandOff.receive(through: race) }  // see TimeoutRace.finish(with:)
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(continuation)
            let work = Task.immediate {
                let result = await Result(catching: { try await operation() })
                if race.finish(with: result) { race.disarm() }
            }
            race.track(work)
            if !race.isFinished {
                race.arm(
                    TimeoutWatchdog.shared.schedule(after: timeout) {
                        if race.finish(with: .failure(TimeoutRace<Output>.TimedOut())) { race.abandon() }
                    })
            }
        }
    } onCancel: {
        if race.finish(with: .failure(CancellationError())) { race.abandon() }
    }
}

/// Whichever of an operation and its deadline finishes first resumes the caller.
final class TimeoutRace<Output: Sendable>: Sendable {
    struct TimedOut: Error {}

    private struct State {
        var continuation: CheckedContinuation<Output, any Error>?
        var result: Result<Output, any Error>?
        var work: Task<Void, Never>?
        var deadline: UInt64?
        var abandoned = false
        var disarmed = false
    }

    private let state = Lock(State())

    var isFinished: Bool { state.withLock { $0.result != nil } }

    func start(_ continuation: CheckedContinuation<Output, any Error>) {
        let early = state.withLock { state -> Result<Output, any Error>? in
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Resumes the caller with `result` unless something finished first; `true` if this did.
    @discardableResult
    func finish(with result: Result<Output, any Error>) -> Bool {
        let outcome = state.withLock { state -> (won: Bool, continuation: CheckedContinuation<Output, any Error>?) in
            guard state.result == nil else { return (false, nil) }
            state.result = result
            defer { state.continuation = nil }
            return (true, state.continuation)
        }
        SanitizerHandOff.handOff(through: self)  // the output, also to a caller not suspended yet
        outcome.continuation?.resume(with: result)
        return outcome.won
    }

    func track(_ work: Task<Void, Never>) {
        let cancelNow = state.withLock { state in
            state.work = work
            return state.abandoned
        }
        if cancelNow { work.cancel() }
    }

    func arm(_ deadline: UInt64) {
        let cancelNow = state.withLock { state in
            state.deadline = deadline
            return state.disarmed
        }
        if cancelNow { TimeoutWatchdog.shared.cancel(deadline) }
    }

    /// The operation finished: its deadline is no longer needed.
    func disarm() {
        let deadline = state.withLock { state in
            state.disarmed = true
            return state.deadline
        }
        if let deadline { TimeoutWatchdog.shared.cancel(deadline) }
    }

    /// The caller moved on (timeout or cancellation): cancel the operation and its deadline.
    func abandon() {
        let (work, deadline) = state.withLock { state in
            state.abandoned = true
            state.disarmed = true
            return (state.work, state.deadline)
        }
        work?.cancel()
        if let deadline { TimeoutWatchdog.shared.cancel(deadline) }
    }
}

/// Deadlines of every pending timed call in the process, watched by one task that sleeps
/// until the earliest (at most 10 ms at a time, so a shorter deadline registered meanwhile
/// is never more than 10 ms late) and waits without waking while there is none.
final class TimeoutWatchdog: Sendable {
    static let shared = TimeoutWatchdog()

    private struct Deadline {
        var at: ContinuousClock.Instant
        var fire: @Sendable () -> Void
    }

    private struct State {
        var deadlines: [UInt64: Deadline] = [:]
        var nextID: UInt64 = 0
        var watching = false
        var idle: CheckedContinuation<Void, Never>?
    }

    private let state = Lock(State())

    /// Calls `fire` after `duration` unless cancelled first; returns the deadline's id.
    func schedule(after duration: Duration, _ fire: @escaping @Sendable () -> Void) -> UInt64 {
        let at = ContinuousClock.now + duration
        let (id, startWatching, wake) = state.withLock { state in
            state.nextID += 1
            state.deadlines[state.nextID] = Deadline(at: at, fire: fire)
            let start = !state.watching
            state.watching = true
            defer { state.idle = nil }
            return (state.nextID, start, state.idle)
        }
        if startWatching { Task.detached { await self.watch() } }
        wake?.resume()
        return id
    }

    func cancel(_ id: UInt64) {
        _ = state.withLock { $0.deadlines.removeValue(forKey: id) }
    }

    private func watch() async {
        while true {
            let now = ContinuousClock.now
            let (due, next) = state.withLock { state -> ([@Sendable () -> Void], ContinuousClock.Instant?) in
                var due: [@Sendable () -> Void] = []
                for (id, deadline) in state.deadlines where deadline.at <= now {
                    due.append(deadline.fire)
                    state.deadlines[id] = nil
                }
                return (due, state.deadlines.values.map(\.at).min())
            }
            for fire in due { fire() }
            if let next {
                try? await Task.sleep(until: min(next, now + .milliseconds(10)), tolerance: .milliseconds(1))
            } else {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state in
                        guard state.deadlines.isEmpty else { return true }
                        state.idle = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
