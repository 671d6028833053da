import Strata

/// The queue: requests not yet written, which leave it when cancelled or past their
/// deadline, never to be written.
extension RedisLaneStateMachine {
    /// Takes request `id` out of the queue, if it is still there: it fails with
    /// `CancellationError` and will never be written.
    mutating func cancel(_ id: UInt64) -> Actions {
        var actions = Actions()
        if let index = next.firstIndex(where: { $0.id == id }) {
            actions.fail([dequeue(at: index)], CancellationError())
        }
        return actions
    }

    /// Fails the queued requests that waited past the command timeout; also returns the
    /// earliest deadline of those left.
    mutating func expireQueued(now: ContinuousClock.Instant) -> (Actions, next: ContinuousClock.Instant?) {
        var actions = Actions()
        let expired = takeExpired(now: now)
        if !expired.isEmpty {
            let failure = Self.queueTimeout(limits.commandTimeout)
            // Without a connection for a whole command timeout, the server is down: say so
            // once (a connection that comes back is then reported as regained).
            if socket == nil { reportLoss(failure.error, &actions) }
            actions.fail(expired, failure)
        }
        return (actions, next.first?.deadline)
    }

    mutating func dequeue(at index: Int) -> Request {
        let request = next.remove(at: index)
        queuedCommands -= request.expected
        queuedBytes -= request.bytes.count
        return request
    }

    /// The queued requests whose deadline passed, taken out of the queue (in order, so they
    /// are the first ones).
    mutating func takeExpired(now: ContinuousClock.Instant) -> [Request] {
        let count = next.prefix { $0.deadline.map { $0 <= now } ?? false }.count
        guard count > 0 else { return [] }
        let expired = Array(next.prefix(count))
        next.removeFirst(count)
        for request in expired {
            queuedCommands -= request.expected
            queuedBytes -= request.bytes.count
        }
        return expired
    }
}
