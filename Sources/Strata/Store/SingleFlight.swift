import Synchronization

/// Runs one computation per key at a time in this process; callers that arrive while it
/// runs wait for it and share its outcome.
///
/// The first caller (the leader) runs the operation inline, so it keeps its task-locals,
/// priority and cancellation. A waiter that is cancelled stops waiting at once. When the
/// leader itself is cancelled, the waiters are not failed with its cancellation: one of
/// them takes over as the new leader.
package final class SingleFlight: Sendable {
    package static let shared = SingleFlight()

    struct FlightKey: Hashable, Sendable {
        let scope: ObjectIdentifier
        let key: ByteKey
    }

    enum Outcome: Sendable {
        case value(any Sendable)
        case failure(any Error)
        /// The leader gave up (it was cancelled); try again, perhaps as the new leader.
        case retry
        case cancelled
    }

    private struct Flight {
        var waiters: [UInt64: CheckedContinuation<Outcome, Never>] = [:]
        /// What the leader's outcome reaches its waiters through for ThreadSanitizer (see
        /// ``SanitizerHandOff``), made by the first waiter: a flight nobody joined makes none.
        var handOff: SanitizerHandOff.Token?

        /// Adds a waiter; returns the flight's hand-off token, made by its first waiter.
        mutating func join(_ id: UInt64, _ continuation: CheckedContinuation<Outcome, Never>) -> SanitizerHandOff.Token {
            waiters[id] = continuation
            if let handOff { return handOff }
            let token = SanitizerHandOff.Token()
            handOff = token
            return token
        }
    }

    private struct State {
        var flights: [FlightKey: Flight] = [:]
        var nextWaiterID: UInt64 = 0
    }

    private let state = Lock(State())

    package func run<Value: Sendable>(
        scope: ObjectIdentifier,
        key: String,
        operation: () async throws -> Value
    ) async throws -> Value {
        let flightKey = FlightKey(scope: scope, key: ByteKey(key))
        while true {
            let isLeader = state.withLock { state in
                guard state.flights[flightKey] == nil else { return false }
                state.flights[flightKey] = Flight()
                return true
            }
            if isLeader {
                do {
                    let value = try await operation()
                    finish(flightKey, with: .value(value))
                    return value
                } catch {
                    let handOver = error is CancellationError && Task.isCancelled
                    finish(flightKey, with: handOver ? .retry : .failure(error))
                    throw error
                }
            }
            // A bulk computation this caller belongs to need not wait for it: it has no key to compute.
            BulkParticipant.current?.isWaiting(forKey: key)
            switch await wait(for: flightKey) {
            case .value(let value):
                // A caller asking for another type than the leader's computes its own.
                if let value = value as? Value { return value }
            case .failure(let error):
                throw error
            case .retry:
                try Task.checkCancellation()
            case .cancelled:
                throw CancellationError()
            }
        }
    }

    /// How many callers wait for the flight of `key` in `scope` (for tests that must know a
    /// caller joined before they go on).
    package func waiters(scope: ObjectIdentifier, key: String) -> Int {
        state.withLock { $0.flights[FlightKey(scope: scope, key: ByteKey(key))]?.waiters.count ?? 0 }
    }

    private func finish(_ flightKey: FlightKey, with outcome: Outcome) {
        guard let flight = state.withLock({ $0.flights.removeValue(forKey: flightKey) }) else { return }
        if let handOff = flight.handOff { SanitizerHandOff.handOff(through: handOff) }  // also to a waiter not suspended yet
        for waiter in flight.waiters.values { waiter.resume(returning: outcome) }
    }

    private func wait(for flightKey: FlightKey) async -> Outcome {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        var handOff: SanitizerHandOff.Token?
        defer { handOff.map { SanitizerHandOff.receive(through: $0) } }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let outcome: Outcome? = state.withLock { state in
                    if Task.isCancelled { return .cancelled }
                    // One look-up of the flight, changed in place (no copy of its waiters).
                    guard let token = state.flights[flightKey]?.join(id, continuation) else { return .retry }
                    handOff = token
                    return nil
                }
                if let outcome { continuation.resume(returning: outcome) }
            }
        } onCancel: {
            let continuation = state.withLock { $0.flights[flightKey]?.waiters.removeValue(forKey: id) }
            continuation?.resume(returning: .cancelled)
        }
    }
}
