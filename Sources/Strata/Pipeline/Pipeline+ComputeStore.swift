import Synchronization

/// Steps 6 and 7 of the compute path (see `Pipeline+Compute.swift`): the computed value
/// written under its lease, the kept value served and re-armed when the computation fails,
/// and the background work the path leaves to the store.
extension Pipeline {
    /// Step 7: the kept value instead of a failure, re-armed as fresh for the fail-safe
    /// throttle so the failing dependency is not called by every request; without one,
    /// the failure. A computation that goes on keeps its lease, so its late value still lands.
    func fallBack<Value: Codable & Sendable>(
        from error: any Error, _ leased: ComputationLease<Value>, options: EntryOptions, computationGoesOn: Bool
    ) async throws -> Shared<Value> {
        let key = leased.key
        // A key a bulk computation did not return is no failure: nothing is served in its place.
        guard !(error is CancellationError), (error as? StrataError)?.code != .notComputed, let kept = leased.kept,
            let keptEnvelope = kept.envelope
        else {
            if !computationGoesOn { try? await source.releaseLease(leased.lease, forKey: key) }
            throw error
        }
        let failure =
            error as? StrataError
            ?? StrataError(
                code: .backendUnavailable, message: "the computation failed: \(error)", key: callerKey(key), backend: backendName,
                underlying: error)
        tiered?.reportResilience(.failSafe, key, error: failure)
        let throttle = (options.failSafeThrottle ?? EntryOptions.defaultFailSafeThrottle).milliseconds ?? 5_000
        let freshUntil = clock.now().adding(milliseconds: throttle)
        var envelope = keptEnvelope
        envelope.expiresAt = freshUntil.millisecondsSince1970
        // Callers that waited take the kept value too, unless the key changed since the miss
        // (the re-arm was refused): then it may predate a change they must see (C1, R1).
        var holdsForWaiters = true
        if let payload = try? encode(kept.value, key: key) {
            let entry = StoredEntry(bytes: envelope.encode(payload: payload), expiresAt: kept.keptUntil.map { max($0, freshUntil) })
            // Under the lease: a value written meanwhile is fresher than the one kept.
            let outcome = try? await storeUnderLease(kept.value, entry, envelope, leased, keepingLease: computationGoesOn)
            holdsForWaiters = outcome != .refused  // a re-arm that threw: the store could not be reached
        } else if !computationGoesOn {
            try? await source.releaseLease(leased.lease, forKey: key)
        }
        return Shared(
            value: kept.value, holdsForWaiters: holdsForWaiters, envelope: envelope, since: leased.tracking.current,
            tagEpoch: leased.tagEpoch)
    }

    /// Step 6: the computed value, written under the lease with its chosen options; its
    /// envelope records when the computation started.
    @discardableResult
    func storeComputed<Value: Codable & Sendable>(
        _ value: Value, options: EntryOptions, _ leased: ComputationLease<Value>
    ) async throws -> (outcome: StoreOutcome, envelope: EntryEnvelope?) {
        let (entry, envelope) = try makeEntry(value, options: options, writtenAt: leased.startedAt, key: leased.key)
        await PipelineGates.shared.pass(.beforeWrite, key: leased.key, scope: flightScope)
        // An entry with an envelope marks the store first, in the same owned L2 call as the
        // write: a slow mark goes on past l2Timeout with it, a failed one fails the write.
        let outcome = try await storeUnderLease(
            value, entry, envelope, leased, keepingLease: false, marking: envelope != nil, releasingLock: true)
        return (outcome, envelope)
    }

    /// A leased write's answer: whether it wrote, and whether its announcement went out with
    /// it (``CarriedAnnouncement``; `false`: the caller publishes the announcement of a write).
    struct CarriedWrite: Sendable {
        let written: Bool
        let announced: Bool
    }

    /// How a write under a lease ended.
    enum StoreOutcome {
        /// The store took it.
        case written
        /// The lease was broken: the key changed after the miss.
        case refused
        /// The store failed, was past `l2Timeout` (it may still land), or gave no lease.
        case unknown
    }

    /// Writes under the lease: L2 only while it holds; L1 keeps the value only if no change
    /// of the key began in this process since the miss (and, when L2 failed or the lease
    /// could not be taken, keeps it anyway on that condition: the value is right, and an
    /// outage should not make every call compute). With `releasingLock`, a compute lock
    /// that can release itself with the write (one step on the lock's own Redis) does.
    @discardableResult
    func storeUnderLease<Value: Codable & Sendable>(
        _ value: Value, _ entry: StoredEntry, _ envelope: EntryEnvelope?, _ leased: ComputationLease<Value>, keepingLease: Bool,
        marking: Bool = false, releasingLock: Bool = false
    ) async throws -> StoreOutcome {
        let key = leased.key
        let byteKey = ByteKey(key)
        guard let tiered else {
            // A store of one tier that fails the write: the value is still the answer (C4),
            // unstored, as a tiered store's is when L2 fails; never the kept one instead. A
            // value the store will never hold throws, as `set` does: every call would compute.
            do {
                if marking { try await EnvelopeMarker.mark(source) }
                let written: Bool
                if let memory {
                    written = try memory.setEntry(
                        MemoryEntry(bytes: entry.bytes, value: envelope == nil ? Kept.wrap(value) : nil, expiresAt: entry.expiresAt),
                        forKey: byteKey, ifLeased: leased.lease, keepingLease: keepingLease)
                } else {
                    written = try await source.setEntry(entry, forKey: key, ifLeased: leased.lease, keepingLease: keepingLease)
                }
                return written ? .written : .refused
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as StrataError where error.code == .closed || error.code == .valueTooLarge {
                throw error
            } catch {
                return .unknown
            }
        }
        let copy = MemoryEntry(
            bytes: entry.bytes, value: tiered.kept(value, envelope, checkedEpoch: leased.tagEpoch), expiresAt: entry.expiresAt,
            keptUntil: tiered.l1Deadline())
        let ticket = tiered.tracker.beginWrite(byteKey)
        let since = leased.tracking.current
        guard leased.held else {
            leased.tracking.advance(to: tiered.finishLeasedWrite(ticket, since: since, result: .failed, key: key, copy: copy))
            return .unknown
        }
        let computeLock =
            releasingLock && !keepingLease ? tiered.configuration.computeLock.flatMap { $0.leasesWithLock(in: source) ? $0 : nil } : nil
        // The announcement travels with the write where the store (or the lock) can carry it.
        let announcement = tiered.configuration.invalidationPublisher?.carriedAnnouncement(ofChangeTo: key, writtenTo: source)
        let outcome = await tiered.ownedL2Call(key) { [source, lease = leased.lease, held = leased.lock] () -> CarriedWrite in
            if marking { try await EnvelopeMarker.mark(source) }
            if let computeLock, let held {
                if let announcement,
                    let outcome = try await computeLock.setEntry(
                        entry, forKey: key, ifLeased: lease, releasing: held.token, in: source, announcing: announcement)
                {
                    held.markReleased()
                    return CarriedWrite(written: outcome.written, announced: outcome.announced)
                }
                if announcement == nil,
                    let written = try await computeLock.setEntry(entry, forKey: key, ifLeased: lease, releasing: held.token, in: source)
                {
                    held.markReleased()
                    return CarriedWrite(written: written, announced: false)
                }
            }
            if let announcement, let carrier = source as? any AnnouncementCarrier {
                let outcome = try await carrier.setEntry(
                    entry, forKey: key, ifLeased: lease, keepingLease: keepingLease, announcing: announcement)
                return CarriedWrite(written: outcome.written, announced: outcome.announced)
            }
            return CarriedWrite(
                written: try await source.setEntry(entry, forKey: key, ifLeased: lease, keepingLease: keepingLease), announced: false)
        }
        switch outcome {
        case .answered(let result):
            let written = result.written
            await PipelineGates.shared.pass(.writeAnswered, key: key, scope: flightScope)
            leased.tracking.advance(
                to: tiered.finishLeasedWrite(ticket, since: since, result: written ? .written : .refused, key: key, copy: copy))
            if written && !result.announced { await tiered.announce(.key(key)) }
            return written ? .written : .refused
        case .failed(let error):
            // L2 may or may not hold it: the value is still right for this process, and
            // other instances must not keep the old one (X1).
            leased.tracking.advance(to: tiered.finishLeasedWrite(ticket, since: since, result: .failed, key: key, copy: copy))
            await tiered.announce(.key(key), afterFailure: error)
            return .unknown
        case .pending(let call):
            // Past l2Timeout: keep the value in L1 now, and the key as written-to until L2
            // answers (no L2 read fills L1 meanwhile); then settle and announce.
            tiered.keepInL1IfUnchanged(ticket, byteKey, copy, since: since)
            let settle: @Sendable () async -> Void = {
                // A write that fails now is a failure (reported), not a refusal: L1 keeps
                // the value it holds, for undeliveredL1Expiry at most.
                let result: TieredStore.LeasedWriteResult
                var failure: (any Error)?
                var announced = false
                do {
                    let answer = try await call.value
                    result = answer.written ? .written : .refused
                    announced = answer.announced
                } catch {
                    _ = tiered.recordFailure(error, key: key, since: nil)
                    result = .failed
                    failure = error
                }
                leased.tracking.advance(
                    to: tiered.finishLeasedWrite(ticket, since: since, result: result, key: key, copy: result == .failed ? copy : nil))
                if let failure {
                    await tiered.announce(.key(key), afterFailure: failure)  // L2 may hold it (X1)
                } else if result == .written && !announced {
                    await tiered.announce(.key(key))
                }
            }
            // Owned, so `close()` awaits it before its publisher closes; once `close()` takes
            // on nothing more, awaited here.
            if !tiered.own(settle) { await settle() }
            return .unknown
        }
    }

    /// Releases the cross-instance compute lock (awaited, so `close()` awaits it for the
    /// computations it owns), unless the value's write released it already. The release is
    /// made from a task of its own: a request to Redis from a task cancelled before it is
    /// written (a computation `close()` cancels, a caller that leaves) is withdrawn, and the
    /// lock would stay held for its lease.
    func releaseComputeLock(_ key: String, _ held: HeldComputeLock?) async {
        guard let held, held.claimRelease(), let tiered, let lock = tiered.configuration.computeLock else { return }
        await Task {
            do {
                try await lock.release(key, token: held.token)
            } catch {
                _ = tiered.recordFailure(error, key: key, since: nil)
            }
        }.value
    }

    /// Owns a computation nobody waits for any more: the store awaits it, and `close()`
    /// cancels it (the owning task's cancellation reaches the computation's own task).
    func ownUntilClose<Success: Sendable>(_ work: Task<Success, any Error>) {
        let owned = own {
            await withTaskCancellationHandler {
                _ = await work.result
            } onCancel: {
                work.cancel()
            }
        }
        if !owned { work.cancel() }  // close() takes on nothing more: cancelled, as it would have
    }

    /// Runs `work` in the background, owned by the tiered store (cancelled and awaited by
    /// its `close()`; see ``TieredStore/own(optional:_:)``), or on its own for a store of one
    /// tier; `false` when the tiered store is closing and `work` did not run.
    @discardableResult
    func own(optional: Bool = false, _ work: @escaping @Sendable () async -> Void) -> Bool {
        if let tiered {
            return tiered.own(optional: optional, work)
        } else {
            Task { await work() }
            return true
        }
    }
}
