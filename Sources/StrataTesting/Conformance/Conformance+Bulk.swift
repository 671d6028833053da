extension KeyValueStoreConformance {
    static let bulkChecks: [Check] = bulkAccessChecks + bulkComputeChecks

    /// Hostile keys a bulk call may hold together (not two that Swift compares equal).
    static var bulkHostileKeys: [String] { hostileKeys.filter { $0 != "e\u{301}" } }

    static let bulkAccessChecks: [Check] = [
        Check("a bulk set stores every value, and a bulk get returns exactly the stored ones by key") { context in
            try await withStore(context) { store in
                var values: [String: Sample] = [:]
                for (index, key) in bulkHostileKeys.enumerated() { values[key] = Sample(id: index, name: key, tags: []) }
                try await store.set(values, expires: "1h")
                let asked = bulkHostileKeys + ["missing:1", "missing:2"]
                let found = try await store.get(asked, as: Sample.self)
                try Expect.equal(found, values, "every stored key, and no missing one")
                for key in bulkHostileKeys.prefix(5) {
                    try Expect.equal(try await store.get(key, as: Sample.self), values[key], "a single get of \(key.debugDescription)")
                }
                try await store.set(["raw": "text", "other": "more"])
                try Expect.equal(
                    try await store.get(["raw", "other", "raw"], as: String.self), ["raw": "text", "other": "more"], "repeats")
                try Expect.equal(try await store.get([String](), as: String.self), [:], "no keys, no values")
            }
        },
        Check("a bulk get of bytes and of text reads what single gets read: raw values, values written with options, a tag's invalidation")
        {
            context in
            try await withStore(context) { store in
                try await store.set(["b:1": [UInt8]([1, 2, 0, 255]), "b:2": [UInt8]()])
                try Expect.equal(
                    try await store.get(["b:1", "b:2", "b:3"], as: [UInt8].self), ["b:1": [1, 2, 0, 255], "b:2": []], "bytes, one missing")
                try await store.set("t:1", "plain")
                try await store.set("t:2", "with options", options: EntryOptions(expires: "1h", tags: ["bulk-text"]))
                try Expect.equal(
                    try await store.get(["t:1", "t:2", "t:3"], as: String.self), ["t:1": "plain", "t:2": "with options"], "text")
                try Expect.equal(
                    try await store.get(["t:2"], as: [UInt8].self), ["t:2": Array("with options".utf8)], "an enveloped value's bytes")
                try await store.invalidate(tags: ["bulk-text"])
                try Expect.equal(try await store.get(["t:1", "t:2"], as: String.self), ["t:1": "plain"], "after its tag's invalidation")
                try Expect.equal(try await store.get("t:2", as: String.self), nil, "as a single get")
            }
        },
        Check("a bulk get leaves out expired keys, and a bulk set gives every key its lifetime") { context in
            try await withStore(context) { store in
                let start = ContinuousClock.now
                try await store.set(["short:1": 1, "short:2": 2], expires: context.short)
                try await store.set(["long:1": 3], expires: "1h")
                let before = try await store.get(["short:1", "short:2", "long:1"], as: Int.self)
                try context.requireShortLifetimeLasted(since: start)
                try Expect.equal(before, ["short:1": 1, "short:2": 2, "long:1": 3], "alive")
                try await context.passShortLifetime()
                try Expect.equal(try await store.get(["short:1", "short:2", "long:1"], as: Int.self), ["long:1": 3], "expired")
            }
        },
        Check("a bulk delete removes every key and counts those that held a value") { context in
            try await withStore(context) { store in
                try await store.set(["d:1": 1, "d:2": 2, "keep": 3])
                try Expect.equal(try await store.delete(["d:1", "d:2", "d:3", "d:1"]), 2, "two held a value")
                try Expect.equal(try await store.get(["d:1", "d:2", "keep"], as: Int.self), ["keep": 3], "what is left")
                try Expect.equal(try await store.delete([String]()), 0, "no keys")
            }
        },
        Check("a bulk call validates its keys as one: the first bad key is named and nothing is written") { context in
            try await withStore(context) { store in
                let long = String(repeating: "x", count: KeyRules.maximumKeyBytes + 1)
                let error = try await Expect.error(.invalidKey, "a set with an over-long key") {
                    try await store.set(["good:1": 1, long: 2, "good:2": 3])
                }
                try Expect.equal(error.key, long, "the error names the bad key")
                try Expect.equal(try await store.get(["good:1", "good:2"], as: Int.self), [:], "nothing was written")
                try await Expect.error(.invalidKey, "a get with an empty key") { try await store.get(["a", ""], as: Int.self) }
                try await store.set("kept", 1)
                try await Expect.error(.invalidKey, "a delete with an empty key") { try await store.delete(["kept", ""]) }
                try Expect.equal(try await store.get("kept", as: Int.self), 1, "nothing was removed")
                let twin = try await Expect.error(.invalidKey, "two keys Swift equates") {
                    try await store.get(["é", "e\u{301}"], as: Int.self)
                }
                try Expect.equal(twin.key, "e\u{301}", "the error names the second of the two")
                try await Expect.error(.invalidKey, "a getOrSet with an empty key") {
                    try await store.getOrSet(["", "b"], as: Int.self) { _ in [:] }
                }
            }
        },
    ]
}

/// The keys a bulk computation was called with, call by call (for the checks and Strata's
/// own tests).
package final class BulkCallLog: Sendable {
    private let calls = Lock<[[String]]>([])

    package init() {}
    /// Records one call's keys (sorted).
    package func record(_ keys: [String]) { calls.withLock { $0.append(keys.sorted()) } }
    /// Every call's keys, in the order the calls began.
    package var all: [[String]] { calls.withLock { $0 } }
    /// How many times each key was asked for, over every call.
    package var counts: [String: Int] { all.joined().reduce(into: [:]) { $0[$1, default: 0] += 1 } }
}

/// A gate one task waits at until another opens it (for the checks and Strata's own tests).
package final class BulkGate: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    package init() { (stream, continuation) = AsyncStream.makeStream() }
    /// Lets the waiting task (and any later one) through.
    package func open() { continuation.finish() }
    /// Waits until the gate is open; one task at a time may wait.
    package func pass() async { for await _ in stream {} }
}
