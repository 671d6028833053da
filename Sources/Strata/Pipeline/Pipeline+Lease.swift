/// Step 4 of the compute path (see `Pipeline+Compute.swift`): the lease on the key, and
/// the read under it that is the computation's miss.
extension Pipeline {
    enum LeaseOutcome<Value: Codable & Sendable> {
        /// The read under the lease found a fresh value (written meanwhile).
        case value(Value)
        case lease(ComputationLease<Value>)
    }

    /// What a lease on `key` is judged against, taken just before the lease is: the write
    /// tracker's state, the tag epoch and the computation's start for its tags.
    func startLease(_ key: String) -> LeaseStart {
        var tagEpoch = tiered?.tagTable.epoch.load(ordering: .acquiring) ?? 0
        var startedAt = hybridClock.writeStamp(now: clock.now().millisecondsSince1970) - skewAllowance
        // A key of a bulk computation starts with the bulk call (once its read answered): its
        // computation may begin well after this lease, and a tag invalidated since may concern it
        // (its L1 copy is stamped with the tag epoch of then, so L1 checks its tags again).
        if let bulk = BulkParticipant.current, bulk.key.utf8.elementsEqual(key.utf8) {
            startedAt = min(startedAt, bulk.startedAt)
            tagEpoch = min(tagEpoch, bulk.tagEpoch)
        }
        return LeaseStart(
            lease: EntryLease.random(), tracking: LeaseTracking(tiered?.tracker.snapshot(ByteKey(key))), tagEpoch: tagEpoch,
            startedAt: startedAt)
    }

    /// How step 4 reads the key when the compute lock did not read it with the lock.
    enum LeaseTaking {
        /// A lease is taken, and the key read under it.
        case leased
        /// No lease, no read: the source passed `l2Timeout`, and is not waited for twice.
        case skipped
        /// No lease (another instance holds the compute lock, and its lease), but the key is
        /// read once more, plainly, after the tracker's state is taken: the holder's value may
        /// have landed since the last look.
        case readPlainly
    }

    /// Step 4: takes a lease and reads the key under it, within `l2Timeout`, unless the
    /// compute lock took it with the lock (`leasedRead`). A source that failed the first
    /// read is asked once more (a transient failure should not keep the value out of L2).
    /// `taking` says whether a lease is taken at all (see ``LeaseTaking``). Without the
    /// lease, the value is computed and kept in L1 only.
    func takeLease<Value: Codable & Sendable>(
        _ key: String, as type: Value.Type, kept: StoredValue<Value>?, lock: HeldComputeLock?, leasedRead: LeasedRead?,
        taking: LeaseTaking
    ) async throws -> LeaseOutcome<Value> {
        let start = leasedRead?.start ?? startLease(key)
        let (lease, tracking, tagEpoch, startedAt) = (start.lease, start.tracking, start.tagEpoch, start.startedAt)
        let byteKey = ByteKey(key)
        // `answered`: L2 answered the read here (under the lease, or, without one, plainly).
        let (held, entry, answered): (Bool, StoredEntry?, Bool)
        if let leasedRead {
            (held, entry, answered) = (leasedRead.held, leasedRead.entry, leasedRead.held)
        } else {
            switch taking {
            case .leased:
                (held, entry) = try await take(lease, on: key)
                answered = held
            case .skipped:
                (held, entry, answered) = (false, nil, false)
            case .readPlainly:
                let read = try await readWithoutLease(key)
                (held, entry, answered) = (false, read?.entry, read != nil)
            }
        }
        // The fallback (fail-safe) is what the read under the lease kept, not what an earlier
        // read did: a delete, clear or tag invalidation that landed between the two must not
        // bring the old value back (R1, T1). Only when L2 gave no answer here (it failed or
        // passed l2Timeout: a tiered store) does the earlier read's value stand, and only
        // while L1 still holds that write's copy, its tags valid (L1's own check, after the
        // tag epoch the lease recorded): a change in this process removed or replaced it.
        var fallback: StoredValue<Value>? = nil
        if !answered, let tiered, let keptEnvelope = kept?.envelope,
            case .stale(let again) = try await l1ReadWithoutL2Failure(tiered, byteKey, as: type),
            again.envelope?.writtenAt == keptEnvelope.writtenAt
        {
            fallback = again
        }
        if let entry {
            if let found = try decode(entry, key: key, as: type, for: .compute) {
                if try await tagsAreValid(found.envelope) {
                    if found.isFresh(nowMilliseconds: clock.now().millisecondsSince1970) {
                        // Not after a plain read: the key's lease is the lock holder's, not ours.
                        if taking != .readPlainly { try? await source.releaseLease(lease, forKey: key) }
                        await PipelineGates.shared.pass(.beforeFill, key: key, scope: flightScope)
                        if let tiered, let snapshot = tracking.current {
                            let copy = tiered.kept(found.value, found.envelope, checkedEpoch: tagEpoch)
                            tiered.fill(byteKey, entry, value: copy, snapshot: snapshot)
                        }
                        return .value(found.value)
                    }
                    fallback = found
                }
            } else if case .unreadable = EntryEnvelope.parse(entry.bytes) {
                // An envelope of a later version: a miss, not a value of another type.
            } else {
                tiered?.countUndecodable(key)  // a value of another type: computed again and replaced
            }
        }
        return .lease(
            ComputationLease(
                key: key, lease: lease, held: held, tracking: tracking, tagEpoch: tagEpoch, startedAt: startedAt,
                kept: fallback, lock: lock))
    }

    /// L1's copy of `key` as the compute path sees it, looked at again (no request counted);
    /// `.missing` when checking its tags needed L2 and L2 failed: L2 has just failed the
    /// lease, and the fallback is then dropped rather than the call failed with L2's error.
    private func l1ReadWithoutL2Failure<Value: Codable & Sendable>(
        _ tiered: TieredStore, _ key: ByteKey, as type: Value.Type
    ) async throws -> TieredStore.L1Read<Value> {
        do {
            return try await tiered.l1Read(key, as: type, for: .compute, look: .again)
        } catch let error as StrataError where error.code == .closed {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return .missing
        }
    }

    /// Makes `lease` the key's lease in the source and reads the key under it: whether the
    /// source took it (within `l2Timeout`, for a tiered store; a failure is reported) and
    /// the entry read.
    func take(_ lease: EntryLease, on key: String) async throws -> (held: Bool, entry: StoredEntry?) {
        let duration = EntryLease.defaultDuration
        guard let tiered else { return (true, try await source.leaseEntry(forKey: key, lease: lease, duration: duration)) }
        do {
            guard
                let read = try await tiered.timedL2(
                    key, since: nil,
                    { [source] in
                        try await source.leaseEntry(forKey: key, lease: lease, duration: duration)
                    })
            else { return (false, nil) }  // failed or timed out, and reported
            return (true, read)
        } catch let error as StrataError where error.code == .closed {
            throw error
        }
    }

    /// The key read plainly, within `l2Timeout` for a tiered store (its `entry`: `nil` when
    /// it is missing); `nil` when the read failed or timed out (reported).
    private func readWithoutLease(_ key: String) async throws -> PlainRead? {
        guard let tiered else { return PlainRead(entry: try await source.entry(forKey: key)) }
        do {
            return try await tiered.timedL2(key, since: nil) { [source] in try await source.entry(forKey: key) }.map(PlainRead.init)
        } catch let error as StrataError where error.code == .closed {
            throw error
        }
    }

    /// What a plain read of L2 answered: the key's entry, `nil` when it is missing.
    struct PlainRead {
        let entry: StoredEntry?
    }

    /// How far a computation's start is moved back for its tags: the clock skew the tiered
    /// store allows between instances (see `TieredStore.Configuration.clockSkewTolerance`).
    var skewAllowance: Int64 {
        tiered?.configuration.clockSkewTolerance.wholeMilliseconds(roundingUp: true) ?? 0
    }
}
