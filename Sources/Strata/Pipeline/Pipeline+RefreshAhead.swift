/// Eager refresh: a hit past `refreshAhead` of its lifetime returns at once and starts one
/// background computation of the key, which takes a lease like any computation, so its value
/// never replaces a change made while it ran.
extension Pipeline {
    func refreshAheadIfDue<Value: Codable & Sendable>(
        _ key: String, found: StoredValue<Value>, options: EntryOptions, computation: Computation<Value>
    ) {
        guard let ratio = options.refreshAhead, let envelope = found.envelope, envelope.expiresAt != Int64.max else { return }
        let lifetime = Double(envelope.expiresAt - envelope.writtenAt)
        let due = envelope.writtenAt + Int64(lifetime * ratio)
        guard clock.now().millisecondsSince1970 >= due else { return }
        let flight = RefreshFlights.Key(store: flightScope, key: key)
        guard RefreshFlights.shared.begin(flight) else { return }
        let owned = own(optional: true) {
            defer { RefreshFlights.shared.end(flight) }
            await refresh(key, found: found, options: options, computation: computation)
        }
        if !owned { RefreshFlights.shared.end(flight) }  // the store is closing: no refresh
    }

    private func refresh<Value: Codable & Sendable>(
        _ key: String, found: StoredValue<Value>, options: EntryOptions, computation: Computation<Value>
    ) async {
        // One refresh across instances: another holding the lock is refreshing the key.
        var heldLock: HeldComputeLock?
        if let tiered, let lock = tiered.configuration.computeLock {
            do {
                guard let token = try await lock.acquire(key, lease: tiered.configuration.computeLockLease) else { return }
                heldLock = HeldComputeLock(token: token)  // not renewed: nobody waits for a refresh, and it has no timeout
            } catch {
                _ = tiered.recordFailure(error, key: key, since: nil)
            }
        }
        tiered?.reportResilience(.refreshAhead, key, error: nil)
        await prepareTags(options.tags)  // before its start
        let lease = EntryLease.random()
        let byteKey = ByteKey(key)
        let tracking = LeaseTracking(tiered?.tracker.snapshot(byteKey))
        let tagEpoch = tiered?.tagTable.epoch.load(ordering: .acquiring) ?? 0
        let startedAt = hybridClock.writeStamp(now: clock.now().millisecondsSince1970) - skewAllowance
        do {
            let current = try await source.leaseEntry(forKey: key, lease: lease, duration: EntryLease.defaultDuration)
            // Refreshed already (by another instance, or a write): nothing to do.
            if let current, let stored = try? decode(current, key: key, as: Value.self, for: .compute),
                stored.envelope?.writtenAt ?? Int64.max > found.envelope!.writtenAt
            {
                try? await source.releaseLease(lease, forKey: key)
                await releaseComputeLock(key, heldLock)
                return
            }
            let leased = ComputationLease(
                key: key, lease: lease, held: true, tracking: tracking, tagEpoch: tagEpoch, startedAt: startedAt, kept: found,
                lock: heldLock)
            let context = ComputeContext(
                staleValue: found.value, staleWrittenAt: Timestamp(millisecondsSince1970: found.envelope!.writtenAt), options: options)
            let value = try await computation.body(context)
            tiered?.reportResilience(.compute, key, error: nil)
            try await storeComputed(value, options: context.options, leased)
        } catch {
            try? await source.releaseLease(lease, forKey: key)
            tiered?.reportResilience(
                .failure, key,
                error: error as? StrataError
                    ?? StrataError(
                        code: .backendUnavailable, message: "the eager refresh failed: \(error)", key: key,
                        backend: backendName, underlying: error))
        }
        await releaseComputeLock(key, heldLock)
    }
}

/// The keys being refreshed ahead in this process, so each is refreshed once at a time.
final class RefreshFlights: Sendable {
    struct Key: Hashable, Sendable {
        let store: ObjectIdentifier
        let key: String
    }

    static let shared = RefreshFlights()
    private let running = Lock(Set<Key>())

    /// `true` when no refresh of `key` was running (and one now is).
    func begin(_ key: Key) -> Bool { running.withLock { $0.insert(key).inserted } }
    func end(_ key: Key) { _ = running.withLock { $0.remove(key) } }
}
