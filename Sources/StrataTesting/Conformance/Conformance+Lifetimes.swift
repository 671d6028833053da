extension KeyValueStoreConformance {
    static let lifetimeChecks: [Check] = [
        Check("a value is there before its lifetime ends and gone after it expires") { context in
            try await withStore(context) { store in
                let start = ContinuousClock.now
                try await store.set("short", "v", expires: context.short)
                try await store.set("long", "v", expires: "1h")
                let beforeExpiry = try await store.get("short", as: String.self)
                try context.requireShortLifetimeLasted(since: start)
                try Expect.equal(beforeExpiry, "v", "before expiry")
                try await context.passShortLifetime()
                try Expect.equal(try await store.get("short", as: String.self), nil, "get after expiry")
                try Expect.that(!(try await store.has("short")), "has after expiry")
                try Expect.equal(try await store.keys(), ["long"], "keys after expiry")
                try Expect.that(!(try await store.delete("short")), "delete of an expired key returns false")
                try Expect.equal(try await store.get("long", as: String.self), "v", "an unexpired neighbour")
            }
        },
        Check("an entry reports the instant it expires, and nil when it never does") { context in
            try await withStore(context) { store in
                let before = store.clock.now()
                try await store.set("timed", "v", expires: "1h")
                try await store.set("forever", "v")
                let entry = try await store.entry(forKey: "timed")
                let after = store.clock.now()
                let expiresAt = try entryExpiry(entry, "timed")
                // An hour from the write, which happened between `before` and `after` (a
                // server reporting the time left, as Redis does, is read at `after`).
                let remaining = before.milliseconds(until: expiresAt)
                let elapsed = before.milliseconds(until: after)
                try Expect.that(
                    remaining > 3_590_000 && remaining <= 3_601_000 + elapsed,
                    "expiresAt is an hour away (\(remaining) ms, \(elapsed) ms after the write began)")
                try Expect.that(try await store.entry(forKey: "forever")?.expiresAt == nil, "no expiry is nil")
            }
        },
        Check("a store's default lifetime applies to expires: nil, and Expiry.never overrides it") { context in
            try await withStore(context, defaultExpiry: context.short) { store in
                try await store.set("defaulted", "v")
                try await store.set("forever", "v", expires: .never)
                try await store.set("longer", "v", expires: "1h")
                try await context.passShortLifetime()
                try Expect.equal(try await store.get("defaulted", as: String.self), nil, "the default lifetime applies")
                try Expect.equal(try await store.get("forever", as: String.self), "v", ".never overrides the default")
                try Expect.equal(try await store.get("longer", as: String.self), "v", "an explicit lifetime wins")
            }
        },
        Check("expire gives an existing key a new lifetime and returns false for a missing one") { context in
            try await withStore(context) { store in
                try Expect.that(!(try await store.expire("missing", "1min")), "expire of a missing key")
                try Expect.equal(try await store.get("missing", as: String.self), nil, "expire creates nothing")
                try await store.set("shorter", "v", expires: "1h")
                let start = ContinuousClock.now
                try await store.set("longer", "v", expires: context.short)
                try await store.set("persisted", "v", expires: context.short)
                let shortened = try await store.expire("shorter", context.short)
                let lengthened = try await store.expire("longer", "1h")
                let persisted = try await store.expire("persisted", .never)
                try context.requireShortLifetimeLasted(since: start)
                try Expect.that(shortened, "expire of an existing key")
                try Expect.that(lengthened, "expire to a longer lifetime")
                try Expect.that(persisted, "expire to never")
                try await context.passShortLifetime()
                try Expect.equal(try await store.get("shorter", as: String.self), nil, "the shorter lifetime applies")
                try Expect.equal(try await store.get("longer", as: String.self), "v", "the longer lifetime applies")
                try Expect.equal(try await store.get("persisted", as: String.self), "v", "never applies")
                try Expect.that(!(try await store.expire("shorter", "1h")), "expire of an expired key returns false")
            }
        },
        Check("sweepExpired leaves every unexpired entry in place") { context in
            try await withStore(context) { store in
                try await store.set("gone", "v", expires: context.short)
                try await store.set("kept", "v", expires: "1h")
                try await store.set("forever", "v")
                try await context.passShortLifetime()
                try await store.sweepExpired()
                try Expect.equal(try await store.keys(), ["forever", "kept"], "keys after a sweep")
                try Expect.equal(try await store.get("gone", as: String.self), nil, "the expired entry")
            }
        },
        Check(
            "an instant already past, the earliest a Timestamp holds among them, leaves nothing readable: set, setIfAbsent, expire, increment"
        ) {
            context in
            try await withStore(context) { store in
                let now = store.clock.now()
                let earliest = Timestamp(millisecondsSince1970: .min)
                let pastInstants = [earliest, now.adding(milliseconds: -86_400_000), now.adding(milliseconds: -1)]
                for (index, past) in pastInstants.enumerated() {
                    let entry = StoredEntry(bytes: Array("v".utf8), expiresAt: past)
                    try await store.setEntry(entry, forKey: "set:\(index)")
                    _ = try await store.setEntryIfAbsent(entry, forKey: "absent:\(index)")
                    try await store.set("expired:\(index)", "v", expires: "1h")
                    _ = try await store.setExpiration(past, forKey: "expired:\(index)")
                    _ = try await store.incrementEntry(forKey: "counter:\(index)", by: 1, expiresAt: past)
                    for key in ["set:\(index)", "absent:\(index)", "expired:\(index)", "counter:\(index)"] {
                        try Expect.equal(try await store.entry(forKey: key), nil, "\(key), given \(past.millisecondsSince1970)")
                    }
                }
                try Expect.equal(try await store.keys(), [], "nothing listed")
            }
        },
    ]

    static func entryExpiry(_ entry: StoredEntry?, _ key: String) throws -> Timestamp {
        guard let entry else { throw ConformanceFailure(message: "no entry for \(key)", location: #fileID) }
        guard let expiresAt = entry.expiresAt else {
            throw ConformanceFailure(message: "the entry for \(key) has no expiry", location: #fileID)
        }
        return expiresAt
    }
}
