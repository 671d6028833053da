import Strata

extension KeyValueStoreConformance {
    /// Options that keep an entry `short` and then for a long grace.
    static func graceful(_ context: Context, throttle: Expiry = "1h") -> EntryOptions {
        EntryOptions(expires: context.short, grace: "1h", failSafeThrottle: throttle)
    }

    static let resilienceChecks: [Check] = [
        Check(
            "an entry written with options is read within its lifetime, and a plain get, has or keys never returns it after, grace or not"
        ) { context in
            try await withStore(context) { store in
                let start = ContinuousClock.now
                try await store.set("graced", Sample(id: 1, name: "kept", tags: []), options: graceful(context))
                try await store.set("plain", "raw text", options: EntryOptions(expires: "1h"))
                let read = try await store.get("graced", as: Sample.self)
                let present = try await store.has("graced")
                let listed = try await store.keys()
                try context.requireShortLifetimeLasted(since: start)
                try Expect.equal(read?.name, "kept", "get within the lifetime")
                try Expect.that(present, "has within the lifetime")
                try Expect.equal(listed, ["graced", "plain"], "keys within the lifetime (no reserved record listed)")
                try await context.passShortLifetime()
                try Expect.equal(try await store.get("graced", as: Sample.self), nil, "get past the lifetime, in grace")
                try Expect.equal(try await store.has("graced"), false, "has past the lifetime, in grace")
                try Expect.equal(try await store.keys(), ["plain"], "keys past the lifetime, in grace")
                try Expect.equal(try await store.entries(as: String.self).map(\.key), ["plain"], "entries past the lifetime")
            }
        },
        Check(
            "a getOrSet with options of a fresh value returns it without computing; cachedValue answers nothing or that value, and nothing for a missing key"
        ) { context in
            try await withStore(context) { store in
                struct NotToBeComputed: Error {}
                let options = EntryOptions(expires: "1h", grace: "1h")
                try await store.set("cached", 41, options: options)
                let cached = try store.cachedValue(forKey: "cached", as: Int.self, options: options)
                try Expect.that(cached == nil || cached == 41, "cachedValue answered \(String(describing: cached)), not nothing or 41")
                try Expect.equal(
                    try store.cachedValue(forKey: "absent", as: Int.self, options: options), nil, "cachedValue of a missing key")
                let served = try await store.getOrSet("cached", as: Int.self, options: options) { throw NotToBeComputed() }
                try Expect.equal(served, 41, "getOrSet with options of a fresh value, not computed")
                let refreshing = EntryOptions(expires: "1h", refreshAhead: 0.5)
                try Expect.equal(
                    try store.cachedValue(forKey: "cached", as: Int.self, options: refreshing), nil,
                    "cachedValue when an eager refresh is the compute path's to decide")
                try await store.delete("cached")
                try Expect.equal(try store.cachedValue(forKey: "cached", as: Int.self, options: options), nil, "cachedValue after delete")
                try await store.set("tagged", 42, options: EntryOptions(expires: "1h", tags: ["cached-tag"]))
                _ = try await store.get("tagged", as: Int.self)
                try await store.invalidate(tags: ["cached-tag"])
                try Expect.equal(
                    try store.cachedValue(forKey: "tagged", as: Int.self, options: options), nil, "cachedValue after its tag's invalidation"
                )
            }
        },
        Check("a value written without grace or tags stays in the plain format; one that looks like an envelope round-trips") { context in
            try await withStore(context) { store in
                try await store.set("text", "hello", options: EntryOptions(expires: "1h"))
                try Expect.equal(try await store.entry(forKey: "text")?.bytes, Array("hello".utf8), "raw bytes of a plain String")
                let lookalike: [UInt8] = [0x00, 0x53, 0x54, 0x52, 0x41, 0x54, 0x41, 0x01, 0xFF]
                try await store.set("lookalike", lookalike, options: EntryOptions(expires: "1h"))
                try Expect.equal(try await store.get("lookalike", as: [UInt8].self), lookalike, "bytes that begin with the magic")
            }
        },
        Check("an envelope of a later version, or a damaged one, is a miss: get is nil and getOrSet computes") { context in
            try await withStore(context) { store in
                let future: [UInt8] = [0x00, 0x53, 0x54, 0x52, 0x41, 0x54, 0x41, 0x02] + Array(repeating: 0, count: 24) + Array("x".utf8)
                try await store.setEntry(StoredEntry(bytes: future, expiresAt: nil), forKey: "future")
                let damaged: [UInt8] = [0x00, 0x53, 0x54, 0x52, 0x41, 0x54, 0x41, 0x01, 0x00]
                try await store.setEntry(StoredEntry(bytes: damaged, expiresAt: nil), forKey: "damaged")
                try Expect.equal(try await store.get("future", as: String.self), nil, "get of a later version")
                try Expect.equal(try await store.get("damaged", as: String.self), nil, "get of a damaged envelope")
                let computed = try await store.getOrSet("future", as: String.self, options: EntryOptions(expires: "1h")) { "now" }
                try Expect.equal(computed, "now", "getOrSet computes over a later version")
            }
        },
        Check(
            "fail-safe: an expired entry in grace is served when the computation throws, and the throttle keeps the computation from running again"
        ) { context in
            try await withStore(context) { store in
                let calls = Counter()
                let first = try await store.getOrSet("rates", as: Int.self, options: graceful(context)) {
                    calls.increment(); return 1
                }
                try await context.passShortLifetime()
                let fallback = try await store.getOrSet("rates", as: Int.self, options: graceful(context)) {
                    calls.increment()
                    throw ComputeFailure()
                }
                let throttled = try await store.getOrSet("rates", as: Int.self, options: graceful(context)) {
                    calls.increment()
                    throw ComputeFailure()
                }
                try Expect.equal([first, fallback, throttled], [1, 1, 1], "values: computed, then the kept one twice")
                try Expect.equal(calls.count, 2, "computations (none within the throttle)")
                // Without a kept value the error propagates as before.
                do {
                    _ = try await store.getOrSet("never-computed", as: Int.self, options: graceful(context)) { throw ComputeFailure() }
                    try Expect.that(false, "a failing computation without a kept value returned")
                } catch is ComputeFailure {}
            }
        },
        Check("an entry past its lifetime and its grace is gone from the store") { context in
            try await withStore(context) { store in
                try await store.set("brief", "v", options: EntryOptions(expires: context.short, grace: context.short))
                try await context.passShortLifetime()
                try await context.passShortLifetime()
                try Expect.equal(try await store.entry(forKey: "brief"), nil, "the raw entry after lifetime and grace")
                do {
                    let value = try await store.getOrSet("brief", as: String.self, options: EntryOptions(expires: context.short)) {
                        throw ComputeFailure()
                    }
                    try Expect.that(false, "nothing was kept to fall back on, yet getOrSet returned \(value)")
                } catch is ComputeFailure {}
            }
        },
        Check("hard timeout without a kept value throws timeout naming the key, and the late value still lands") { context in
            try await withStore(context) { store in
                let options = EntryOptions(expires: "1h", hardTimeout: .milliseconds(50))
                let error = try await Expect.error(.timeout, "getOrSet past its hard timeout") {
                    try await store.getOrSet("slow", as: String.self, options: options) {
                        try await Task.sleep(for: .milliseconds(300))
                        return "late"
                    }
                }
                try Expect.equal(error.key, "slow", "the key the timeout names")
                try Expect.that(try await eventually { try await store.get("slow", as: String.self) == "late" }, "the late value landed")
            }
        },
        Check("soft timeout answers with the kept value, and the background result lands") { context in
            try await withStore(context) { store in
                var options = graceful(context)
                _ = try await store.getOrSet("quote", as: String.self, options: options) { "old" }
                try await context.passShortLifetime()
                options.softTimeout = .milliseconds(50)
                // The background result lives an hour: with the short lifetime, a poll held
                // up for seconds on a loaded machine could find it already expired.
                options.expires = "1h"
                let answered = try await store.getOrSet("quote", as: String.self, options: options) {
                    try await Task.sleep(for: .milliseconds(300))
                    return "new"
                }
                try Expect.equal(answered, "old", "the kept value at the soft timeout")
                try Expect.that(
                    try await eventually { try await store.get("quote", as: String.self) == "new" }, "the background value landed")
            }
        },
        Check("refresh-ahead: a hit late in the lifetime returns at once and 50 such hits refresh the key once") { context in
            try await withStore(context) { store in
                let calls = Counter()
                let options = EntryOptions(expires: Expiry(.seconds(context.shortLifetimeSeconds * 4)), refreshAhead: 0.25)
                _ = try await store.getOrSet("feed", as: Int.self, options: options) {
                    calls.increment(); return 0
                }
                try await context.passShortLifetime()  // 1.5 short lifetimes of 4: past 25%, not expired
                let values = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<50 {
                        group.addTask {
                            try await store.getOrSet("feed", as: Int.self, options: options) {
                                try await Task.sleep(for: .milliseconds(100))
                                calls.increment()
                                return 1
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                try Expect.that(values.allSatisfy { $0 == 0 }, "every hit got the current value at once")
                try Expect.that(try await eventually { try await store.get("feed", as: Int.self) == 1 }, "the refreshed value landed")
                try Expect.equal(calls.count, 2, "computations: the first and one refresh")
            }
        },
        Check("adaptive options: the computation chooses its entry's lifetime and sees the stale value") { context in
            try await withStore(context) { store in
                let options = EntryOptions(expires: "1h", grace: "1h")
                _ = try await store.getOrSet("partial", as: String.self, options: options) { context2 in
                    context2.options.expires = context.short
                    return "partial"
                }
                try await context.passShortLifetime()
                let stale = StaleBox()
                let value = try await store.getOrSet("partial", as: String.self, options: options) { computeContext in
                    stale.set(computeContext.staleValue)
                    return "complete"
                }
                try Expect.equal(value, "complete", "recomputed after the short lifetime the computation chose")
                try Expect.equal(stale.value, "partial", "the stale value the computation saw")
            }
        },
        Check("invalidate(tags:) makes every entry with any of the tags unreadable, and nothing else") { context in
            try await withStore(context) { store in
                try await store.set("a", "1", options: EntryOptions(expires: "1h", tags: ["team:3", "user:1"]))
                try await store.set("b", "2", options: EntryOptions(expires: "1h", tags: ["team:4"]))
                try await store.set("c", "3", options: EntryOptions(expires: "1h", tags: ["user:2"]))
                try await store.set("d", "4")
                try await context.advanceTime(.milliseconds(5))
                try await store.invalidate(tags: ["team:3", "user:2"])
                try Expect.equal(try await store.get("a", as: String.self), nil, "a (team:3)")
                try Expect.equal(try await store.get("c", as: String.self), nil, "c (user:2)")
                try Expect.equal(try await store.get("b", as: String.self), "2", "b (team:4)")
                try Expect.equal(try await store.get("d", as: String.self), "4", "d (untagged)")
                try Expect.equal(try await store.keys(), ["b", "d"], "keys after the invalidation")
                let listed = try await store.entries(as: String.self)
                try Expect.equal(listed.map(\.key), ["b", "d"], "entries after the invalidation")
                try Expect.equal(listed.map(\.value), ["2", "4"], "entry values after the invalidation")
                try await context.advanceTime(.milliseconds(5))
                try await store.set("a", "5", options: EntryOptions(expires: "1h", tags: ["team:3"]))
                try Expect.equal(try await store.get("a", as: String.self), "5", "a tagged entry written after the invalidation")
                try await Expect.error(.invalidKey, "an empty tag") { try await store.invalidate(tags: [""]) }
            }
        },
        Check(
            "tags compare byte for byte, as keys do: invalidating e + combining accent leaves precomposed é's entries, read or listed; a tag may begin with a combining mark"
        ) {
            context in
            try await withStore(context) { store in
                try await store.set("composed", "1", options: EntryOptions(expires: "1h", tags: ["caf\u{E9}"]))
                try await store.set("decomposed", "2", options: EntryOptions(expires: "1h", tags: ["cafe\u{301}"]))
                // A tag that begins with a combining mark: after "tag:" it is one character
                // with the ":" for Swift, never for the stores.
                try await store.set("mark", "3", options: EntryOptions(expires: "1h", tags: ["\u{301}x"]))
                try Expect.equal(try await store.get("mark", as: String.self), "3", "read before the invalidation")
                try await context.advanceTime(.milliseconds(5))
                try await store.invalidate(tags: ["cafe\u{301}", "\u{301}x"])
                try Expect.equal(try await store.get("mark", as: String.self), nil, "the combining mark's entry")
                // The listing first, as a new process would: it reads each tag's record once.
                try Expect.equal(try await store.keys(), ["composed"], "keys after the invalidation")
                try Expect.equal(try await store.entries(as: String.self).map(\.key), ["composed"], "entries after the invalidation")
                try Expect.equal(try await store.get("composed", as: String.self), "1", "the precomposed tag's entry")
                try Expect.equal(try await store.get("decomposed", as: String.self), nil, "the invalidated tag's entry")
            }
        },
    ]
}

/// A value a computation hands back to the check.
final class StaleBox: Sendable {
    private let stored = Lock<String?>(nil)
    func set(_ value: String?) { stored.withLock { $0 = value } }
    var value: String? { stored.withLock { $0 } }
}
