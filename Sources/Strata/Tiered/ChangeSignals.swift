/// Wakes the callers waiting for another instance to change a key: a `getOrSet` that waits
/// for the compute lock's holder to write its value reads L2 again as soon as the holder's
/// write is announced to this instance (by its invalidation bus), not only at its next poll.
///
/// A waiter arms its signal before it reads L2, so an announcement that lands between that
/// read and the wait is not lost: the wait then returns at once.
///
/// ```swift
/// let signal = signals.arm(key)
/// if let value = try await readL2(key) { signals.disarm(signal); return value }
/// await signals.wait(signal, atMost: .milliseconds(10))   // the announcement, or the poll
/// ```
final class ChangeSignals: Sendable {
    /// One waiter's signal.
    struct Signal: Sendable {
        fileprivate let id: UInt64
    }

    private enum Slot {
        /// Armed, not yet waiting.
        case armed(ByteKey)
        /// Waiting, until signalled, timed out or cancelled.
        case parked(ByteKey, CheckedContinuation<Void, Never>)
        /// Signalled (or its wait ended) before it waited: the wait returns at once.
        case woken
    }

    private let state = Lock<(next: UInt64, slots: [UInt64: Slot])>((0, [:]))

    /// A signal for a change of `key`: pass it to ``wait(_:atMost:)``, or to ``disarm(_:)``.
    func arm(_ key: ByteKey) -> Signal {
        state.withLock { state in
            defer { state.next &+= 1 }
            state.slots[state.next] = .armed(key)
            return Signal(id: state.next)
        }
    }

    /// Forgets `signal`, not waited for.
    func disarm(_ signal: Signal) {
        state.withLock { _ = $0.slots.removeValue(forKey: signal.id) }
    }

    /// Returns when `signal`'s key is signalled (or was, since it was armed), after
    /// `timeout`, or when the task is cancelled; then forgets it.
    func wait(_ signal: Signal, atMost timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.park(signal) }
            await group.next()
            group.cancelAll()
        }
        disarm(signal)  // both children have ended: nothing wakes it any more
    }

    /// Signals armed or waiting (for tests).
    var count: Int { state.withLock { $0.slots.count } }

    /// Signals armed and neither signalled nor waiting (for tests).
    var armed: Int {
        state.withLock { state in
            state.slots.values.count { if case .armed = $0 { true } else { false } }
        }
    }

    /// Signals waiting (for tests).
    var parked: Int {
        state.withLock { state in
            state.slots.values.count { if case .parked = $0 { true } else { false } }
        }
    }

    /// Wakes every waiter for `key`.
    func signal(_ key: ByteKey) {
        wake { $0 == key }
    }

    /// Wakes every waiter (a prefix or everything changed).
    func signalAll() {
        wake { _ in true }
    }

    /// Wakes the waiters whose key `matches`: a parked one resumes, an armed one will not wait.
    private func wake(_ matches: (ByteKey) -> Bool) {
        let parked = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.slots.isEmpty else { return [] }
            var parked: [CheckedContinuation<Void, Never>] = []
            for (id, slot) in state.slots {
                switch slot {
                case .armed(let key) where matches(key):
                    state.slots[id] = .woken
                case .parked(let key, let continuation) where matches(key):
                    state.slots[id] = .woken
                    parked.append(continuation)
                default:
                    break
                }
            }
            return parked
        }
        for continuation in parked { continuation.resume() }
    }

    /// Waits until `signal` is woken (by its key's change, or by the end of its wait).
    private func park(_ signal: Signal) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let waits = state.withLock { state -> Bool in
                    guard case .armed(let key) = state.slots[signal.id] else { return false }  // woken already
                    state.slots[signal.id] = .parked(key, continuation)
                    return true
                }
                if !waits { continuation.resume() }
            }
        } onCancel: {
            end(signal)
        }
    }

    /// Ends `signal`'s wait: resumes it if parked, or keeps it from parking.
    private func end(_ signal: Signal) {
        let parked = state.withLock { state -> CheckedContinuation<Void, Never>? in
            switch state.slots[signal.id] {
            case .parked(_, let continuation):
                state.slots[signal.id] = .woken
                return continuation
            case .armed:
                state.slots[signal.id] = .woken
                return nil
            case .woken, nil:
                return nil
            }
        }
        parked?.resume()
    }
}
