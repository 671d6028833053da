/// A lane's queue: the requests not yet written, which leave it when their task is
/// cancelled or their deadline passes, never to be written.
extension RedisLane {
    /// Takes request `id` out of the queue, if it is still there, and fails it with
    /// `CancellationError`: it will not be written.
    func cancel(_ id: UInt64) {
        let cancelled = state.withLock { state -> Waiter? in
            guard let index = state.next.firstIndex(where: { $0.id == id }) else { return nil }
            return dequeue(at: index, &state)
        }
        cancelled?.continuation.resume(throwing: CancellationError())
    }

    /// Removes the queued waiter at `index`.
    func dequeue(at index: Int, _ state: inout State) -> Waiter {
        let waiter = state.next.remove(at: index)
        state.queuedCommands -= waiter.expected
        state.queuedBytes -= waiter.bytes.count
        return waiter
    }

    /// Fails the queued requests that waited past the command timeout; the earliest
    /// deadline of those left.
    func expireQueued(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        var expired: [Waiter] = []
        var disconnected = false
        let next = state.withLock { state -> ContinuousClock.Instant? in
            expired = takeExpired(now: now, &state)
            disconnected = state.socket == nil
            return state.next.first?.deadline
        }
        guard !expired.isEmpty else { return next }
        let failure = queueTimeout
        // Without a connection for a whole command timeout, the server is down: say so once
        // (a connection that comes back is then logged as regained).
        if disconnected { lost(failure.error) }
        fail(expired, with: failure)
        return next
    }

    /// The queued waiters whose deadline passed, taken out of the queue (in order, so they
    /// are the first ones).
    func takeExpired(now: ContinuousClock.Instant, _ state: inout State) -> [Waiter] {
        let count = state.next.prefix { $0.deadline.map { $0 <= now } ?? false }.count
        guard count > 0 else { return [] }
        let expired = Array(state.next.prefix(count))
        state.next.removeFirst(count)
        for waiter in expired {
            state.queuedCommands -= waiter.expected
            state.queuedBytes -= waiter.bytes.count
        }
        return expired
    }

    /// The failure of a request that waited past the command timeout to be written.
    var queueTimeout: RedisNotSent {
        RedisNotSent(error: RedisUnsent(description: "not written within the command timeout (\(commandTimeout)): the connection was busy or down"))
    }
}
