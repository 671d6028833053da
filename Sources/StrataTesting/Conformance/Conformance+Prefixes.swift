extension KeyValueStoreConformance {
    static let prefixChecks: [Check] = [
        Check("clear(prefix:) removes exactly the keys that start with the prefix: user:1 vs user:10 vs users:1") { context in
            try await withStore(context) { store in
                for key in ["user:1", "user:10", "user:1:x", "users:1", "user", "xuser:1"] { try await store.set(key, "v") }
                try Expect.equal(try await store.clear(prefix: "user:1"), 3, "clear(prefix: user:1) count")
                try Expect.equal(try await store.keys(), ["user", "users:1", "xuser:1"], "what clear(prefix: user:1) left")
                try Expect.equal(try await store.clear(prefix: "user:"), 0, "clearing a prefix with nothing left")
            }
        },
        Check("no character of a prefix is a pattern: *, ?, %, _, [ and \\ mean themselves") { context in
            try await withStore(context) { store in
                let keys = ["a*", "a*b", "ab", "a", "a%", "a%b", "a_", "a_b", "a[", "a[b", "a?", "a?b", "a\\", "a\\b", "b*"]
                for key in keys { try await store.set(key, "v") }
                for prefix in ["a*", "a%", "a_", "a[", "a?", "a\\"] {
                    try Expect.equal(
                        try await store.keys(prefix: prefix), [prefix, prefix + "b"], "keys(prefix: \(prefix))")
                    try Expect.equal(try await store.clear(prefix: prefix), 2, "clear(prefix: \(prefix)) count")
                }
                try Expect.equal(try await store.keys(), ["a", "ab", "b*"], "what the pattern-like clears left")
            }
        },
        Check("clear(prefix:) counts only unexpired entries, and clear() empties the store") { context in
            try await withStore(context) { store in
                try await store.set("p:old", "v", expires: context.short)
                try await store.set("p:new", "v")
                try await store.set("q", "v")
                try await context.passShortLifetime()
                try Expect.equal(try await store.clear(prefix: "p:"), 1, "an expired entry is not counted")
                try Expect.equal(try await store.clear(), 1, "clear() removes the rest")
                try Expect.equal(try await store.keys(), [], "keys after clear()")
            }
        },
        Check("a prefixed view uses keys relative to its prefix, clears only its own keys, and nests") { context in
            try await withStore(context) { store in
                try await store.set("outside", "o")
                try await store.set("a:shared", "base")
                let view = store.prefixed("a:")
                let nested = view.prefixed("b:")
                try await view.set("1", "one")
                try await nested.set("2", "two")
                try Expect.equal(try await store.get("a:1", as: String.self), "one", "the view writes prefix + key")
                try Expect.equal(try await store.get("a:b:2", as: String.self), "two", "views nest")
                try Expect.equal(try await view.get("shared", as: String.self), "base", "the view reads prefix + key")
                try Expect.equal(try await view.keys(), ["1", "b:2", "shared"], "the view's keys are relative")
                try Expect.equal(try await nested.keys(), ["2"], "the nested view's keys")
                try Expect.equal(try await nested.clear(), 1, "the nested view clears its own keys")
                try Expect.equal(try await view.clear(), 2, "the view clears its own keys")
                try Expect.equal(try await store.keys(), ["outside"], "the key outside every view survives")
                let longKey = String(repeating: "k", count: 1024)
                try await nested.set(longKey, "long")
                try Expect.equal(try await nested.get(longKey, as: String.self), "long", "a view takes 1024-byte keys")
            }
        },
        Check("entries(prefix:as:) returns the key-value pairs sorted by key") { context in
            try await withStore(context) { store in
                try await store.set("n:2", 2)
                try await store.set("n:1", 1)
                try await store.set("m:1", 9)
                let entries = try await store.entries(prefix: "n:", as: Int.self)
                try Expect.equal(entries.map(\.key), ["n:1", "n:2"], "entry keys")
                try Expect.equal(entries.map(\.value), [1, 2], "entry values")
            }
        },
        Check("storedEntries(prefix:) gives what keys(prefix:) and entry(forKey:) give, in one read") { context in
            try await withStore(context) { store in
                let keys = ["n", "n:", "n:*", "n:1", "n:10", "n:2", "n:é", "n;", "o:1"]
                for (index, key) in keys.enumerated() {
                    try await store.setEntry(StoredEntry(bytes: Array("value \(index)".utf8)), forKey: key)
                }
                let start = ContinuousClock.now
                try await store.set("n:short", "gone soon", expires: context.short)
                try await store.set("n:long", "stays", expires: "1h")
                let listed = try await store.storedEntries(prefix: "n:")
                let expected = try await store.keys(prefix: "n:")
                var singles: [StoredEntry?] = []
                for (key, _) in listed { singles.append(try await store.entry(forKey: key)) }
                // Every call above must have run while n:short lived (a loaded machine can take
                // the whole short lifetime for a few calls: the check then runs again).
                try context.requireShortLifetimeLasted(since: start)
                try Expect.equal(listed.map(\.key), expected, "the listed keys, sorted by bytes")
                try Expect.equal(expected, ["n:", "n:*", "n:1", "n:10", "n:2", "n:long", "n:short", "n:é"], "keys(prefix: n:)")
                for ((key, entry), single) in zip(listed, singles) {
                    try Expect.equal(entry.bytes, single?.bytes, "the bytes listed for \(key)")
                    try Expect.equal(entry.expiresAt == nil, single?.expiresAt == nil, "whether \(key) expires")
                }
                let lifetime = listed.first { $0.key == "n:long" }?.entry.expiresAt?.millisecondsSince1970 ?? 0
                let remaining = lifetime - store.clock.now().millisecondsSince1970
                try Expect.that(
                    remaining > 3_500_000 && remaining <= 3_600_000, "n:long is listed with its lifetime (\(remaining) ms left)")
                try await context.passShortLifetime()
                try Expect.equal(
                    try await store.storedEntries(prefix: "n:").map(\.key), ["n:", "n:*", "n:1", "n:10", "n:2", "n:long", "n:é"],
                    "an expired entry is not listed")
                try Expect.equal(try await store.storedEntries(prefix: "absent:").count, 0, "a prefix no key has")
                try Expect.equal(try await store.storedEntries(prefix: "").count, 10, "the empty prefix lists every entry")
            }
        },
    ]
}
