import Synchronization

/// Named points of the pipeline where a test can hold a call, to force an interleaving
/// without sleeping: arm a gate for a point and a key, start the call, wait until it
/// reaches the point, do what must happen there, then open the gate.
///
/// ```swift
/// let gate = PipelineGates.shared.arm(.beforeWrite, key: "k", in: store)
/// async let value = store.getOrSet("k", as: Int.self) { 1 }
/// try await gate.reached()
/// try await store.set("k", 2)       // a write that begins after the computation's miss
/// gate.open()
/// ```
///
/// Costs one atomic load per point passed while no gate is armed.
package final class PipelineGates: Sendable {
    /// A point of the pipeline.
    package enum Point: String, Sendable {
        /// A flight's leader is about to take its lease (and read the key under it).
        case beforeLease
        /// A flight's leader is about to ask the compute lock for the key (after a first
        /// read, or after waiting for another holder).
        case beforeLock
        /// A computation's key was read under its lease and found missing (or stale): the
        /// computation is about to run.
        case afterMiss
        /// A computed value is about to be written to the store.
        case beforeWrite
        /// A tiered store's L2 answered a computed value's write under its lease; the write
        /// is still in flight for the write tracker (its L1 copy not yet kept or dropped).
        case writeAnswered
        /// A computed value's write under its lease has answered (or was not made): the
        /// flight is about to end and hand its value to the callers that waited.
        case afterWrite
        /// A `set` made its entry (its write instant is taken) and is about to write it.
        case beforeSet
        /// A tiered store's L2 answered a write of one key (`set`, or a typed `set`); the
        /// write is still in flight for the write tracker (its L1 copy not yet kept or dropped).
        case setAnswered
        /// An L2 hit is about to be copied into L1.
        case beforeFill
        /// A tag's invalidation instant was read from the store and is about to be
        /// remembered (the key is the tag).
        case loadingTag
        /// An `HTTPCache` fetch has stored the origin's answer (or not): its flight is about to
        /// end and hand the response to the requests that waited (the key is the URL's
        /// storage key, the scope the cache).
        case afterFetch
    }

    package static let shared = PipelineGates()

    private let armed = Atomic<Int>(0)
    private let gates = Lock([Gate]())

    /// One armed point: reached by the first call that passes it with its key.
    package final class Gate: Sendable {
        let point: Point
        let key: String
        let scope: ObjectIdentifier?
        private let state = Lock<
            (reached: Bool, open: Bool, passer: CheckedContinuation<Void, Never>?, watcher: CheckedContinuation<Void, Never>?)
        >(
            (false, false, nil, nil))

        init(point: Point, key: String, scope: ObjectIdentifier?) {
            self.point = point
            self.key = key
            self.scope = scope
        }

        /// Waits until a call reaches the point (at most `timeout`, then throws).
        package func reached(timeout: Duration = .seconds(30)) async throws {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if state.withLock({ $0.reached }) { return }
                try await Task.sleep(for: .milliseconds(1))
            }
            throw GateTimedOut(point: point, key: key)
        }

        /// Whether a call has reached the point.
        package var isReached: Bool { state.withLock { $0.reached } }

        /// Lets the held call go on (and any later one pass).
        package func open() {
            let passer = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.open = true
                defer { state.passer = nil }
                return state.passer
            }
            SanitizerHandOff.handOff(through: self)  // also to a call not suspended yet
            passer?.resume()
        }

        /// Holds the caller until the gate opens.
        func hold() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let goOn = state.withLock { state -> Bool in
                    state.reached = true
                    if state.open { return true }
                    state.passer = continuation
                    return false
                }
                if goOn { continuation.resume() }
            }
            SanitizerHandOff.receive(through: self)
        }
    }

    /// A gate did not see its point reached in time.
    package struct GateTimedOut: Error, CustomStringConvertible {
        let point: Point
        let key: String
        package var description: String { "no call reached \(point.rawValue) for \(key.debugDescription)" }
    }

    /// Arms `point` for `key` of `store` (through its pipeline: a prefixed view's prefix is
    /// added; calls through any view or wrapper of the store's tiers are held). The gate
    /// holds the first call that passes; disarm it when done.
    package func arm(_ point: Point, key: String, in store: some KeyValueStore) -> Gate {
        let pipeline = store.pipeline
        return arm(point, key: pipeline.keyPrefix + key, scope: pipeline.flightScope)
    }

    /// Arms `point` for `key` as the pipeline names it, in the pipeline whose scope is
    /// `scope` (any, when `nil`).
    package func arm(_ point: Point, key: String, scope: ObjectIdentifier?) -> Gate {
        let gate = Gate(point: point, key: key, scope: scope)
        gates.withLock { $0.append(gate) }
        armed.add(1, ordering: .releasing)
        return gate
    }

    /// How many callers wait for the flight of `key` in `store` (its single flight's scope).
    package func flightWaiters(_ key: String, in store: some KeyValueStore) -> Int {
        let pipeline = store.pipeline
        return SingleFlight.shared.waiters(scope: pipeline.flightScope, key: pipeline.keyPrefix + key)
    }

    /// Removes `gate` (opening it, so nothing stays held).
    package func disarm(_ gate: Gate) {
        gate.open()
        let removed = gates.withLock { gates -> Bool in
            guard let index = gates.firstIndex(where: { $0 === gate }) else { return false }
            gates.remove(at: index)
            return true
        }
        if removed { armed.subtract(1, ordering: .releasing) }
    }

    /// Passes `point` for `key` in the pipeline of `scope`: holds the call there while a
    /// gate armed for it is closed.
    @inline(__always)
    package func pass(_ point: Point, key: String, scope: ObjectIdentifier) async {
        guard armed.load(ordering: .acquiring) > 0 else { return }
        await passArmed(point, key: key, scope: scope)
    }

    private func passArmed(_ point: Point, key: String, scope: ObjectIdentifier) async {
        let gate = gates.withLock { gates in
            gates.first { $0.point == point && $0.key == key && ($0.scope == nil || $0.scope == scope) && !$0.isReached }
        }
        await gate?.hold()
    }
}
