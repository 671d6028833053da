/// The bulk compute path: one read of every key, then each missing key takes the single-key
/// compute path (so single flight, the compute lock, the lease, timeouts and grace hold per
/// key, shared with concurrent single-key calls), and the keys that reach their computation
/// together are computed in one call (see ``BulkComputation``).
extension Pipeline {
    /// The values of `keys` (caller keys, validated and without repeats), those missing
    /// computed by `compute` and stored with `options` (merged and checked). A key the
    /// computation does not return is absent; when a key's computation fails with no kept
    /// value to serve, the call throws (the first such key's error, in `keys`' order).
    func getOrSet<Value: Codable & Sendable>(
        _ keys: [String], as type: Value.Type, options: EntryOptions, mayOutliveCall: Bool,
        compute: @escaping BulkComputation<Value>.Compute
    ) async throws -> [String: Value] {
        guard !keys.isEmpty else { return [:] }
        let fullKeys = keys.map { keyPrefix + $0 }
        var unavailable = false
        let found = try await readStored(fullKeys, as: type, for: .compute, sourceUnavailable: &unavailable)
        // As a single getOrSet: the tags' records are read after the read (skipped when it
        // passed l2Timeout, so a hanging L2 is waited out once), and before the start every
        // key's computation shares is taken, so that a record found missing is earlier.
        await prepareTags(options.tags, skipsL2: unavailable)
        let tagEpoch = tiered?.tagTable.epoch.load(ordering: .acquiring) ?? 0
        let startedAt = hybridClock.writeStamp(now: clock.now().millisecondsSince1970) - skewAllowance
        var values: [String: Value] = [:]
        var missing: [String: String] = [:]  // path key → caller key
        var order: [String] = []
        let now = clock.now().millisecondsSince1970
        for (index, key) in fullKeys.enumerated() {
            if let hit = found[key], hit.isFresh(nowMilliseconds: now) {
                values[keys[index]] = hit.value
                if mayOutliveCall {
                    refreshAheadIfDue(
                        key, found: hit, options: options, computation: .detachable(Self.single(keys[index], compute, backend: backendName))
                    )
                }
            } else {
                missing[key] = keys[index]
                order.append(key)
            }
        }
        guard !order.isEmpty else { return values }
        let batch = BulkComputation(keys: order, callerKeys: missing, backend: backendName, compute: compute)
        let sourceUnavailable = unavailable
        var failures: [String: any Error] = [:]
        try await withThrowingTaskGroup(of: (String, Result<Value, any Error>).self) { group in
            for key in order {
                let kept = found[key]
                group.addTask {
                    let result = await BulkParticipant.$current.withValue(
                        BulkParticipant(key: key, batch: batch, startedAt: startedAt, tagEpoch: tagEpoch)
                    ) {
                        do {
                            let computation = Computation<Value>(
                                body: { _ in try await batch.value(for: key) }, mayOutliveCall: mayOutliveCall)
                            return Result<Value, any Error>.success(
                                try await computeMissing(
                                    key, as: type, options: options, computation: computation, found: kept,
                                    sourceUnavailable: sourceUnavailable))
                        } catch {
                            return .failure(error)
                        }
                    }
                    batch.settle(key, as: .finished)
                    return (key, result)
                }
            }
            // With timeouts, a computation may outlive the call: the store owns it (or, once the
            // store is closing and owns nothing optional, the call runs it, unbounded by its
            // timeouts, so no key waits for a computation that never runs, or runs cancelled
            // while its callers wait).
            let owned =
                mayOutliveCall && (options.hardTimeout != nil || options.softTimeout != nil)
                && own(optional: true) { await batch.computeWhenReady() }
            if !owned { await batch.computeWhenReady() }
            for try await (key, result) in group {
                switch result {
                case .success(let value): values[missing[key]!] = value
                case .failure(let error as StrataError) where error.code == .notComputed: break
                case .failure(let error): failures[key] = error
                }
            }
        }
        if let first = order.first(where: { failures[$0] != nil }) { throw failures[first]! }
        return values
    }

    /// `compute` asked for one key, as an eager refresh of that key runs it.
    private static func single<Value: Sendable>(
        _ key: String, _ compute: @escaping BulkComputation<Value>.Compute, backend: String
    ) -> @Sendable (ComputeContext<Value>) async throws -> Value {
        { _ in
            guard let value = try await compute([key])[key] else {
                throw StrataError(
                    code: .notComputed, message: "the bulk computation did not return a value for the key", key: key, backend: backend)
            }
            return value
        }
    }
}
