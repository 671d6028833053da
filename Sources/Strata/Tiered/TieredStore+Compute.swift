import Synchronization

/// What the compute path asks of a tiered store: the L1 hit of `getOrSet`, the compute lock
/// across instances, L2 calls within `l2Timeout`, and work that outlives a call.
extension TieredStore {
    /// The L1 hit, then the compute path (see ``Pipeline``): single flight across both
    /// tiers, the compute lock, a lease, and L2 calls within `l2Timeout`.
    @inlinable  // the L1 hit specializes in the caller's module
    public func getOrSetValue<Value: Codable & Sendable>(
        forKey key: String,
        as type: Value.Type,
        expires: Expiry?,
        compute: () async throws -> Value
    ) async throws -> Value {
        var now: Int64 = 0
        var absent = false
        if let value = try l1Hit(key, as: type, now: &now, absent: &absent) { return value }
        return try await pipeline.getOrSet(key, as: type, expires: expires, l1: absent ? .foundNothing : .again, compute: compute)
    }

    enum LockOutcome<Value> {
        case value(Value)
        /// The key's fresh entry, read with the lock not taken (``ComputeLock/readOrAcquire(_:lease:leasing:for:in:)``).
        case found(StoredValue<Value>)
        /// The lock is this process's; `leasedRead` is the key's lease and the read under it
        /// when the lock took them in the same step (`nil`: the lease is still to take).
        case token(String, leasedRead: LeasedRead?)
        /// The lock failed, or L2 passed `l2Timeout`: computed without the lock, under a lease
        /// of its own (when L2 gives one).
        case computeWithoutLock
        /// Another instance still held the lock when `computeLockWait` ran out: computed for
        /// this flight's callers without the lock and without the key's lease, and kept in L1
        /// only (unconfirmed). Taking the lease would break the holder's, whose value would
        /// then be refused (C2), and its callers would take the lock and the lease back,
        /// refusing this value in turn, round after round.
        case computeWithoutLease
    }

    /// Takes the compute lock for `key`, or waits for the holder's value to appear in L2.
    /// Computes without the lock when the lock fails, and without the lock or the key's lease
    /// (L1 only) when the wait runs out while another holds it; a holder that
    /// died loses the lock when its lease ends, and then this process takes it. A lock that
    /// can take the key's lease with it (``ComputeLock/acquire(_:lease:leasing:for:in:)``)
    /// does, and the read under the lease comes back with the token: one round trip fewer.
    ///
    /// With `readsStore` (the call has not read L2 yet), a lock that leases with the lock
    /// reads the key first in the same step, taking the lock and the lease only when it is
    /// missing (``ComputeLock/readOrAcquire(_:lease:leasing:for:in:)``): a value found is
    /// `.found`, one in its grace becomes `kept`, and a read past `l2Timeout` sets
    /// `sourceUnavailable` (computed without the lock, as after a first read that timed out).
    func awaitComputeLock<Value: Codable & Sendable>(
        _ lock: any ComputeLock, key: String, as type: Value.Type, pipeline: Pipeline, readsStore: Bool,
        kept: inout StoredValue<Value>?, sourceUnavailable: inout Bool
    ) async throws -> LockOutcome<Value> {
        let giveUp = ContinuousClock.now + configuration.computeLockWait
        var leasesWithLock = lock.leasesWithLock(in: pipeline.source)
        if readsStore, leasesWithLock {
            switch try await readOrAcquire(lock, key: key, as: type, pipeline: pipeline) {
            case .found(let found):
                if found.isFresh(nowMilliseconds: clock.now().millisecondsSince1970) { return .found(found) }
                kept = found  // in its grace: the fallback; the lock is taken below
            case .taken(let token, let leasedRead):
                return .token(token, leasedRead: leasedRead)
            case .heldByAnother:
                if let outcome = try await awaitHolder(key, as: type, pipeline: pipeline, giveUp: giveUp) { return outcome }
            case .unavailable:
                sourceUnavailable = true
                return .computeWithoutLock
            case .missed:
                break  // failed (reported) or unreadable: the lock is taken below, as after a read that missed
            case .unsupported:
                // The read the lock could not make, as the compute path makes it without one.
                // The call looked at L1 before the lock (its hit, or the read with the lock's
                // first step): this look counts nothing.
                let found = try await pipeline.readForComputation(key, as: type, sourceUnavailable: &sourceUnavailable, l1: .again)
                if sourceUnavailable { return .computeWithoutLock }
                if let found, found.isFresh(nowMilliseconds: clock.now().millisecondsSince1970) { return .found(found) }
                kept = found ?? kept
            }
        }
        while true {
            var token: String?
            await PipelineGates.shared.pass(.beforeLock, key: key, scope: pipeline.flightScope)
            do {
                if leasesWithLock {
                    // The lease is taken here, with the lock: this is the point before it.
                    await PipelineGates.shared.pass(.beforeLease, key: key, scope: pipeline.flightScope)
                    let start = pipeline.startLease(key)
                    switch try await lock.acquire(
                        key, lease: configuration.computeLockLease, leasing: start.lease, for: EntryLease.defaultDuration,
                        in: pipeline.source)
                    {
                    case .taken(let taken, let entry)?:
                        return .token(taken, leasedRead: LeasedRead(start: start, held: true, entry: entry))
                    case .takenUnread(let taken, let error)?:
                        // As a failed read under the lease: computed holding the lock, kept in L1 only.
                        _ = recordFailure(error, key: key, since: nil)
                        return .token(taken, leasedRead: LeasedRead(start: start, held: false, entry: nil))
                    case .heldByAnother?: token = nil
                    case nil:
                        leasesWithLock = false
                        token = try await lock.acquire(key, lease: configuration.computeLockLease)
                    }
                } else {
                    token = try await lock.acquire(key, lease: configuration.computeLockLease)
                }
            } catch is CancellationError where Task.isCancelled {
                throw CancellationError()  // the caller left: no failure of the lock (C5), nothing to compute
            } catch let error as StrataError where error.code == .closed {
                throw error
            } catch {
                _ = recordFailure(error, key: key, since: nil)
                return .computeWithoutLock
            }
            // The holder's value, if one just finished, is read under the lease that follows.
            if let token { return .token(token, leasedRead: nil) }
            if let outcome = try await awaitHolder(key, as: type, pipeline: pipeline, giveUp: giveUp) { return outcome }
        }
    }

    /// The compute lock `token` took for `key`, renewed every third of `computeLockLease`
    /// until it is released or its callers stop waiting (a failed renewal is reported as an
    /// L2 failure).
    func holdComputeLock(_ key: String, token: String) -> HeldComputeLock {
        guard let lock = configuration.computeLock else { return HeldComputeLock(token: token) }
        return HeldComputeLock(token: token, key: key, lock: lock, lease: configuration.computeLockLease) { [weak self] error in
            _ = self?.recordFailure(error, key: key, since: nil)
        }
    }

    /// Another instance holds the lock and computes: its value appears in L2. A bulk
    /// computation this caller belongs to need not wait for it. The holder's write,
    /// announced to this instance, ends the wait at once (the signal is armed before the
    /// read, so an announcement landing between the two is not missed); without one, L2 is
    /// read again every `computeLockPollInterval`. The holder's fresh value, or
    /// `.computeWithoutLease` once `computeLockWait` has run out; `nil`: try the lock again.
    private func awaitHolder<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, pipeline: Pipeline, giveUp: ContinuousClock.Instant
    ) async throws -> LockOutcome<Value>? {
        BulkParticipant.current?.isWaiting(forKey: key)
        let signal = changeSignals.arm(ByteKey(key))
        let found: StoredValue<Value>?
        do {
            found = try await pipeline.readForComputation(key, as: type, l1: .again)  // each poll: the call looked before
        } catch {
            changeSignals.disarm(signal)
            throw error
        }
        if let found, found.isFresh(nowMilliseconds: clock.now().millisecondsSince1970) {
            changeSignals.disarm(signal)
            return .value(found.value)
        }
        let left = giveUp - ContinuousClock.now
        if left < .zero {
            changeSignals.disarm(signal)
            return .computeWithoutLease
        }
        // Never past `computeLockWait`, whatever the poll.
        await changeSignals.wait(signal, atMost: max(min(configuration.computeLockPollInterval, left), .milliseconds(1)))
        try Task.checkCancellation()
        return nil
    }

    /// An L2 read within `l2Timeout`; `nil` when it failed or timed out (and was reported).
    /// A read abandoned at its timeout is cancelled: it changes nothing.
    func timedL2<Output: Sendable>(
        _ key: String, since started: ContinuousClock.Instant?, _ call: @escaping @Sendable () async throws -> Output
    ) async throws -> Output? {
        var timedOut = false
        return try await timedL2(key, since: started, timedOut: &timedOut, call)
    }

    /// `timedL2`, telling whether the call passed `l2Timeout` (rather than failed).
    func timedL2<Output: Sendable>(
        _ key: String, since started: ContinuousClock.Instant?, timedOut: inout Bool,
        _ call: @escaping @Sendable () async throws -> Output
    ) async throws -> Output? {
        do {
            return try await withTimeout(configuration.l2Timeout, call)
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as StrataError where error.code == .closed {
            throw error
        } catch is TimeoutRace<Output>.TimedOut {
            timedOut = true
            reportTimeout(key, since: started)
            return nil
        } catch {
            _ = recordFailure(error, key: key, since: started)
            return nil
        }
    }

    /// How an L2 write given `l2Timeout` ended.
    enum OwnedCall<Output: Sendable> {
        case answered(Output)
        /// It failed (reported) with this error.
        case failed(any Error)
        /// It did not answer in time, or the caller was cancelled: it goes on, and whoever
        /// owns it awaits it.
        case pending(Task<Output, any Error>)
    }

    /// An L2 write within `l2Timeout` that is never abandoned: past the timeout it goes on,
    /// and the caller owns its outcome (it holds the key as written-to until then).
    func ownedL2Call<Output: Sendable>(_ key: String, _ call: @escaping @Sendable () async throws -> Output) async -> OwnedCall<Output> {
        let started = observing ? ContinuousClock.now : nil
        // Runs at once on this thread: a call that does not suspend (SQLite's, memory's) is
        // answered before any timer or hop, and awaiting it below does not suspend either.
        let work = Task.immediate { try await call() }
        do {
            return .answered(try await withTimeout(configuration.l2Timeout) { try await work.value })
        } catch is TimeoutRace<Output>.TimedOut {
            // Only the wait was abandoned: `work` goes on.
            reportTimeout(key, since: started)
            return .pending(work)
        } catch is CancellationError where Task.isCancelled {
            return .pending(work)
        } catch {
            _ = recordFailure(error, key: key, since: started)
            return .failed(error)
        }
    }

    func reportTimeout(_ key: String, since started: ContinuousClock.Instant?) {
        TieredCounters.bump(counters.l2Errors)
        let error = StrataError(
            code: .backendUnavailable, message: "L2 did not answer within \(configuration.l2Timeout!)",
            key: key, backend: l2.backendName)
        report(.timeout, .l2, key, since: started, error: error)
    }

    /// Runs `work` in the background, owned by the store: `close()` cancels and awaits it.
    /// While `close()` waits for what the store owns, work it must own (a write past
    /// `l2Timeout` to settle, a computation its caller left) starts cancelled and is awaited
    /// too, and `optional` work (an eager refresh, a bulk computation that can run in its
    /// caller) does not run. Once `close()` takes on nothing more, nothing runs. `false` when
    /// `work` did not run.
    @discardableResult
    func own(optional: Bool = false, _ work: @escaping @Sendable () async -> Void) -> Bool {
        background.spawn(optional: optional, work)
    }

    /// Counts and reports a resilience event.
    func reportResilience(_ kind: Event.Kind, _ key: String, error: StrataError?) {
        switch kind {
        case .compute: TieredCounters.bump(counters.computations)
        case .failSafe: TieredCounters.bump(counters.failSafes)
        case .softTimeout: TieredCounters.bump(counters.softTimeouts)
        case .computeTimeout: TieredCounters.bump(counters.computeTimeouts)
        case .refreshAhead: TieredCounters.bump(counters.refreshesAhead)
        default: break
        }
        report(kind, .l1, key, since: nil, error: error)
    }
}

/// Tasks a store owns: each removes itself when done, and `cancelAndWait` cancels the rest
/// and waits for them. Work a store must own that it takes on while `cancelAndWait` waits (a
/// write that passes `l2Timeout` then, a computation its caller leaves) starts cancelled and
/// is waited for too, for a few rounds: then nothing new starts, so calls that keep coming
/// cannot hold `close()` off.
final class OwnedTasks: Sendable {
    private struct State {
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var nextID: UInt64 = 0
        /// `cancelAndWait` has begun: new work starts cancelled, optional work not at all.
        var closing = false
        /// `cancelAndWait` takes on nothing more: new work does not start.
        var closed = false
    }

    /// How many times `cancelAndWait` waits for the work taken on while it waited before it
    /// takes on nothing more.
    static let closingRounds = 3

    private let state = Lock(State())

    /// Starts `work` (cancelled, while the owner is closing) unless the owner closed, or is
    /// closing and the work is `optional`; whether it started.
    @discardableResult
    func spawn(optional: Bool = false, _ work: @escaping @Sendable () async -> Void) -> Bool {
        state.withLock { state in
            guard !state.closed, !(optional && state.closing) else { return false }
            state.nextID += 1
            let id = state.nextID
            let task = Task { [weak self] in
                await work()
                self?.finished(id)
            }
            if state.closing { task.cancel() }
            state.tasks[id] = task
            return true
        }
    }

    private func finished(_ id: UInt64) {
        _ = state.withLock { $0.tasks.removeValue(forKey: id) }
    }

    /// How many tasks run now.
    var count: Int { state.withLock { $0.tasks.count } }

    /// Whether `cancelAndWait` has begun.
    var isClosing: Bool { state.withLock { $0.closing } }

    /// Cancels every task and waits for them all, and for those started meanwhile (for
    /// ``closingRounds`` rounds); then refuses new ones.
    func cancelAndWait() async {
        var round = 0
        while true {
            round += 1
            let tasks = state.withLock { state -> [Task<Void, Never>] in
                state.closing = true
                if state.tasks.isEmpty || round > Self.closingRounds { state.closed = true }
                return Array(state.tasks.values)
            }
            for task in tasks { task.cancel() }
            for task in tasks { await task.value }
            if tasks.isEmpty || round > Self.closingRounds { return }
        }
    }
}
