extension KeyValueStoreConformance {
    static let bulkComputeChecks: [Check] = [
        Check("a bulk getOrSet computes the missing keys in one call, stores them, and serves them after") { context in
            try await withStore(context) { store in
                try await store.set(["p:1": "cached"], expires: "1h")
                let log = BulkCallLog()
                let first = try await store.getOrSet(["p:1", "p:2", "p:3", "p:2"], as: String.self, expires: "1h") { missing in
                    log.record(missing)
                    return Dictionary(uniqueKeysWithValues: missing.map { ($0, "computed \($0)") })
                }
                try Expect.equal(first, ["p:1": "cached", "p:2": "computed p:2", "p:3": "computed p:3"], "the values")
                try Expect.equal(log.all, [["p:2", "p:3"]], "one call, with exactly the misses")
                try Expect.equal(
                    try await store.get(["p:2", "p:3"], as: String.self), ["p:2": "computed p:2", "p:3": "computed p:3"], "stored")
                let again = try await store.getOrSet(["p:1", "p:2", "p:3"], as: String.self) { missing in
                    log.record(missing)
                    return [:]
                }
                try Expect.equal(again, first, "served from the store")
                try Expect.equal(log.all.count, 1, "no second computation")
            }
        },
        Check("a bulk getOrSet leaves out the keys its computation does not return, and stores nothing for them") { context in
            try await withStore(context) { store in
                let values = try await store.getOrSet(["f:1", "f:2", "f:3"], as: Int.self) { missing in
                    ["f:1": 1, "f:3": 3, "not-asked": 9]
                }
                try Expect.equal(values, ["f:1": 1, "f:3": 3], "the returned keys only")
                try Expect.equal(try await store.get(["f:1", "f:2", "f:3", "not-asked"], as: Int.self), ["f:1": 1, "f:3": 3], "stored")
            }
        },
        Check("a bulk getOrSet whose computation throws throws its error and stores nothing") { context in
            try await withStore(context) { store in
                struct DatabaseDown: Error {}
                do {
                    _ = try await store.getOrSet(["e:1", "e:2"], as: Int.self) { _ in throw DatabaseDown() }
                    throw ConformanceFailure(message: "the computation's error was not thrown", location: #fileID)
                } catch is DatabaseDown {}
                try Expect.equal(try await store.get(["e:1", "e:2"], as: Int.self), [:], "nothing stored")
            }
        },
        Check("a bulk getOrSet whose computation fails serves the values kept in their grace") { context in
            try await withStore(context) { store in
                let options = EntryOptions(expires: context.short, grace: "1h")
                let start = ContinuousClock.now
                _ = try await store.getOrSet(["g:1", "g:2"], as: Int.self, options: options) { _ in ["g:1": 1, "g:2": 2] }
                try context.requireShortLifetimeLasted(since: start)
                try await context.passShortLifetime()
                try Expect.equal(try await store.get(["g:1", "g:2"], as: Int.self), [:], "a plain read skips values in grace")
                struct DatabaseDown: Error {}
                let served = try await store.getOrSet(["g:1", "g:2"], as: Int.self, options: options) { _ in throw DatabaseDown() }
                try Expect.equal(served, ["g:1": 1, "g:2": 2], "the kept values")
                do {
                    _ = try await store.getOrSet(["g:1", "g:3"], as: Int.self, options: options) { _ in throw DatabaseDown() }
                    throw ConformanceFailure(message: "a key without a kept value did not fail the call", location: #fileID)
                } catch is DatabaseDown {}
            }
        },
        Check("overlapping bulk and single-key getOrSet calls compute each key once") { context in
            try await withStore(context) { store in
                let log = BulkCallLog()
                let gate = BulkGate()
                let started = BulkGate()
                let slow = Task {
                    try await store.getOrSet(["o:1", "o:2", "o:3"], as: String.self, expires: "1h") { missing in
                        log.record(missing)
                        started.open()
                        await gate.pass()
                        return Dictionary(uniqueKeysWithValues: missing.map { ($0, "value \($0)") })
                    }
                }
                await started.pass()
                // o:1 to o:3 are being computed: the calls below wait for them; o:4 is theirs.
                async let overlapping = store.getOrSet(["o:2", "o:3", "o:4"], as: String.self, expires: "1h") { missing in
                    log.record(missing)
                    return Dictionary(uniqueKeysWithValues: missing.map { ($0, "value \($0)") })
                }
                async let single = store.getOrSet("o:1", as: String.self, expires: "1h") {
                    log.record(["o:1"])
                    return "value o:1"
                }
                // o:4 is computed without waiting for the slow call.
                try Expect.that(try await eventually { log.all.count == 2 }, "o:4 computed while o:1 to o:3 are: \(log.all)")
                gate.open()
                let expected = ["o:1", "o:2", "o:3", "o:4"].reduce(into: [String: String]()) { $0[$1] = "value \($1)" }
                try Expect.equal(try await slow.value, expected.filter { $0.key != "o:4" }, "the slow call")
                try Expect.equal(try await overlapping, expected.filter { $0.key != "o:1" }, "the overlapping call")
                try Expect.equal(try await single, "value o:1", "the single-key call")
                try Expect.equal(log.counts, ["o:1": 1, "o:2": 1, "o:3": 1, "o:4": 1], "each key computed once: \(log.all)")
            }
        },
    ]
}
