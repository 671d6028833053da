import Foundation
import Strata
import StrataSQLite

/// The miss path of `getOrSet` over SQLite, step by step, each beside the raw calls it
/// makes: what a computation's lease costs (one more write: the lease, then the write
/// under it), and what the tiered store adds around them.
nonisolated func missBenchmarks(quick: Bool) async throws {
    heading("Misses: getOrSet over SQLite, step by step (median ns per miss)")
    let directory = try temporaryDirectory("misses")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let value = [UInt8](repeating: 0x61, count: 64)
    let rawSQLite = RawSQLite(path: directory + "/raw.sqlite")
    let store = try SQLiteStore(path: directory + "/store.sqlite")
    let tiered = TieredStore(l1: MemoryStore(maxEntries: 10_000), l2: try SQLiteStore(path: directory + "/tiered.sqlite"))
    var untimedConfiguration = TieredStore.Configuration()
    untimedConfiguration.l2Timeout = nil
    let untimed = TieredStore(
        l1: MemoryStore(maxEntries: 10_000), l2: try SQLiteStore(path: directory + "/untimed.sqlite"), configuration: untimedConfiguration)
    let operations = quick ? 1_000 : 10_000
    var rounds = InterleavedRounds(rounds: quick ? 2 : 7, operationsPerRound: operations)
    var counter = 0
    func next() -> String {
        counter += 1
        return "miss:\(counter)"
    }
    for _ in 0..<rounds.rounds {
        await rounds.measure("raw sqlite3 get miss + set", keyCount: operations) { _ in
            let key = next()
            _ = rawSQLite.get(key)
            rawSQLite.set(key, value)
        }
        try await rounds.measure("SQLiteStore get miss + set", keyCount: operations) { _ in
            let key = next()
            _ = try await store.entry(forKey: key)
            try await store.setEntry(StoredEntry(bytes: value), forKey: key)
        }
        try await rounds.measure("SQLiteStore get miss + lease + leased set", keyCount: operations) { _ in
            let key = next()
            _ = try await store.entry(forKey: key)
            let lease = EntryLease.random()
            _ = try await store.leaseEntry(forKey: key, lease: lease, duration: .seconds(60))
            _ = try await store.setEntry(StoredEntry(bytes: value), forKey: key, ifLeased: lease, keepingLease: false)
        }
        try await rounds.measure("TieredStore getOrSet miss, no l2Timeout", keyCount: operations) { _ in
            _ = try await untimed.getOrSet(next(), as: [UInt8].self) { value }
        }
        try await rounds.measure("TieredStore getOrSet miss", keyCount: operations) { _ in
            _ = try await tiered.getOrSet(next(), as: [UInt8].self) { value }
        }
    }
    let report = Report.shared
    let group = "misses"
    let raw = "raw sqlite3 get miss + set"
    report.record(group, raw, rounds.median(raw))
    for name in [
        "SQLiteStore get miss + set", "SQLiteStore get miss + lease + leased set", "TieredStore getOrSet miss, no l2Timeout",
        "TieredStore getOrSet miss",
    ] {
        report.compare(group, name, rounds.median(name), to: raw, rounds.median(raw))
    }
    report.compare(
        group, "TieredStore getOrSet miss (vs the store's own calls)", rounds.median("TieredStore getOrSet miss"),
        to: "SQLiteStore get miss + lease + leased set", rounds.median("SQLiteStore get miss + lease + leased set"))
    try await tiered.close()
    try await untimed.close()
    try await store.close()
}
