import Synchronization

/// A computation as the pipeline runs it: the caller's closure, and whether it may outlive
/// the call.
///
/// `getOrSet(_:as:expires:compute:)` takes a non-escaping closure, which the pipeline runs
/// inline in the caller's task and never keeps: hence `@unchecked Sendable`, and
/// ``mayOutliveCall`` false (no timeouts, no eager refresh). The forms with ``EntryOptions``
/// take an escaping `@Sendable` closure, which may go on in a task of its own past a
/// timeout, or run again in the background to refresh.
struct Computation<Value: Sendable>: @unchecked Sendable {  // see above: a non-Sendable body never leaves its caller's task
    let body: (ComputeContext<Value>) async throws -> Value
    let mayOutliveCall: Bool

    /// A computation that may run in a task of its own.
    static func detachable(_ body: @escaping @Sendable (ComputeContext<Value>) async throws -> Value) -> Computation {
        Computation(body: body, mayOutliveCall: true)
    }
}

/// What a computation knows once it has its lease: the key, where it started, and what it
/// may fall back to.
struct ComputationLease<Value: Codable & Sendable>: Sendable {
    let key: String
    let lease: EntryLease
    /// Whether the store took the lease. When it failed (L2 down or past `l2Timeout`), the
    /// value is still computed and kept in L1, but never written to L2: nothing proves that
    /// no change of the key began meanwhile.
    let held: Bool
    /// The write tracker's state when the key was read under the lease (advanced past each
    /// write this computation makes while keeping its lease).
    let tracking: LeaseTracking
    /// The tag epoch then, which the L1 copy is stamped with.
    let tagEpoch: Int
    /// The computation's start for its tags: at or before the read under the lease.
    let startedAt: Int64
    /// The value kept past its lifetime, if any.
    let kept: StoredValue<Value>?
    /// The cross-instance compute lock, when held: released when the computation ends (or
    /// with its value's write, in one step, where the lock can).
    let lock: HeldComputeLock?
}

/// A compute lock this process holds: its token, and whether it was released already (by
/// the leased write that released it in the same step), so the computation's end does not
/// release it again.
///
/// While a caller waits for its computation, it is renewed every third of its lease
/// (``ComputeLock/renew(_:token:lease:)``), so a computation longer than the lease keeps it;
/// the renewal stops when it is released, when its callers stop waiting for a computation
/// run in a task of its own (one with timeouts: past a soft or hard timeout, or when its
/// caller is cancelled; a computation that hangs then keeps it for one lease at most; one
/// run inline, in its caller's task, renews for as long as it runs),
/// when the lock says it is no longer this holder's, when the lock's store is closed, or
/// when the lease has run out without one renewal answering.
final class HeldComputeLock: Sendable {
    let token: String
    private let released = Atomic<Bool>(false)
    private let renewal = Lock<Renewal>(.none)

    /// Where the renewal stands. It starts as a deadline on the process's shared watchdog,
    /// not as a task: most computations end before a third of the lease, and a cancelled
    /// deadline costs no task and no timer of its own (a task sleeping out the first period,
    /// per lock taken, cost a task, a timer and a wake-up to cancel it). The watchdog wakes
    /// every 10 ms at most while any deadline waits, as for `l2Timeout`.
    private enum Renewal {
        case none
        /// The first renewal is due at the watchdog's deadline `id`.
        case scheduled(id: UInt64)
        case renewing(Task<Void, Never>)
        case stopped
    }

    init(token: String) {
        self.token = token
    }

    /// Holds the lock `token` took for `key` with `lease`, renewing it until it is released.
    convenience init(
        token: String, key: String, lock: any ComputeLock, lease: Duration, onFailure: @escaping @Sendable (any Error) -> Void
    ) {
        self.init(token: token)
        let every = max(lease / 3, .milliseconds(50))
        let takenAt = ContinuousClock.now
        // Scheduled under the lock, so the deadline cannot fire before it is recorded (its
        // `startRenewing` waits for the lock): the watchdog calls it outside its own lock,
        // so the two locks are never taken in the other order.
        renewal.withLock { renewal in
            renewal = .scheduled(
                id: TimeoutWatchdog.shared.schedule(after: every) { [weak self] in
                    // Weak: a holder dropped before its first renewal is not kept, nor renewed.
                    self?.startRenewing(key: key, lock: lock, lease: lease, takenAt: takenAt, every: every, onFailure: onFailure)
                })
        }
    }

    /// The first period is over and the lock is still held: renews it now, then every
    /// `every`, in a task of its own.
    private func startRenewing(
        key: String, lock: any ComputeLock, lease: Duration, takenAt: ContinuousClock.Instant, every: Duration,
        onFailure: @escaping @Sendable (any Error) -> Void
    ) {
        let token = token
        renewal.withLock { renewal in
            guard case .scheduled = renewal else { return }  // stopped meanwhile
            // Detached: it inherits no task-local (a bulk call's batch) and no priority it need not.
            renewal = .renewing(
                Task.detached {
                    var renewedAt = takenAt
                    while !Task.isCancelled {
                        do {
                            guard try await lock.renew(key, token: token, lease: lease) else { return }  // not this holder's any more
                            renewedAt = .now
                        } catch is CancellationError {
                            return
                        } catch let error as StrataError where error.code == .closed {
                            return  // the lock's store closed: nothing to renew with
                        } catch {
                            if Task.isCancelled { return }
                            onFailure(error)
                            if ContinuousClock.now - renewedAt >= lease { return }  // lost with its lease
                        }
                        do {
                            try await Task.sleep(for: every)
                        } catch {
                            return  // released
                        }
                    }
                })
        }
    }

    deinit {
        stopRenewing()  // a holder dropped without a release: never renewed for ever
    }

    /// Stops renewing the lock: it is held until its lease ends, or it is released.
    func stopRenewing() {
        let previous = renewal.withLock { renewal -> Renewal in
            defer { renewal = .stopped }
            return renewal
        }
        switch previous {
        case .scheduled(let id): TimeoutWatchdog.shared.cancel(id)
        case .renewing(let task): task.cancel()
        case .none, .stopped: break
        }
    }

    /// The write that released the lock with it answered.
    func markReleased() {
        released.store(true, ordering: .releasing)
        stopRenewing()
    }

    /// `true` the first time, when no write released the lock: the caller releases it.
    func claimRelease() -> Bool {
        stopRenewing()
        return !released.exchange(true, ordering: .acquiringAndReleasing)
    }
}

/// What a lease's read is judged against, taken just before the lease: the lease, the write
/// tracker's state, the tag epoch, and the computation's start for its tags.
struct LeaseStart: Sendable {
    let lease: EntryLease
    let tracking: LeaseTracking
    let tagEpoch: Int
    let startedAt: Int64
}

/// A lease taken with the compute lock, in one step: where it started, and the key as
/// read under it (`held` false: the read failed, and was reported; the value stays out of
/// the store).
struct LeasedRead: Sendable {
    let start: LeaseStart
    let held: Bool
    let entry: StoredEntry?
}

/// The tracker snapshot a computation's writes are judged against: L1 keeps its value only
/// if no change of the key began in this process since.
final class LeaseTracking: Sendable {
    private let snapshot: Lock<WriteTracker.ReadSnapshot?>

    init(_ snapshot: WriteTracker.ReadSnapshot?) {
        self.snapshot = Lock(snapshot)
    }

    var current: WriteTracker.ReadSnapshot? { snapshot.withLock { $0 } }

    /// After a write that kept the lease: its own write is no change for the next one.
    func advance(to next: WriteTracker.ReadSnapshot) {
        snapshot.withLock { $0 = next }
    }
}
