import Synchronization

extension KeyValueStoreConformance {
    static let atomicChecks: [Check] = [
        Check("increment creates a missing key at 0, adds, and returns the new value") { context in
            try await withStore(context) { store in
                try Expect.equal(try await store.increment("n"), 1, "first increment")
                try Expect.equal(try await store.increment("n", by: 10), 11, "increment by 10")
                try Expect.equal(try await store.increment("n", by: -20), -9, "a negative delta")
                try Expect.equal(try await store.get("n", as: Int.self), -9, "the value reads as an Int")
                try await store.set("preset", 41)
                try Expect.equal(try await store.increment("preset"), 42, "increment of a value set as an Int")
            }
        },
        Check("increment sets the lifetime only when it creates the key") { context in
            try await withStore(context) { store in
                let start = ContinuousClock.now
                try await store.increment("created", expires: context.short)
                try await store.set("existing", 5, expires: "1h")
                try await store.increment("existing", expires: context.short)
                try await store.increment("created", expires: "1h")  // keeps the short lifetime
                try context.requireShortLifetimeLasted(since: start)
                try await context.passShortLifetime()
                try Expect.equal(try await store.get("created", as: Int.self), nil, "the creating lifetime applies")
                try Expect.equal(try await store.get("existing", as: Int.self), 6, "an existing lifetime is kept")
                try Expect.equal(try await store.increment("created"), 1, "an expired counter starts again at 0")
            }
        },
        Check(
            "increment of a value that is not an integer in canonical form (\"+5\", \"007\", \"-0\"), or that would overflow, throws notAnInteger"
        ) { context in
            try await withStore(context) { store in
                try await store.set("text", "twelve")
                let error = try await Expect.error(.notAnInteger, "increment of text") { try await store.increment("text") }
                try Expect.that("\(error)".contains("text"), "the error names the key: \(error)")
                try Expect.equal(try await store.get("text", as: String.self), "twelve", "the value is unchanged")
                try await store.set("max", Int.max)
                try await Expect.error(.notAnInteger, "increment past Int.max") { try await store.increment("max") }
                try Expect.equal(try await store.get("max", as: Int.self), Int.max, "the value is unchanged")
                // Only the canonical decimal form counts, on every store as on Redis (INCRBY).
                for text in ["+5", "007", "-0", " 5", "5 "] {
                    try await store.set("form", text)
                    try await Expect.error(.notAnInteger, "increment of \"\(text)\"") { try await store.increment("form") }
                    try Expect.equal(try await store.get("form", as: String.self), text, "\"\(text)\" is unchanged")
                }
                try await store.set("form", "-12")
                try Expect.equal(try await store.increment("form", by: 2), -10, "a negative counter counts")
            }
        },
        Check("increment from many tasks at once loses no update") { context in
            try await withStore(context) { store in
                let tasks = 32
                let perTask = 25
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<tasks {
                        group.addTask { for _ in 0..<perTask { try await store.increment("counter") } }
                    }
                    try await group.waitForAll()
                }
                try Expect.equal(try await store.get("counter", as: Int.self), tasks * perTask, "the final count")
            }
        },
        Check("setIfAbsent writes only when the key is missing or expired") { context in
            try await withStore(context) { store in
                let start = ContinuousClock.now
                let first = try await store.setIfAbsent("lock", "first", expires: context.short)
                let second = try await store.setIfAbsent("lock", "second")
                let stays = try await store.get("lock", as: String.self)
                try context.requireShortLifetimeLasted(since: start)
                try Expect.that(first, "first setIfAbsent")
                try Expect.that(!second, "setIfAbsent of a present key")
                try Expect.equal(stays, "first", "the first value stays")
                try await context.passShortLifetime()
                try Expect.that(try await store.setIfAbsent("lock", "third"), "setIfAbsent after expiry")
                try Expect.equal(try await store.get("lock", as: String.self), "third", "the new value")
            }
        },
        Check("setIfAbsent is won by exactly one of many racing tasks, and the winner's value is stored") { context in
            try await withStore(context) { store in
                let winners = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                    for index in 0..<50 {
                        group.addTask { (index, try await store.setIfAbsent("race", index)) }
                    }
                    var winners: [Int] = []
                    for try await (index, won) in group where won { winners.append(index) }
                    return winners
                }
                try Expect.equal(winners.count, 1, "the number of winners")
                try Expect.equal(try await store.get("race", as: Int.self), winners.first, "the stored value")
            }
        },
        Check("add stores a value under a new random URL-safe key") { context in
            try await withStore(context) { store in
                var keys = Set<String>()
                for index in 0..<20 {
                    let key = try await store.add(index, expires: "1h")
                    try Expect.that(
                        key.utf8.count >= 16
                            && key.utf8.allSatisfy { byte in
                                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A)
                                    || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x5F
                            }, "the key \(key) is URL-safe")
                    try Expect.equal(try await store.get(key, as: Int.self), index, "the added value")
                    keys.insert(key)
                }
                try Expect.equal(keys.count, 20, "distinct keys")
            }
        },
    ]
}
