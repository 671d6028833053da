extension KeyValueStoreConformance {
    /// Keys that break naive stores: path tricks, separators, NUL, glob and LIKE
    /// characters, case, Unicode normalization, and the longest valid key.
    static let hostileKeys: [String] = [
        "../x", "../../etc/passwd", "/", "/abs", "a/b", "..", ".", ".lock", ".t-1", "a\0b", "\0",
        "line\nbreak", "cr\r\n", "tab\t", " spaced ", "*", "a*", "?", "[", "]", "[a-z]", "%", "a%", "_", "a_",
        "\\", "a\\*", "{x}", "'; DROP TABLE t; --", "\"q\"", "CON", "nul", "A", "a", "Key", "key",
        "é", "e\u{301}", "ﬁ", "日本語", "🙂", "\u{FEFF}bom",
        String(repeating: "k", count: 1024), String(repeating: "é", count: 512),
        String(repeating: "k", count: 1023) + "!", String(repeating: "z", count: 121),
        "\0strat", "\0strata", "\0Strata-x", "\0\0strata-x",  // beside the reserved prefix, not in it
    ]

    static let keyChecks: [Check] = [
        Check("every valid key works and stays distinct: path tricks, NUL, globs, case, Unicode, 1024 bytes") { context in
            try await withStore(context) { store in
                for (index, key) in hostileKeys.enumerated() {
                    try await store.set(key, "value \(index)")
                }
                for (index, key) in hostileKeys.enumerated() {
                    let read = try await store.get(key, as: String.self)
                    try Expect.equal(read, "value \(index)", "the value of key \(StrataErrorQuote.quote(key))")
                }
                let expected = hostileKeys.sorted(by: KeyRules.byteOrder)
                try Expect.equal(try await store.keys(), expected, "keys() lists every hostile key, sorted by bytes")
                for key in hostileKeys {
                    try Expect.that(try await store.delete(key), "delete \(StrataErrorQuote.quote(key))")
                }
                try Expect.equal(try await store.keys(), [], "keys() after deleting them all")
            }
        },
        Check(
            "an empty key, one over 1024 UTF-8 bytes or one under the reserved prefix (\\0strata-) throws invalidKey naming it, in every operation"
        ) { context in
            try await withStore(context) { store in
                let tooLong = String(repeating: "é", count: 513)  // 1026 bytes
                for key in ["", tooLong, "\0strata-x", "\0strata-tag:t", KeyRules.reservedPrefix] {
                    try await Expect.error(.invalidKey, "set") { try await store.set(key, "v") }
                    try await Expect.error(.invalidKey, "get") { try await store.get(key, as: String.self) }
                    try await Expect.error(.invalidKey, "has") { try await store.has(key) }
                    try await Expect.error(.invalidKey, "delete") { try await store.delete(key) }
                    try await Expect.error(.invalidKey, "expire") { try await store.expire(key, "1min") }
                    try await Expect.error(.invalidKey, "increment") { try await store.increment(key) }
                    try await Expect.error(.invalidKey, "setIfAbsent") { try await store.setIfAbsent(key, "v") }
                    try await Expect.error(.invalidKey, "getOrSet") { try await store.getOrSet(key) { "v" } }
                }
                let error = try await Expect.error(.invalidKey, "set") { try await store.set(tooLong, "v") }
                try Expect.that("\(error)".contains("1026 bytes"), "the error says how long the key is: \(error)")
                let reserved = try await Expect.error(.invalidKey, "set") { try await store.set("\0strata-x", "v") }
                try Expect.that("\(reserved)".contains("Strata keeps its own records"), "the error says why: \(reserved)")
                try Expect.equal(try await store.keys(), [], "nothing was written")
            }
        },
        Check("keys(prefix:) returns exactly the unexpired keys starting with the prefix, sorted by bytes") { context in
            try await withStore(context) { store in
                for key in ["user:2", "user:10", "user:1", "users:1", "user", "use", "admin:1", "user:é", "user:z"] {
                    try await store.set(key, "v")
                }
                try Expect.equal(
                    try await store.keys(prefix: "user:"), ["user:1", "user:10", "user:2", "user:z", "user:é"],
                    "keys with prefix user:")
                try Expect.equal(try await store.keys(prefix: "user:1"), ["user:1", "user:10"], "prefix user:1")
                try Expect.equal(try await store.keys(prefix: "nothing"), [], "a prefix nothing has")
                try Expect.equal(try await store.keys().count, 9, "the empty prefix lists everything")
            }
        },
        Check("keys compare byte for byte: precomposed é and e + combining accent are different keys") { context in
            try await withStore(context) { store in
                try await store.set("caf\u{E9}", "precomposed")
                try await store.set("cafe\u{301}", "combining")
                try Expect.equal(try await store.get("caf\u{E9}", as: String.self), "precomposed", "NFC key")
                try Expect.equal(try await store.get("cafe\u{301}", as: String.self), "combining", "NFD key")
                try Expect.equal(try await store.keys(prefix: "cafe"), ["cafe\u{301}"], "only the NFD key starts with the bytes of cafe")
                try Expect.equal(try await store.clear(prefix: "caf\u{E9}"), 1, "clearing the NFC prefix")
                try Expect.equal(try await store.get("cafe\u{301}", as: String.self), "combining", "the NFD key survives")
            }
        },
    ]
}

/// Quotes keys in failure messages the way StrataError does.
enum StrataErrorQuote {
    static func quote(_ key: String) -> String {
        let escaped = key.unicodeScalars.prefix(40).map { $0.escaped(asASCII: true) }.joined()
        return "\"\(escaped)\"" + (key.unicodeScalars.count > 40 ? "… (\(key.utf8.count) bytes)" : "")
    }
}
