import Synchronization

/// Runs one computation per key at a time in this process; callers that arrive while it
/// runs wait for it and share its outcome, but for those that joined after a change of the
/// key was noted (``noteChange(scope:key:)``): they are told (`overtaken`, or
/// ``OvertakenFailure`` when the flight has no value for them), and look again.
///
/// The first caller (the leader) runs the operation inline, so it keeps its task-locals,
/// priority and cancellation. A waiter that is cancelled stops waiting at once. When the
/// leader itself is cancelled, the waiters are not failed with its cancellation: one of
/// them takes over as the new leader, but for a late waiter of the form that looks again,
/// which is told to (``NothingForALateCaller``).
package final class SingleFlight: Sendable {
    /// The stores' flights (`Pipeline`, and `HTTPCache`'s fetches under its store's scope):
    /// the changes a store's typed API makes are noted to them.
    package static let shared = SingleFlight()

    /// Thrown to a caller that joined a flight after a change of its key was noted, when the
    /// flight has no value for it (it failed, its leader was cancelled, or its value is of
    /// another type): the caller looks again rather than take the failure or lead a new
    /// flight with what it read before joining (``run(scope:key:overtaken:operation:)``).
    package struct OvertakenFailure: Error {
        /// What the flight threw, or ``NothingForALateCaller``.
        package let error: any Error
    }

    /// The flight a late caller joined ended with nothing it may take: its leader was
    /// cancelled, or it computed a value of another type (``OvertakenFailure/error``). What the
    /// caller read before joining may predate the change, so it looks again rather than lead
    /// a new flight with it.
    package struct NothingForALateCaller: Error {}

    /// A table of flights of its own, which no store's change reaches (for tests).
    package init() {}

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
        /// The outcome for a waiter that joined after a change of the key was noted.
        indirect case late(Outcome)
    }

    private struct Flight {
        var waiters: [UInt64: CheckedContinuation<Outcome, Never>] = [:]
        /// A change of the key was noted during the flight (``noteChange(scope:key:)``):
        /// callers that join from then on may have begun after it.
        var changed = false
        /// The waiters that joined after a change was noted: the flight's value may predate
        /// a change they must see (R1), so they are told (``run(scope:key:overtaken:operation:)``).
        var lateWaiters: Set<UInt64> = []
        /// What the leader's outcome reaches its waiters through for ThreadSanitizer (see
        /// ``SanitizerHandOff``), made by the first waiter: a flight nobody joined makes none.
        var handOff: SanitizerHandOff.Token?

        /// Adds a waiter; returns the flight's hand-off token, made by its first waiter.
        mutating func join(_ id: UInt64, _ continuation: CheckedContinuation<Outcome, Never>) -> SanitizerHandOff.Token {
            waiters[id] = continuation
            if changed { lateWaiters.insert(id) }
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
    /// How many flights run, so that noting a change costs one load while none does.
    private let flightCount = Atomic<Int>(0)

    package func run<Value: Sendable>(
        scope: ObjectIdentifier,
        key: String,
        operation: () async throws -> Value
    ) async throws -> Value {
        while true {
            var overtaken = false
            do {
                return try await run(scope: scope, key: key, overtaken: &overtaken, operation: operation)
            } catch let overtaken as OvertakenFailure {
                // A caller that does not look again takes the failure, or, when the flight had
                // nothing for it, tries again (perhaps as the new leader), as a caller that
                // joined in time does.
                if overtaken.error is NothingForALateCaller { continue }
                throw overtaken.error
            }
        }
    }

    /// ``run(scope:key:operation:)``, and whether this caller waited for a flight that a
    /// change of the key noted before the caller joined may have overtaken: its value may
    /// then predate a change that returned before the caller began. When such a flight has
    /// no value for it (a failure, a cancelled leader, a value of another type), that is
    /// thrown as ``OvertakenFailure``.
    package func run<Value: Sendable>(
        scope: ObjectIdentifier,
        key: String,
        overtaken: inout Bool,
        operation: () async throws -> Value
    ) async throws -> Value {
        let flightKey = FlightKey(scope: scope, key: ByteKey(key))
        while true {
            let isLeader = state.withLock { state in
                guard state.flights[flightKey] == nil else { return false }
                state.flights[flightKey] = Flight()
                // Sequentially consistent with the load in `noteChange`: a change that ends
                // after this flight began (and after its reads or writes) sees it.
                flightCount.add(1, ordering: .sequentiallyConsistent)
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
            let (outcome, late) = await wait(for: flightKey)
            switch outcome {
            case .value(let value):
                // A caller asking for another type than the leader's computes its own.
                if let value = value as? Value {
                    overtaken = late
                    return value
                }
                if late {
                    overtaken = true
                    throw OvertakenFailure(error: NothingForALateCaller())
                }
            case .failure(let error):
                // A caller that joined after a change of the key looks again (its caller
                // decides how, and how many times): the change may have made the failed
                // computation needless (a value set meanwhile).
                if late {
                    overtaken = true
                    throw OvertakenFailure(error: error)
                }
                throw error
            case .retry:
                try Task.checkCancellation()
                if late {
                    overtaken = true
                    throw OvertakenFailure(error: NothingForALateCaller())
                }
            case .cancelled:
                throw CancellationError()
            case .late:
                break  // unwrapped by `wait`
            }
        }
    }

    /// How many callers wait for the flight of `key` in `scope` (for tests that must know a
    /// caller joined before they go on).
    package func waiters(scope: ObjectIdentifier, key: String) -> Int {
        state.withLock { $0.flights[FlightKey(scope: scope, key: ByteKey(key))]?.waiters.count ?? 0 }
    }

    /// How many callers wait for the flights of `scope` whose keys start with `prefix`.
    package func waiters(scope: ObjectIdentifier, prefix: String) -> Int {
        state.withLock { state in
            state.flights.reduce(0) { count, flight in
                flight.key.scope == scope && KeyRules.key(flight.key.key.string, hasPrefix: prefix)
                    ? count + flight.value.waiters.count : count
            }
        }
    }

    /// Whether any flight runs: when none does, a change has nothing to note.
    package var isRunningAny: Bool { flightCount.load(ordering: .sequentiallyConsistent) > 0 }

    /// Notes a change of `key` in `scope` (made through the typed API of a store, once the
    /// store has made it): callers that join a flight of the key from now on are told the
    /// flight may be overtaken.
    package func noteChange(scope: ObjectIdentifier, key: String) {
        guard flightCount.load(ordering: .sequentiallyConsistent) > 0 else { return }
        state.withLock { $0.flights[FlightKey(scope: scope, key: ByteKey(key))]?.changed = true }
    }

    /// ``noteChange(scope:key:)`` for each of `keys`, under one lock.
    package func noteChanges(scope: ObjectIdentifier, keys: [String]) {
        guard flightCount.load(ordering: .sequentiallyConsistent) > 0 else { return }
        state.withLock { state in
            for key in keys { state.flights[FlightKey(scope: scope, key: ByteKey(key))]?.changed = true }
        }
    }

    /// ``noteChange(scope:key:)`` for every key of `scope` that starts with `prefix`.
    package func noteChange(scope: ObjectIdentifier, prefix: String) {
        guard flightCount.load(ordering: .sequentiallyConsistent) > 0 else { return }
        state.withLock { state in
            let overtaken = state.flights.keys.filter { $0.scope == scope && KeyRules.key($0.key.string, hasPrefix: prefix) }
            for flightKey in overtaken { state.flights[flightKey]?.changed = true }
        }
    }

    private func finish(_ flightKey: FlightKey, with outcome: Outcome) {
        guard
            let flight = state.withLock({ state -> Flight? in
                guard let flight = state.flights.removeValue(forKey: flightKey) else { return nil }
                flightCount.subtract(1, ordering: .sequentiallyConsistent)
                return flight
            })
        else { return }
        if let handOff = flight.handOff { SanitizerHandOff.handOff(through: handOff) }  // also to a waiter not suspended yet
        for (id, waiter) in flight.waiters {
            waiter.resume(returning: flight.lateWaiters.contains(id) ? .late(outcome) : outcome)
        }
    }

    private func wait(for flightKey: FlightKey) async -> (outcome: Outcome, late: Bool) {
        let outcome: Outcome = await wait(for: flightKey)
        if case .late(let outcome) = outcome { return (outcome, true) }
        return (outcome, false)
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
