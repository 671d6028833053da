import Strata

/// Reading the slot map again (`CLUSTER SLOTS`), within bounds.
///
/// A node that is frozen (SIGSTOP, a stalled VM) keeps its connections and answers
/// nothing, so a request written to it waits the whole command timeout. A refresh must not
/// make a call wait that long: each attempt waits ``RedisCluster/refreshAttemptTime`` at
/// most (a quarter of the retry time, 50 ms at least, never more than the command
/// timeout) before the next node is asked; a node that did not answer is asked last next
/// time; a refresh gives up after the retry time; and a caller waits for the shared
/// refresh until its own deadline only.
extension RedisCluster {
    /// Reads the slot map again from a primary (or seed) that answers. Concurrent callers
    /// share one refresh; a caller with a `deadline` waits for it until then at most (the
    /// refresh goes on, within its own bounds, for the others).
    func refresh(store: RedisStore, before deadline: ContinuousClock.Instant? = nil) async throws {
        let task = refreshing.withLock { running -> Task<Void, any Error> in
            if let running { return running }
            let task = Task { [self] in
                defer { refreshing.withLock { $0 = nil } }
                try await readMap()
            }
            running = task
            return task
        }
        guard let deadline else { return try await task.value }
        try await RedisDeadline.value(of: task, before: deadline)
    }

    /// Asks the primaries, then the seeds, each once, the ones that answered last time
    /// first, until one gives the map.
    private func readMap() async throws {
        let started = ContinuousClock.now
        let silent = unanswering.withLock { $0 }
        var candidates: [Node] = []
        for node in primaries + seeds.map(node) where !candidates.contains(where: { $0 === node }) { candidates.append(node) }
        candidates = candidates.filter { !silent.contains($0.name) } + candidates.filter { silent.contains($0.name) }
        var lastError: any Error = RedisConnectionError(description: "no node to ask for the slot map")
        for candidate in candidates {
            let left = started + retryTime - ContinuousClock.now
            guard left > .zero else { break }
            let attempt = Task { try await candidate.lane().send([[Array("CLUSTER".utf8), Array("SLOTS".utf8)]])[0] }
            do {
                let reply = try await RedisDeadline.value(of: attempt, before: .now + min(refreshAttemptTime, left))
                try apply(reply, from: candidate.endpoint)
                unanswering.withLock { _ = $0.remove(candidate.name) }
                return
            } catch {
                attempt.cancel()  // withdrawn if it is still waiting to be written
                unanswering.withLock { _ = $0.insert(candidate.name) }
                lastError = error
            }
        }
        throw lastError
    }
}

/// Waiting for a task's value a bounded time.
enum RedisDeadline {
    /// The deadline came before the value.
    struct Passed: Error, CustomStringConvertible {
        var description: String { "no answer in time" }
    }

    private enum State<Value: Sendable> {
        case starting
        case waiting(CheckedContinuation<Value, any Error>)
        case early(Result<Value, any Error>)
        case finished
    }

    /// `task`'s value, or ``Passed`` when `deadline` comes first (the task goes on, and
    /// its value is dropped); the caller's cancellation ends the wait as well.
    static func value<Value: Sendable>(of task: Task<Value, any Error>, before deadline: ContinuousClock.Instant) async throws -> Value {
        let state = Lock<State<Value>>(.starting)
        let finish: @Sendable (Result<Value, any Error>) -> Void = { result in
            let continuation = state.withLock { state -> CheckedContinuation<Value, any Error>? in
                switch state {
                case .waiting(let continuation):
                    state = .finished
                    return continuation
                case .starting:
                    state = .early(result)
                    return nil
                case .early, .finished:
                    return nil
                }
            }
            SanitizerHandOff.handOff(through: state)  // the reply, also to a caller not suspended yet
            continuation?.resume(with: result)
        }
        let timer = Task {
            guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil else { return }
            finish(.failure(Passed()))
        }
        defer { timer.cancel() }
        Task {
            do { finish(.success(try await task.value)) } catch { finish(.failure(error)) }
        }
        defer { SanitizerHandOff.receive(through: state) }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let early = state.withLock { state -> Result<Value, any Error>? in
                    if case .early(let result) = state {
                        state = .finished
                        return result
                    }
                    state = .waiting(continuation)
                    return nil
                }
                if let early { continuation.resume(with: early) }
            }
        } onCancel: {
            finish(.failure(CancellationError()))
        }
    }
}
