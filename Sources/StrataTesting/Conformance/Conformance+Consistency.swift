import Strata

/// The rules of `Docs/Consistency.md` that hold for one instance of every store: each
/// interleaving forced with a gate at a named point of the pipeline, never a sleep.
extension KeyValueStoreConformance {
    /// Runs `getOrSet(key)` until its computation's miss, runs `change` there, lets the
    /// computation finish, and returns what the computation's caller got.
    package static func computing<Value: Codable & Sendable & Equatable>(
        _ key: String, in store: any KeyValueStore, value: Value, options: EntryOptions = EntryOptions(expires: "1h"),
        whileComputing change: () async throws -> Void
    ) async throws -> Value {
        let gate = PipelineGates.shared.arm(.afterMiss, key: key, in: store)
        defer { PipelineGates.shared.disarm(gate) }
        let computation = Task { try await store.getOrSet(key, as: Value.self, options: options) { value } }
        do {
            try await gate.reached()
        } catch {
            computation.cancel()
            throw error
        }
        try await change()
        gate.open()
        return try await computation.value
    }

    /// Writes `rates` (1) with a grace, lets its lifetime pass, and holds a `getOrSet` of it
    /// whose computation fails at `point`, where its first read has kept 1 as its fallback.
    /// Runs `change` there, lets the call go on, and returns the call with what `change` gave.
    static func holdingAFailingComputation<Outcome>(
        at point: PipelineGates.Point, in store: any KeyValueStore, _ context: Context,
        while change: (_ options: EntryOptions) async throws -> Outcome
    ) async throws -> (call: Task<Int, any Error>, outcome: Outcome) {
        let options = graceful(context, throttle: "1h")
        _ = try await store.getOrSet("rates", as: Int.self, options: options) { 1 }
        try await context.passShortLifetime()
        let gate = PipelineGates.shared.arm(point, key: "rates", in: store)
        defer { PipelineGates.shared.disarm(gate) }
        let call = Task {
            try await store.getOrSet("rates", as: Int.self, options: options) { () async throws -> Int in throw ComputeFailure() }
        }
        do {
            try await gate.reached()
        } catch {
            call.cancel()
            throw error
        }
        let outcome = try await change(options)
        gate.open()
        return (call, outcome)
    }

    /// Holds a flight's leader once its value is stored (`afterWrite`), runs `change`, lets a
    /// caller join the flight, and lets the flight end; returns what the leader's caller and
    /// the follower got. The follower began after the change returned (R1).
    package static func joiningAfterAChange(
        in store: any KeyValueStore, change: () async throws -> Void
    ) async throws -> (leader: String, follower: String) {
        let gate = PipelineGates.shared.arm(.afterWrite, key: "k", in: store)
        defer { PipelineGates.shared.disarm(gate) }
        let leader = Task { try await store.getOrSet("k", as: String.self, expires: "1h") { "computed by the leader" } }
        try await gate.reached()
        try await change()
        let follower = Task { try await store.getOrSet("k", as: String.self, expires: "1h") { "computed by the follower" } }
        let joined = try await eventually(poll: .milliseconds(1)) { PipelineGates.shared.flightWaiters("k", in: store) == 1 }
        try Expect.that(joined, "the follower joined the leader's flight")
        gate.open()
        return (try await leader.value, try await follower.value)
    }

    static let consistencyChecks: [Check] = [
        Check("stale-set: a computed value never replaces a set that began after its computation's miss") { context in
            try await withStore(context) { store in
                let returned = try await computing("k", in: store, value: "computed") { try await store.set("k", "newer") }
                try Expect.equal(returned, "computed", "the computation's caller gets its value")
                try Expect.equal(try await store.get("k", as: String.self), "newer", "the set that began after the miss")
                try Expect.equal(try await store.getOrSet("k", as: String.self) { "again" }, "newer", "getOrSet after")
            }
        },
        Check("stale-set: a computed value never replaces a delete that began after its miss, of a missing key too") { context in
            try await withStore(context) { store in
                _ = try await computing("absent", in: store, value: "computed") { try await store.delete("absent") }
                try Expect.equal(try await store.get("absent", as: String.self), nil, "the delete of a missing key wins")
                try Expect.equal(try await store.has("absent"), false, "has after the delete")
            }
        },
        Check("stale-set: a computed value never replaces a clear(prefix:) that began after its miss") { context in
            try await withStore(context) { store in
                _ = try await computing("p:k", in: store, value: "computed") { try await store.clear(prefix: "p:") }
                try Expect.equal(try await store.get("p:k", as: String.self), nil, "the clear wins")
                _ = try await computing("q:k", in: store, value: "computed") { try await store.clear() }
                try Expect.equal(try await store.get("q:k", as: String.self), nil, "clear() wins")
            }
        },
        Check("stale-set: a computed value is unreadable after an invalidation of its tag that began after its miss") { context in
            try await withStore(context) { store in
                let options = EntryOptions(expires: "1h", tags: ["team:3"])
                let returned = try await computing("tagged", in: store, value: "computed", options: options) {
                    try await store.invalidate(tags: ["team:3"])
                }
                try Expect.equal(returned, "computed", "the computation's caller gets its value")
                try Expect.equal(try await store.get("tagged", as: String.self), nil, "the value computed before the invalidation")
                try Expect.equal(try await store.has("tagged"), false, "has")
                try Expect.equal(try await store.keys(prefix: "tagged"), [], "keys")
            }
        },
        Check("a write right after an invalidation of its tag is readable, and a write right before is not") { context in
            try await withStore(context) { store in
                let options = EntryOptions(expires: "1h", tags: ["team:3"])
                try await store.set("before", "B", options: options)
                try await store.invalidate(tags: ["team:3"])
                try await store.set("after", "A2", options: options)
                try Expect.equal(try await store.get("after", as: String.self), "A2", "the write after the invalidation")
                try Expect.equal(try await store.get("before", as: String.self), nil, "the write before it")
                let computed = try await store.getOrSet("computed", as: String.self, options: options) { "C" }
                try Expect.equal(computed, "C", "a computation after the invalidation")
                try Expect.equal(try await store.get("computed", as: String.self), "C", "its value is readable")
            }
        },
        Check("after invalidate(tags:), every read of a tagged entry misses, the second as the first") { context in
            try await withStore(context) { store in
                try await store.set("t1", "one", options: EntryOptions(expires: "1h", tags: ["t"]))
                try Expect.equal(try await store.get("t1", as: String.self), "one", "before the invalidation")
                // A getOrSet with options answers a hit by a path of its own (a tiered store's
                // L1 without its pipeline): it honours the tag as a plain read does.
                let withOptions = EntryOptions(expires: "1h", tags: ["t"])
                try await store.set("t2", "two", options: withOptions)
                try Expect.equal(
                    try await store.getOrSet("t2", as: String.self, options: withOptions) { "computed too early" }, "two",
                    "getOrSet with options, before the invalidation")
                try await store.invalidate(tags: ["t"])
                for attempt in 1...3 {
                    try Expect.equal(try await store.get("t1", as: String.self), nil, "get number \(attempt) after the invalidation")
                }
                try Expect.equal(
                    try await store.getOrSet("t2", as: String.self, options: EntryOptions(expires: "1h")) { "recomputed two" },
                    "recomputed two", "getOrSet with options computes after the invalidation")
                try Expect.equal(try await store.getOrSet("t1", as: String.self) { "recomputed" }, "recomputed", "getOrSet computes")
            }
        },
        Check("an entry written with options reads back through a plain getOrSet as its value, never its envelope") { context in
            try await withStore(context) { store in
                let options = EntryOptions(expires: "1h", grace: "1h", tags: ["x"])
                try await store.set("data", [UInt8]([1, 2, 3]), options: options)
                try Expect.equal(try await store.getOrSet("data", as: [UInt8].self) { [9] }, [1, 2, 3], "a plain getOrSet of [UInt8]")
                try await store.set("sample", Sample(id: 7, name: "s", tags: []), options: options)
                let calls = Counter()
                let sample = try await store.getOrSet("sample", as: Sample.self) {
                    calls.increment()
                    return Sample(id: 0, name: "computed", tags: [])
                }
                try Expect.equal(sample.id, 7, "a plain getOrSet of a Codable value")
                try Expect.equal(calls.count, 0, "nothing computed")
                try Expect.equal(try await store.readableEntry(forKey: "data")?.bytes, [1, 2, 3], "readableEntry: the payload")
            }
        },
        Check("grace is never visible to plain reads: past its lifetime an entry is not read, listed or counted as present") { context in
            try await withStore(context) { store in
                let start = ContinuousClock.now
                try await store.set("graced", "v", options: EntryOptions(expires: context.short, grace: "1h"))
                let entry = try await store.readableEntry(forKey: "graced")
                try context.requireShortLifetimeLasted(since: start)
                try Expect.equal(entry?.bytes, Array("v".utf8), "readableEntry within the lifetime")
                try Expect.that(entry?.expiresAt != nil, "readableEntry reports the end of the lifetime")
                try await context.passShortLifetime()
                try Expect.equal(try await store.readableEntry(forKey: "graced"), nil, "readableEntry in grace")
                try Expect.equal(try await store.keys(prefix: ""), [], "keys(prefix:) in grace")
                try await store.sweepExpired()
                try Expect.equal(try await store.keys(prefix: ""), [], "keys(prefix:) after a sweep lists no record of Strata's")
            }
        },
        Check("fail-safe never serves or re-arms a kept value deleted before the computation's lease") { context in
            try await withStore(context) { store in
                // The call's first read keeps 1 (in its grace); the delete lands before its lease.
                let (failing, options) = try await holdingAFailingComputation(at: .beforeLease, in: store, context) { options in
                    try await store.delete("rates")
                    return options
                }
                do {
                    let value = try await failing.value
                    throw ConformanceFailure(
                        message:
                            "a failing computation whose key was deleted before its lease: expected its failure, got the kept \(value)",
                        location: "\(#fileID):\(#line)")
                } catch is ComputeFailure {}
                try Expect.equal(try await store.get("rates", as: Int.self), nil, "the deleted value stays deleted")
                try Expect.equal(
                    try await store.getOrSet("rates", as: Int.self, options: options) { 3 }, 3, "a later getOrSet computes")
            }
        },
        Check("a set racing an invalidation of its tag: once both end, the entry is unreadable, L1 included") { context in
            try await withStore(context) { store in
                let options = EntryOptions(expires: "1h", tags: ["team:4"])
                // The set took its write instant; the invalidation runs before it writes.
                let gate = PipelineGates.shared.arm(.beforeSet, key: "k", in: store)
                defer { PipelineGates.shared.disarm(gate) }
                let setting = Task { try await store.set("k", "written", options: options) }
                try await gate.reached()
                try await store.invalidate(tags: ["team:4"])
                gate.open()
                try await setting.value
                try Expect.equal(try await store.get("k", as: String.self), nil, "a write that began before the invalidation")
                try Expect.equal(try await store.get("k", as: String.self), nil, "read again")
            }
        },
        Check("a caller that joins a flight after an invalidation of the value's tag does not take the value") { context in
            try await withStore(context) { store in
                let options = EntryOptions(expires: "1h", tags: ["team:5"])
                let gate = PipelineGates.shared.arm(.beforeWrite, key: "k", in: store)
                defer { PipelineGates.shared.disarm(gate) }
                let leader = Task { try await store.getOrSet("k", as: String.self, options: options) { "before" } }
                try await gate.reached()  // computed before the invalidation, not yet written
                try await store.invalidate(tags: ["team:5"])
                let follower = Task { try await store.getOrSet("k", as: String.self, options: options) { "after" } }
                let joined = try await eventually(poll: .milliseconds(1)) { PipelineGates.shared.flightWaiters("k", in: store) == 1 }
                try Expect.that(joined, "the follower joined the leader's flight")
                gate.open()
                try Expect.equal(try await leader.value, "before", "the leader's caller gets its value")
                try Expect.equal(try await follower.value, "after", "the follower began after the invalidation: it computes")
            }
        },
        Check("a caller that joins a failing flight after a delete does not take the fallback whose re-arm the delete refused") { context in
            try await withStore(context) { store in
                // Its miss kept 1: its caller may be served it.
                let (failing, follower) = try await holdingAFailingComputation(at: .afterMiss, in: store, context) { options in
                    try await store.delete("rates")
                    let follower = Task { try await store.getOrSet("rates", as: Int.self, options: options) { 2 } }
                    let joined = try await eventually(poll: .milliseconds(1)) {
                        PipelineGates.shared.flightWaiters("rates", in: store) == 1
                    }
                    try Expect.that(joined, "the follower joined the failing flight")
                    return follower
                }
                try Expect.equal(try await failing.value, 1, "the failing computation's caller gets the value kept at its miss")
                try Expect.equal(try await follower.value, 2, "the follower began after the delete: it computes")
            }
        },
        Check("C1/R1: a caller that joins a flight after a delete that followed the flight's write does not take the deleted value") {
            context in
            try await withStore(context) { store in
                let got = try await joiningAfterAChange(in: store) { try await store.delete("k") }
                try Expect.equal(got.leader, "computed by the leader", "the leader's caller gets its value")
                try Expect.equal(got.follower, "computed by the follower", "the follower began after the delete: it computes")
                try Expect.equal(try await store.get("k", as: String.self), "computed by the follower", "the follower's value is stored")
            }
        },
        Check("C1/R1: a caller that joins a flight after a clear(prefix:) that followed the flight's write does not take the cleared value")
        {
            context in
            try await withStore(context) { store in
                let got = try await joiningAfterAChange(in: store) { _ = try await store.clear(prefix: "k") }
                try Expect.equal(got.follower, "computed by the follower", "the follower began after the clear: it computes")
            }
        },
        Check("C1/R1: a caller that joins a failing flight after a delete computes its own value rather than take the failure") { context in
            try await withStore(context) { store in
                let gate = PipelineGates.shared.arm(.afterMiss, key: "k", in: store)
                defer { PipelineGates.shared.disarm(gate) }
                let failing = Task {
                    try await store.getOrSet("k", as: String.self, expires: "1h") { () async throws -> String in throw ComputeFailure() }
                }
                try await gate.reached()
                try await store.delete("k")
                let follower = Task { try await store.getOrSet("k", as: String.self, expires: "1h") { "computed by the follower" } }
                let joined = try await eventually(poll: .milliseconds(1)) { PipelineGates.shared.flightWaiters("k", in: store) == 1 }
                try Expect.that(joined, "the follower joined the failing flight")
                gate.open()
                do {
                    _ = try await failing.value
                    throw ConformanceFailure(message: "the failing computation's caller got a value", location: "\(#fileID):\(#line)")
                } catch is ComputeFailure {}
                try Expect.equal(try await follower.value, "computed by the follower", "the follower began after the delete: it computes")
            }
        },
        Check("a kept value is re-armed only under its computation's lease: fail-safe never writes over a fresher value") { context in
            try await withStore(context) { store in
                let (failing, _) = try await holdingAFailingComputation(at: .afterMiss, in: store, context) { _ in
                    try await store.set("rates", 2, expires: "1h")
                }
                try Expect.equal(try await failing.value, 1, "the failing computation's caller gets the kept value")
                try Expect.equal(try await store.get("rates", as: Int.self), 2, "the value written meanwhile stays")
            }
        },
    ]
}
