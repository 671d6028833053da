import Foundation
import Strata
import StrataRedis
import StrataSQLite

/// `entries(prefix:)` of 10,000 keys beside `clear(prefix:)` of the same keys, per store:
/// a listing of values should cost about what removing them costs (one pass over the
/// keys), not a round trip per key. 10,000 other keys sit beside them. Three rounds, each
/// reading then clearing then writing the keys back (untimed); medians.
nonisolated func entriesBenchmarks(quick: Bool) async throws {
    heading("entries(prefix:) of 10,000 keys vs clear(prefix:) of the same keys (median of 3)")
    let count = quick ? 200 : 10_000
    let value = String(repeating: "v", count: 64)
    let report = Report.shared
    let group = "entries"
    let clock = ContinuousClock()
    let directory = try temporaryDirectory("entries")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let redis = try await LocalRedis()
    defer { redis.stop() }
    let stores: [(String, any KeyValueStore)] = [
        ("MemoryStore", MemoryStore()),
        ("FolderStore", try FolderStore(directory: directory + "/folder")),
        ("SQLiteStore", try SQLiteStore(path: directory + "/entries.sqlite")),
        ("RedisStore", try RedisStore(url: redis.url)),
        (
            "TieredStore (memory over SQLite)",
            TieredStore(l1: MemoryStore(), l2: try SQLiteStore(path: directory + "/tiered.sqlite"))
        ),
    ]
    for (name, store) in stores {
        for index in 0..<count { try await store.set("other:\(index)", value, expires: "1h") }
        var listings: [Double] = []
        var clears: [Double] = []
        for _ in 0..<3 {
            for index in 0..<count { try await store.set("listed:\(index)", value, expires: "1h") }
            var listed = 0
            listings.append(
                nanoseconds(
                    try await clock.measure {
                        listed = try await store.entries(prefix: "listed:", as: String.self).count
                    }))
            precondition(listed == count, "\(name) listed \(listed) of \(count) entries")
            clears.append(nanoseconds(try await clock.measure { _ = try await store.clear(prefix: "listed:") }))
        }
        let clear = median(clears)
        report.record(group, "\(name) clear(prefix:) of \(count) keys", clear)
        report.compare(
            group, "\(name) entries(prefix:) of \(count) keys", median(listings),
            to: "\(name) clear(prefix:) of \(count) keys", clear)
        try await store.close()
    }
}
