extension KeyValueStoreConformance {
    /// The entry a check writes under a lease: the text as its bytes, alive for an hour.
    static func leased(_ text: String, _ store: any KeyValueStore) -> StoredEntry {
        StoredEntry(bytes: Array(text.utf8), expiresAt: store.clock.now().adding(milliseconds: 3_600_000))
    }

    static let leaseChecks: [Check] = [
        Check("a lease holds until the key changes: the leased write lands, and reads the key under the lease") { context in
            try await withStore(context) { store in
                try await store.set("present", "before")
                let lease = EntryLease.random()
                let read = try await store.leaseEntry(forKey: "present", lease: lease, duration: .seconds(60))
                try Expect.equal(read.map { String(decoding: $0.bytes, as: UTF8.self) }, "before", "the entry read under the lease")
                let wrote = try await store.setEntry(leased("computed", store), forKey: "present", ifLeased: lease, keepingLease: false)
                try Expect.that(wrote, "the write under an unbroken lease lands")
                try Expect.equal(try await store.get("present", as: String.self), "computed", "the leased value")
                let again = try await store.setEntry(leased("twice", store), forKey: "present", ifLeased: lease, keepingLease: false)
                try Expect.that(!again, "a lease ends with its write")
                try Expect.equal(try await store.get("present", as: String.self), "computed", "the value after a second leased write")
            }
        },
        Check(
            "every change of a key breaks its lease: set, delete of a missing key, increment, expire, setIfAbsent, clear of a prefix, another lease"
        ) {
            context in
            try await withStore(context) { store in
                let changes: [(String, @Sendable (any KeyValueStore, String) async throws -> Void)] = [
                    ("set", { try await $0.set($1, "newer") }),
                    ("delete of a missing key", { try await $0.delete($1) }),
                    ("increment", { try await $0.increment($1) }),
                    ("setIfAbsent", { _ = try await $0.setIfAbsent($1, "first") }),
                    ("clear of a prefix", { try await $0.clear(prefix: String($1.prefix(3))) }),
                    ("another lease", { _ = try await $0.leaseEntry(forKey: $1, lease: .random(), duration: .seconds(60)) }),
                ]
                for (index, (name, change)) in changes.enumerated() {
                    let key = "k\(index):lease"
                    let lease = EntryLease.random()
                    _ = try await store.leaseEntry(forKey: key, lease: lease, duration: .seconds(60))
                    try await change(store, key)
                    let before = try await store.entry(forKey: key)
                    let wrote = try await store.setEntry(leased("stale", store), forKey: key, ifLeased: lease, keepingLease: false)
                    try Expect.that(!wrote, "a leased write after \(name) is refused")
                    try Expect.equal(
                        try await store.entry(forKey: key)?.bytes, before?.bytes, "the key after \(name) and the refused write")
                }
                // expire changes an existing entry's lifetime.
                try await store.set("expiring", "value")
                let lease = EntryLease.random()
                _ = try await store.leaseEntry(forKey: "expiring", lease: lease, duration: .seconds(60))
                try await store.expire("expiring", "1h")
                let wrote = try await store.setEntry(leased("stale", store), forKey: "expiring", ifLeased: lease, keepingLease: false)
                try Expect.that(!wrote, "a leased write after expire is refused")
                try Expect.equal(try await store.get("expiring", as: String.self), "value", "the key after expire")
            }
        },
        Check("a lease kept by its write serves a later write; release ends it; a lease ends after its duration") { context in
            try await withStore(context) { store in
                let kept = EntryLease.random()
                _ = try await store.leaseEntry(forKey: "kept", lease: kept, duration: .seconds(60))
                try Expect.that(
                    try await store.setEntry(leased("first", store), forKey: "kept", ifLeased: kept, keepingLease: true),
                    "the first write keeping the lease")
                try Expect.that(
                    try await store.setEntry(leased("second", store), forKey: "kept", ifLeased: kept, keepingLease: false),
                    "a second write under the kept lease")
                try Expect.equal(try await store.get("kept", as: String.self), "second", "the value of the second write")

                let released = EntryLease.random()
                _ = try await store.leaseEntry(forKey: "released", lease: released, duration: .seconds(60))
                try await store.releaseLease(released, forKey: "released")
                try Expect.that(
                    !(try await store.setEntry(leased("late", store), forKey: "released", ifLeased: released, keepingLease: false)),
                    "a write after release is refused")
                try Expect.equal(try await store.has("released"), false, "nothing was written after release")

                let short = EntryLease.random()
                _ = try await store.leaseEntry(forKey: "short", lease: short, duration: .seconds(context.shortLifetimeSeconds))
                try await context.passShortLifetime()
                try Expect.that(
                    !(try await store.setEntry(leased("late", store), forKey: "short", ifLeased: short, keepingLease: false)),
                    "a write after the lease's duration is refused")
                try Expect.equal(try await store.has("short"), false, "nothing was written after the lease ended")
            }
        },
        Check("raiseRecord keeps the greatest value, and records are neither keys nor cleared") { context in
            try await withStore(context) { store in
                // Records of no tag: a store may read a tag's missing record as an instant (see the next check).
                try Expect.equal(try await store.records(named: ["a", "b"]), [0, 0], "records never raised")
                try await store.raiseRecord(named: "a", to: 1_000)
                try await store.raiseRecord(named: "a", to: 400)
                try await store.raiseRecord(named: "b", to: 7)
                try Expect.equal(try await store.records(named: ["a", "b"]), [1_000, 7], "the greatest value of each")
                try await store.set("plain", "value")
                try Expect.equal(try await store.keys(), ["plain"], "records are not listed")
                try await store.clear()
                try Expect.equal(try await store.keys(), [], "clear empties the keys")
                try await store.raiseRecord(named: "a", to: 999)
                try Expect.equal(try await store.records(named: ["a"]), [1_000], "a record outlives clear and stays the greatest")
            }
        },
        Check(
            "a tag's record never raised reads 0, or (a store that may evict records) an instant just before it was found missing; an entry of the tag written after is readable"
        ) { context in
            try await withStore(context) { store in
                let now = store.clock.now().millisecondsSince1970
                let first = try await store.records(named: ["tag:fresh"])[0]
                try Expect.that(first == 0 || (first >= now - 60_000 && first <= now + 60_000), "0 or about now: \(first)")
                try Expect.equal(try await store.records(named: ["tag:fresh"]), [first], "read again, the same")
                try await store.raiseRecord(named: "tag:fresh", to: first + 1)
                try Expect.equal(try await store.records(named: ["tag:fresh"]), [first + 1], "raised past it")
                try await store.set("tagged", "value", options: EntryOptions(tags: ["new tag"]))
                try Expect.equal(try await store.get("tagged", as: String.self), "value", "a new tag's first entry")
            }
        },
    ]
}
