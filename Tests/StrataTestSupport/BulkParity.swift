import Strata

/// Checks that a store's native bulk calls answer exactly as its single-key calls do, on
/// hostile keys, expired and missing entries, repeats, and keys that Swift compares equal
/// while their bytes differ. Each check returns what differed (empty when nothing did).
package enum BulkParity {
    /// Keys no store may mistake for a path, a pattern or another key; no two equal as Swift strings.
    package static let keys: [String] = [
        "../x", "../../etc/passwd", "/", "a/b", "..", ".", ".lock", ".t-1", "a\0b", "\0", "line\nbreak", "*", "a*", "?",
        "[a-z]", "%", "a_", "\\", "'; DROP TABLE t; --", "A", "a", "é", "日本語", "🙂",
        String(repeating: "k", count: 1024), String(repeating: "é", count: 512), String(repeating: "z", count: 121),
    ]

    /// Seeds `store` through single calls (every fifth key missing, every third expired, the
    /// rest alive with and without an expiry), then compares ``KeyValueStore/entries(forKeys:)``
    /// with ``KeyValueStore/entry(forKey:)`` key by key, repeats and missing keys included.
    package static func checkReads(_ store: some KeyValueStore) async throws -> [String] {
        try await seed(store)
        let asked = keys + ["missing:1", keys[0], keys[5]]
        var expected: [String: StoredEntry] = [:]
        for key in asked { if let entry = try await store.entry(forKey: key) { expected[key] = entry } }
        let found = try await store.entries(forKeys: asked)
        var differences = compare(found, expected, "entries(forKeys:)")
        if try await store.entries(forKeys: []) != [:] { differences.append("entries(forKeys: []) was not empty") }
        // Byte for byte: the decomposed key is another key, and is not found for the precomposed one.
        try await store.setEntry(StoredEntry(bytes: [1]), forKey: "e\u{301}")
        try await store.removeEntry(forKey: "é")
        let precomposed = try await store.entries(forKeys: ["é"])
        if !precomposed.isEmpty { differences.append("\"é\" found the entry of \"e\\u{301}\": \(precomposed)") }
        let decomposed = try await store.entries(forKeys: ["e\u{301}"])
        if decomposed.values.first != StoredEntry(bytes: [1]) { differences.append("\"e\\u{301}\" not found: \(decomposed)") }
        return differences
    }

    /// Writes a batch over the seeded keys with ``KeyValueStore/setEntries(_:)`` and reads
    /// each back with a single call; then removes them with ``KeyValueStore/removeEntries(forKeys:)``
    /// and checks its count is how many single reads found before.
    package static func checkWrites(_ store: some KeyValueStore) async throws -> [String] {
        try await seed(store)
        let now = store.clock.now()
        var batch: [String: StoredEntry] = [:]
        for (index, key) in keys.enumerated() where index % 4 != 3 {
            batch[key] = StoredEntry(
                bytes: Array("new \(index)".utf8), expiresAt: index % 2 == 0 ? nil : now.adding(milliseconds: 3_600_000))
        }
        try await store.setEntries(batch)
        try await store.setEntries([:])
        var differences: [String] = []
        var read: [String: StoredEntry] = [:]
        for key in keys { if let entry = try await store.entry(forKey: key) { read[key] = entry } }
        for (key, entry) in batch where read[key] != entry {
            differences.append("setEntries: \(key.debugDescription) reads \(String(describing: read[key])), not \(entry)")
        }
        let asked = keys + ["missing:1", keys[1]]
        let alive = read.count
        let removed = try await store.removeEntries(forKeys: asked)
        if removed != alive { differences.append("removeEntries counted \(removed), single reads found \(alive)") }
        for key in keys where try await store.entry(forKey: key) != nil {
            differences.append("\(key.debugDescription) survived removeEntries")
        }
        if try await store.removeEntries(forKeys: []) != 0 { differences.append("removeEntries([]) was not 0") }
        return differences
    }

    /// Every fifth key missing, every third expired an hour ago, the rest alive.
    static func seed(_ store: some KeyValueStore) async throws {
        let now = store.clock.now()
        for (index, key) in keys.enumerated() {
            if index % 5 == 4 {
                try await store.removeEntry(forKey: key)
            } else {
                let expiresAt: Timestamp? =
                    index % 3 == 2 ? now.adding(milliseconds: -3_600_000) : index % 2 == 0 ? nil : now.adding(milliseconds: 3_600_000)
                try await store.setEntry(StoredEntry(bytes: Array("value \(index) of \(key)".utf8), expiresAt: expiresAt), forKey: key)
            }
        }
    }

    static func compare(_ found: [String: StoredEntry], _ expected: [String: StoredEntry], _ call: String) -> [String] {
        var differences: [String] = []
        for (key, entry) in expected where found[key] != entry {
            differences.append("\(call): \(key.debugDescription) gave \(String(describing: found[key])), one read gives \(entry)")
        }
        for key in found.keys where expected[key] == nil {
            differences.append("\(call): \(key.debugDescription) found, one read finds nothing")
        }
        return differences
    }
}
