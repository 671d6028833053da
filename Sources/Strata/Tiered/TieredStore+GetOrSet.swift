/// `getOrSet`: single flight across both tiers, the compute lock, and L2 calls within
/// `l2Timeout`.
extension TieredStore {
    /// Single flight across both tiers: L1, then L2 (a value there is not computed
    /// again), then `compute`. An entry that does not decode as `type` counts as a miss
    /// and is replaced. When L2 fails or takes longer than `l2Timeout`, the value is
    /// computed (or returned) anyway and the failure is reported.
    @inlinable  // the L1 hit specializes in the caller's module
    public func getOrSetValue<Value: Codable & Sendable>(
        forKey key: String,
        as type: Value.Type,
        expires: Expiry?,
        compute: () async throws -> Value
    ) async throws -> Value {
        var now: Int64 = 0
        if let cached = try l1.lookUp(ByteKey(key), now: &now, bytesBesideValue: false), let value = Kept<Value>.read(cached.value) {
            recordL1Hit(key, since: nil)
            return value
        }
        return try await getOrSetFromL2(forKey: key, as: type, expires: expires, compute: compute)
    }

    @usableFromInline
    func getOrSetFromL2<Value: Codable & Sendable>(
        forKey key: String,
        as type: Value.Type,
        expires: Expiry?,
        compute: () async throws -> Value
    ) async throws -> Value {
        let byteKey = ByteKey(key)
        if let value = try l1Value(byteKey, as: type) { return value }
        return try await SingleFlight.shared.run(scope: ObjectIdentifier(self), key: key) {
            if let value = try l1Value(byteKey, as: type) { return value }
            let started = observing ? ContinuousClock.now : nil
            let snapshot = tracker.snapshot(byteKey)
            if let entry = try await timedL2(key, since: started, { [l2] in try await l2.entry(forKey: key) }) ?? nil {
                TieredCounters.bump(counters.l2Hits)
                report(.hit, .l2, key, since: started)
                if let value = try? ValueCoding.decode(entry.bytes, as: type, key: key, backend: backendName) {
                    fill(byteKey, entry, value: Kept.wrap(value), snapshot: snapshot)
                    return value
                }
                TieredCounters.bump(counters.undecodable)
                report(.undecodable, .l2, key, since: started)
            } else {
                TieredCounters.bump(counters.misses)
                report(.miss, .l2, key, since: started)
            }
            // Across processes: take the shared lock, or wait for its holder's value.
            var lockToken: String?
            if let lock = configuration.computeLock {
                switch try await awaitComputeLock(lock, key: key, byteKey: byteKey, as: type) {
                case .value(let value): return value
                case .token(let token): lockToken = token
                case .computeWithoutLock: break
                }
            }
            defer {
                if let lock = configuration.computeLock, let lockToken {
                    Task { try? await lock.release(key, token: lockToken) }
                }
            }
            let computeStarted = observing ? ContinuousClock.now : nil
            let value = try await compute()
            TieredCounters.bump(counters.computations)
            report(.compute, .l1, key, since: computeStarted)

            let entry = StoredEntry(
                bytes: try ValueCoding.encode(value, key: key, backend: backendName), expiresAt: deadline(for: expires))
            let ticket = tracker.beginWrite(byteKey)
            let written: Void? = try await timedL2(key, since: computeStarted, { [l2] in try await l2.setEntry(entry, forKey: key) })
            if written != nil { TieredCounters.bump(counters.writes) }
            // Even when L2 failed, the computed value is right: keep it in L1 (for at most
            // l1Expiry), so an L2 outage does not make every call compute again.
            let copy = MemoryEntry(
                bytes: entry.bytes, value: Kept.wrap(value), expiresAt: entry.expiresAt,
                keptUntil: l1Deadline())
            tracker.finishWrite(ticket, keep: { try? l1.store(byteKey, copy) }, drop: { try? l1.remove(byteKey) })
            if written != nil { await announce(.key(key)) }
            return value
        }
    }

    enum LockOutcome<Value> {
        case value(Value)
        case token(String)
        case computeWithoutLock
    }

    /// Takes the compute lock for `key`, or waits for the holder's value to appear in L2.
    /// Computes without the lock when the lock fails or the wait runs out; a holder that
    /// died loses the lock when its lease ends, and then this process takes it.
    func awaitComputeLock<Value: Codable & Sendable>(
        _ lock: any ComputeLock, key: String, byteKey: ByteKey, as type: Value.Type
    ) async throws -> LockOutcome<Value> {
        let giveUp = ContinuousClock.now + configuration.computeLockWait
        while true {
            let token: String?
            do {
                token = try await lock.acquire(key, lease: configuration.computeLockLease)
            } catch {
                _ = recordFailure(error, key: key, since: nil)
                return .computeWithoutLock
            }
            let snapshot = tracker.snapshot(byteKey)
            // The holder (or this process, before it took the lock) may have written it.
            if let entry = try? await l2.entry(forKey: key),
               let value = try? ValueCoding.decode(entry.bytes, as: type, key: key, backend: backendName) {
                if let token { try? await lock.release(key, token: token) }
                fill(byteKey, entry, value: Kept.wrap(value), snapshot: snapshot)
                TieredCounters.bump(counters.l2Hits)
                return .value(value)
            }
            if let token { return .token(token) }
            if ContinuousClock.now > giveUp { return .computeWithoutLock }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// An L1 hit decodable as `type`; an undecodable L1 copy counts as a miss.
    func l1Value<Value: Codable & Sendable>(_ key: ByteKey, as type: Value.Type) throws -> Value? {
        guard let cached = try l1.lookUp(key) else { return nil }
        let value = Kept<Value>.read(cached.value) ?? (try? ValueCoding.decode(cached.bytes, as: type, key: key.string, backend: backendName))
        if value != nil {
            counters.l1Hits.increment()
            report(.hit, .l1, key.string, since: nil)
        }
        return value
    }

    /// An L2 call within `l2Timeout`; `nil` when it failed or timed out (and was reported).
    func timedL2<Output: Sendable>(
        _ key: String, since started: ContinuousClock.Instant?, _ call: @escaping @Sendable () async throws -> Output
    ) async throws -> Output? {
        do {
            return try await withTimeout(configuration.l2Timeout, call)
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as StrataError where error.code == .closed {
            throw error
        } catch is TimeoutRace<Output>.TimedOut {
            TieredCounters.bump(counters.l2Errors)
            let error = StrataError(
                code: .backendUnavailable, message: "L2 did not answer within \(configuration.l2Timeout!)",
                key: key, backend: l2.backendName)
            report(.timeout, .l2, key, since: started, error: error)
            return nil
        } catch {
            _ = recordFailure(error, key: key, since: started)
            return nil
        }
    }
}
