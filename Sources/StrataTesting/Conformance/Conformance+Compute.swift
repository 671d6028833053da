extension KeyValueStoreConformance {
    struct ComputeFailure: Error, Equatable {}

    static let computeChecks: [Check] = [
        Check("getOrSet computes a missing value once, stores it with its lifetime, and serves it after") { context in
            try await withStore(context) { store in
                let calls = Counter()
                let start = ContinuousClock.now
                let first = try await store.getOrSet("report", as: String.self, expires: context.short) {
                    calls.increment()
                    return "built"
                }
                let second = try await store.getOrSet("report", as: String.self) {
                    calls.increment()
                    return "rebuilt"
                }
                let stored = try await store.get("report", as: String.self)
                try context.requireShortLifetimeLasted(since: start)
                try Expect.equal([first, second], ["built", "built"], "values returned")
                try Expect.equal(calls.count, 1, "computations")
                try Expect.equal(stored, "built", "the stored value")
                try await context.passShortLifetime()
                let third = try await store.getOrSet("report", as: String.self) {
                    calls.increment()
                    return "again"
                }
                try Expect.equal(third, "again", "the value after expiry is computed again")
            }
        },
        Check("getOrSet runs once for 100 racing callers, and all of them get its value") { context in
            try await withStore(context) { store in
                let calls = Counter()
                let values = try await withThrowingTaskGroup(of: Sample.self) { group in
                    for _ in 0..<100 {
                        group.addTask {
                            try await store.getOrSet("shared", as: Sample.self) {
                                calls.increment()
                                try await Task.sleep(for: .milliseconds(50))
                                return Sample(id: 1, name: "once", tags: [])
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                try Expect.equal(calls.count, 1, "computations for 100 racing callers")
                try Expect.equal(values.count, 100, "callers answered")
                try Expect.that(values.allSatisfy { $0.name == "once" }, "every caller got the value")
            }
        },
        Check("when the computation throws, every waiting caller gets its error and nothing is stored") { context in
            try await withStore(context) { store in
                let calls = Counter()
                let outcomes = await withTaskGroup(of: Bool.self) { group in
                    for _ in 0..<20 {
                        group.addTask {
                            do {
                                _ = try await store.getOrSet("failing", as: String.self) {
                                    calls.increment()
                                    try await Task.sleep(for: .milliseconds(50))
                                    throw ComputeFailure()
                                }
                                return false
                            } catch {
                                return error is ComputeFailure
                            }
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
                try Expect.that(outcomes.allSatisfy { $0 }, "every caller got the computation's error")
                try Expect.that(calls.count < 20, "the callers shared computations (\(calls.count) for 20)")
                try Expect.equal(try await store.has("failing"), false, "nothing was stored")
            }
        },
        Check("getOrSet treats a stored value that no longer decodes as missing, and replaces it") { context in
            try await withStore(context) { store in
                try await store.set("versioned", "an old format")
                let value = try await store.getOrSet("versioned", as: Sample.self) {
                    Sample(id: 2, name: "new", tags: [])
                }
                try Expect.equal(value.name, "new", "the recomputed value")
                try Expect.equal(try await store.get("versioned", as: Sample.self), value, "the replaced entry")
            }
        },
    ]
}
