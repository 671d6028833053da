/// Waits for a computation's task, or for its soft or hard timeout, whichever comes
/// first. The task is never cancelled by a timeout: it goes on and stores its value.
/// Deadlines are kept by the shared watchdog (no sleeping task per call).
enum ComputationWait {
    enum Outcome<Value: Sendable>: Sendable {
        case finished(Result<Value, any Error>)
        case softTimeout
        case hardTimeout
        case cancelled
    }

    static func wait<Value: Sendable>(
        for work: Task<Value, any Error>, softTimeout: Duration?, hardTimeout: Duration?
    ) async -> Outcome<Value> {
        if softTimeout == nil && hardTimeout == nil {
            let result = await work.result
            return Task.isCancelled && isCancellation(result) ? .cancelled : .finished(result)
        }
        let race = Lock<(continuation: CheckedContinuation<Outcome<Value>, Never>?, outcome: Outcome<Value>?)>((nil, nil))
        @Sendable func finish(_ outcome: Outcome<Value>) {
            let continuation = race.withLock { race -> CheckedContinuation<Outcome<Value>, Never>? in
                guard race.outcome == nil else { return nil }
                race.outcome = outcome
                defer { race.continuation = nil }
                return race.continuation
            }
            SanitizerHandOff.handOff(through: race)  // the value, also to a waiter not suspended yet
            continuation?.resume(returning: outcome)
        }
        var deadlines: [UInt64] = []
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome<Value>, Never>) in
                let early = race.withLock { race -> Outcome<Value>? in
                    if let outcome = race.outcome { return outcome }
                    race.continuation = continuation
                    return nil
                }
                if let early { return continuation.resume(returning: early) }
                Task { finish(.finished(await work.result)) }
                if let softTimeout {
                    deadlines.append(TimeoutWatchdog.shared.schedule(after: softTimeout) { finish(.softTimeout) })
                }
                if let hardTimeout {
                    deadlines.append(TimeoutWatchdog.shared.schedule(after: hardTimeout) { finish(.hardTimeout) })
                }
            }
        } onCancel: {
            finish(.cancelled)
        }
        SanitizerHandOff.receive(through: race)
        for deadline in deadlines { TimeoutWatchdog.shared.cancel(deadline) }
        return outcome
    }

    private static func isCancellation<Value>(_ result: Result<Value, any Error>) -> Bool {
        if case .failure(let error) = result { return error is CancellationError }
        return false
    }
}
