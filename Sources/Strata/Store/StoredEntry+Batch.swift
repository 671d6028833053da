extension StoredEntry {
    /// The answer of a batch read: `found[i]`, when there is one, under `keys[i]`, filled in
    /// the order asked, as one read per key would fill it (of two keys Swift compares equal,
    /// the later one found stands).
    package static func byKey(_ keys: [String], _ found: [StoredEntry?]) -> [String: StoredEntry] {
        var entries: [String: StoredEntry] = [:]
        entries.reserveCapacity(keys.count)
        for (index, key) in keys.enumerated() { if let entry = found[index] { entries[key] = entry } }
        return entries
    }
}
