import Strata

/// The stale-set rule (`Docs/Consistency.md`, C2) across two instances that share one L2:
/// instance A's `getOrSet` of a missing key is held at its miss (a gate, never a sleep),
/// instance B changes the key, A's computation finishes. A's caller gets the computed
/// value; the value never replaces B's change; afterwards A and B both read B's state.
///
/// Each backend's tests run it with two `TieredStore`s over two store objects on one
/// backend (one Redis and key namespace, one SQLite file, one folder), as two processes
/// would have them.
///
/// ```swift
/// try await StaleSetAcrossInstances.check(.delete, computingIn: a, changingIn: b) { reader, condition in
///     reader.applyRemoteInvalidation(.everything)   // no bus: drop L1 to see the other's changes
///     return try await condition()
/// }
/// ```
package enum StaleSetAcrossInstances {
    /// What instance B does while A's computation runs.
    package enum Change: String, CaseIterable, Sendable, CustomStringConvertible {
        case set = "a set"
        case delete = "a delete of the missing key"
        case clearPrefix = "a clear(prefix:) of the key's prefix"
        case invalidateTag = "an invalidation of the computation's tag"

        package var description: String { rawValue }

        /// A name for the keys and tags of this change, so the four never meet.
        var slug: String {
            switch self {
            case .set: "set"
            case .delete: "delete"
            case .clearPrefix: "clear"
            case .invalidateTag: "tag"
            }
        }
    }

    /// Runs the scenario of `change`; throws a ``ConformanceFailure`` naming what differs.
    /// `seeing` is how an instance comes to see the other's changes: it is given the
    /// instance and a condition on its reads, and returns whether the condition held (without
    /// a bus: drop the instance's L1 and look once; with one: poll with a deadline).
    package static func check(
        _ change: Change, computingIn a: TieredStore, changingIn b: TieredStore,
        seeing: (_ reader: TieredStore, _ condition: () async throws -> Bool) async throws -> Bool
    ) async throws {
        let prefix = "c2:\(change.slug):"
        let key = prefix + "k"
        let tag = "c2-\(change.slug)"
        let options = EntryOptions(expires: "1h", tags: [tag])
        let refusedBefore = a.statistics.staleWritesRefused

        let gate = PipelineGates.shared.arm(.afterMiss, key: key, in: a)
        defer { PipelineGates.shared.disarm(gate) }
        let computation = Task { try await a.getOrSet(key, as: String.self, options: options) { "computed by A" } }
        do {
            try await gate.reached()
        } catch {
            computation.cancel()
            throw error
        }
        // A's computation has read the key under its lease and found it missing: B's
        // change begins after the miss.
        switch change {
        case .set: try await b.set(key, "written by B", expires: "1h")
        case .delete: try Expect.equal(try await b.delete(key), false, "B's delete found no entry (the key is missing)")
        case .clearPrefix: _ = try await b.clear(prefix: prefix)
        case .invalidateTag: try await b.invalidate(tags: [tag])
        }
        let changed = b.clock.now()
        gate.open()
        try Expect.equal(try await computation.value, "computed by A", "A's caller gets its computed value")

        let expected: String? = change == .set ? "written by B" : nil
        try Expect.equal(try await b.get(key, as: String.self), expected, "B reads its own \(change) afterwards")
        try Expect.equal(try await b.has(key), expected != nil, "B's has(\(key)) afterwards")
        let seen = try await seeing(a) { try await a.get(key, as: String.self) == expected }
        let aRead = try await a.get(key, as: String.self)
        try Expect.that(
            seen, "A reads B's \(change) afterwards: expected \(String(describing: expected)), got \(String(describing: aRead))")
        try Expect.equal(try await a.has(key), expected != nil, "A's has(\(key)) afterwards")
        if change != .invalidateTag {
            // The lease was broken: A's value was refused, and counted. (A tag invalidation
            // does not change the key: the value is stored, and unreadable.)
            try Expect.equal(a.statistics.staleWritesRefused, refusedBefore + 1, "A counted its refused write")
        }

        // A computation that begins after B's change is stored, and both instances read it.
        // Across instances a tag's instant and a computation's start are compared in whole
        // milliseconds of each one's clock, a tie counting as invalidated (T4): begin it in
        // a later millisecond than B's change.
        while a.clock.now().millisecondsSince1970 <= changed.millisecondsSince1970 { try await Task.sleep(for: .milliseconds(1)) }
        let again = try await a.getOrSet(key, as: String.self, options: options) { "computed again by A" }
        try Expect.equal(again, expected ?? "computed again by A", "A's next getOrSet")
        let bSees = try await seeing(b) { try await b.get(key, as: String.self) == again }
        let bRead = try await b.get(key, as: String.self)
        try Expect.that(bSees, "B reads the value A stored after B's \(change): expected \(again), got \(String(describing: bRead))")
    }

    /// How an instance without a bus sees the other's changes: it drops its L1 (what a bus
    /// would have made it drop), then looks once.
    package static func droppingL1(_ reader: TieredStore, _ condition: () async throws -> Bool) async throws -> Bool {
        reader.applyRemoteInvalidation(.everything)
        return try await condition()
    }

    /// The scenario of `change` with two instances without a bus: each a `TieredStore` over
    /// its own open of one shared backend, made by `open` (a SQLite file opened twice, a
    /// folder opened twice); closes both.
    ///
    /// ```swift
    /// try await StaleSetAcrossInstances.checkWithoutBus(.set) { try SQLiteStore(path: path) }
    /// ```
    package static func checkWithoutBus(_ change: Change, opening open: () throws -> any KeyValueStore) async throws {
        // A long l2Timeout: A's leased write must reach L2 to be refused there (and counted);
        // under a loaded CI machine a folder write once took longer than the default 2 s,
        // and a write past it is reported as failed, not refused.
        let configuration = TieredStore.Configuration(l2Timeout: .seconds(60))
        let a = TieredStore(l1: MemoryStore(maxEntries: 1_000), l2: try open(), configuration: configuration)
        let b = TieredStore(l1: MemoryStore(maxEntries: 1_000), l2: try open(), configuration: configuration)
        do {
            try await check(change, computingIn: a, changingIn: b, seeing: droppingL1)
        } catch {
            try? await a.close()
            try? await b.close()
            throw error
        }
        try await a.close()
        try await b.close()
    }
}
