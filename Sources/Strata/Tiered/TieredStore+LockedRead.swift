/// The first L2 read of a tiered `getOrSet` that missed L1, made with the compute lock when
/// the lock can (``ComputeLock/readOrAcquire(_:lease:leasing:for:in:)``): one round trip
/// that reads the key and, only when it is missing, takes the lock and the key's lease.
extension TieredStore {
    /// What ``readOrAcquire(_:key:as:pipeline:)`` found.
    enum ReadOrLock<Value> {
        /// The key was there: decoded, its tags valid, copied into L1 (fresh or in its grace).
        case found(StoredValue<Value>)
        case taken(String, LeasedRead)
        case heldByAnother
        /// The read passed `l2Timeout` (reported); a lock it may still take is released when
        /// it answers (see `releaseWhenAnswered`).
        case unavailable
        /// Missing for this caller: the read failed (reported), or found a value that does
        /// not decode, an envelope of a later version, or tags invalidated since (or that
        /// could not be checked).
        case missed
        /// The lock cannot read with the lock in this store (``ComputeLock/readOrAcquire(_:lease:leasing:for:in:)``
        /// answered `nil`): nothing was read.
        case unsupported
    }

    /// The first L2 read of a `getOrSet` that missed L1, with the lock and the key's lease
    /// taken in the same step when the key is missing (``ComputeLock/readOrAcquire(_:lease:leasing:for:in:)``),
    /// within `l2Timeout`. Counted, reported and copied into L1 as the read it replaces.
    func readOrAcquire<Value: Codable & Sendable>(
        _ lock: any ComputeLock, key: String, as type: Value.Type, pipeline: Pipeline
    ) async throws -> ReadOrLock<Value> {
        // The lease may be taken here, with the lock: this is the point before it.
        await PipelineGates.shared.pass(.beforeLease, key: key, scope: pipeline.flightScope)
        let start = pipeline.startLease(key)  // its tracker snapshot is the read's, taken before it
        let started = observing ? ContinuousClock.now : nil
        let lease = configuration.computeLockLease
        let source = pipeline.source
        // In a task of its own, so that a read abandoned (past `l2Timeout`, or its caller
        // cancelled) still releases the lock it takes; it runs at once on this thread.
        let work = Task.immediate { () async throws -> LockedRead? in
            try await lock.readOrAcquire(key, lease: lease, leasing: start.lease, for: EntryLease.defaultDuration, in: source)
        }
        let read: LockedRead?
        do {
            read = try await withTimeout(configuration.l2Timeout) { try await work.value }
        } catch let error as StrataError where error.code == .closed {
            throw error
        } catch let error where error is TimeoutRace<LockedRead?>.TimedOut || (error is CancellationError && Task.isCancelled) {
            // Withdrawn while it is still queued; once sent, the lock it takes is released
            // when it answers: no other instance should wait on a computation nobody runs.
            work.cancel()
            releaseWhenAnswered(work, lock: lock, key: key)
            try Task.checkCancellation()
            reportTimeout(key, since: started)
            return .unavailable
        } catch {
            _ = recordFailure(error, key: key, since: started)  // the lock, if it took it, released it
            return .missed  // the lock is tried below, as after a first read that failed
        }
        switch read {
        case .found(let entry)?:
            do {
                let found = try await pipeline.accept(
                    entry, key: key, as: type, for: .compute, snapshot: start.tracking.current, since: started)
                return found.map(ReadOrLock.found) ?? .missed
            } catch let error as StrataError where error.code == .closed {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                return .missed  // its tags could not be checked: treated as a miss, as the read it replaces treats it
            }
        case .taken(let token)?:
            countMiss(key, since: started)
            return .taken(token, LeasedRead(start: start, held: true, entry: nil))
        case .heldByAnother?:
            countMiss(key, since: started)
            return .heldByAnother
        case nil:
            return .unsupported
        }
    }

    /// Releases the lock `work` takes, if it takes it, once it answers: in work this store
    /// owns (`close()` awaits it), the release itself in a task of its own so that the
    /// cancellation `close()` sends does not withdraw it. Once `close()` takes on nothing
    /// more, nothing is started: such a lock ends with its lease (`computeLockLease`).
    private func releaseWhenAnswered(_ work: Task<LockedRead?, any Error>, lock: any ComputeLock, key: String) {
        own {
            guard case .taken(let token)? = try? await work.value else { return }
            await Task { try? await lock.release(key, token: token) }.value
        }
    }
}
