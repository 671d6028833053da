/// One call of a bulk `getOrSet`'s computation for every key that reaches it together.
///
/// Each missing key runs the single-key compute path (single flight, the compute lock, the
/// lease, timeouts, grace), whose computation asks this batch for the key's value. The batch
/// calls the caller's computation once, when every key's path has either asked (it leads
/// its key's computation), finished (another flight answered it, or a value appeared), or
/// started waiting for another caller's flight or another instance's lock. Not waiting for
/// those is what keeps two bulk calls with overlapping keys from waiting for each other. A
/// key that asks after the batch was computed (it waited, and still misses) is computed in a
/// call of its own.
final class BulkComputation<Value: Sendable>: BulkSettling, Sendable {
    typealias Compute = @Sendable ([String]) async throws -> [String: Value]

    private struct State {
        /// Keys whose path has not yet asked, finished or started waiting.
        var unsettled: Set<String>
        /// Keys that asked, and their waiting paths.
        var asked: [String: CheckedContinuation<Value, any Error>] = [:]
        var order: [String] = []
        var computed = false
        /// The caller, waiting until every key is settled.
        var ready: CheckedContinuation<Void, Never>?
    }

    private let state: Lock<State>  // pthread-based: ThreadSanitizer sees it (it does not see Mutex's futex)
    private let compute: Compute
    /// The caller's key for each path key (the view's prefix removed).
    private let callerKeys: [String: String]
    private let backend: String

    /// A batch for `keys` (prefix applied), each named `callerKeys[key]` to the computation.
    init(keys: [String], callerKeys: [String: String], backend: String, compute: @escaping Compute) {
        state = Lock(State(unsettled: Set(keys)))
        self.compute = compute
        self.callerKeys = callerKeys
        self.backend = backend
    }

    func settle(_ key: String, as settlement: BulkSettlement) {
        let ready = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.unsettled.remove(key) != nil, state.unsettled.isEmpty else { return nil }
            defer { state.ready = nil }
            return state.ready
        }
        ready?.resume()
    }

    /// The computation of `key` (prefix applied), as its path runs it: the batch's value, or
    /// a call of its own once the batch was computed.
    func value(for key: String) async throws -> Value {
        do {
            defer { SanitizerHandOff.receive(through: self) }  // see computeWhenReady
            return try await withCheckedThrowingContinuation { continuation in
                let outcome = state.withLock { state -> (late: Bool, ready: CheckedContinuation<Void, Never>?) in
                    guard !state.computed else { return (true, nil) }
                    state.asked[key] = continuation
                    state.order.append(key)
                    guard state.unsettled.remove(key) != nil, state.unsettled.isEmpty else { return (false, nil) }
                    defer { state.ready = nil }
                    return (false, state.ready)
                }
                outcome.ready?.resume()
                if outcome.late { continuation.resume(throwing: LateKey()) }
            }
        } catch is LateKey {
            let values = try await compute([callerKeys[key] ?? key])
            return try value(of: key, in: values)
        }
    }

    /// Waits until every key is settled, then calls the computation once for the keys that
    /// asked (not at all when none did) and answers each.
    func computeWhenReady() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let settled = state.withLock { state -> Bool in
                if state.unsettled.isEmpty { return true }
                state.ready = continuation
                return false
            }
            if settled { continuation.resume() }
        }
        let (keys, waiting) = state.withLock { state in
            state.computed = true
            defer { state.asked = [:] }
            return (state.order, state.asked)
        }
        guard !keys.isEmpty else { return }
        do {
            let values = try await compute(keys.map { callerKeys[$0] ?? $0 })
            let answers = keys.map { key in Result { try value(of: key, in: values) } }
            // The answers (and below, the error), also to a key's call not suspended yet.
            SanitizerHandOff.handOff(through: self)
            for (key, answer) in zip(keys, answers) { waiting[key]?.resume(with: answer) }
        } catch {
            SanitizerHandOff.handOff(through: self)
            for key in keys { waiting[key]?.resume(throwing: error) }
        }
    }

    /// The value the computation returned for `key`, or ``StrataError/Code/notComputed``.
    private func value(of key: String, in values: [String: Value]) throws -> Value {
        let callerKey = callerKeys[key] ?? key
        // Looked up byte for byte: the caller's keys never hold two that Swift equates.
        guard let value = values[callerKey] else {
            throw StrataError(
                code: .notComputed, message: "the bulk computation did not return a value for the key", key: callerKey,
                backend: backend)
        }
        return value
    }

    /// A key that asked after the batch was computed: it is computed on its own.
    private struct LateKey: Error {}
}
