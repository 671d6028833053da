// SQLiteStore against raw sqlite3 calls, interleaved in one process: each round measures
// 20,000 operations of each kind in turn (raw, store, raw, store, ...), seven rounds, and
// prints the median and the best round. On a shared or virtual machine, whose speed drifts
// between runs, this keeps the two sides of each ratio under the same conditions.
//
//   swift run -c release sqlite-interleaved
import CSQLiteBaseline
import Foundation
import StrataSQLite

let keys = (0..<100_000).map { "user:\($0)" }
let value = [UInt8](repeating: 7, count: 64)
let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sqlprobe-\(UUID().uuidString)").path
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
let store = try SQLiteStore(path: dir + "/store.sqlite")
for key in keys { try await store.set(key, value) }
nonisolated(unsafe) var db: OpaquePointer?
sqlite3_open(dir + "/raw.sqlite", &db)
sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA mmap_size = 268435456; CREATE TABLE strata_cache (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires INTEGER) WITHOUT ROWID; CREATE INDEX e ON strata_cache(expires) WHERE expires IS NOT NULL", nil, nil, nil)
nonisolated(unsafe) var get: OpaquePointer?
nonisolated(unsafe) var set: OpaquePointer?
sqlite3_prepare_v2(db, "SELECT value, expires FROM strata_cache WHERE key = ?1 AND (expires IS NULL OR expires > ?2)", -1, &get, nil)
sqlite3_prepare_v2(db, "INSERT INTO strata_cache (key, value, expires) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires", -1, &set, nil)
nonisolated func rawSet(_ key: String, _ value: [UInt8]) {
    key.withCString { k in value.withUnsafeBytes { v in
        sqlite3_bind_text(set, 1, k, -1, nil); sqlite3_bind_blob(set, 2, v.baseAddress, Int32(v.count), nil); sqlite3_bind_null(set, 3)
        sqlite3_step(set); sqlite3_reset(set) } }
}
nonisolated func rawGet(_ key: String) -> [UInt8]? {
    key.withCString { k in
        sqlite3_bind_text(get, 1, k, -1, nil); sqlite3_bind_int64(get, 2, 0)
        defer { sqlite3_reset(get) }
        guard sqlite3_step(get) == SQLITE_ROW else { return nil }
        return [UInt8](UnsafeRawBufferPointer(start: sqlite3_column_blob(get, 0), count: Int(sqlite3_column_bytes(get, 0))))
    }
}
sqlite3_exec(db, "BEGIN", nil, nil, nil); for key in keys { rawSet(key, value) }; sqlite3_exec(db, "COMMIT", nil, nil, nil)

nonisolated func measureAll(store: SQLiteStore, keys: [String], value: [UInt8]) async throws {
let n = 20_000
let clock = ContinuousClock()
func ns(_ d: Duration) -> Double { (Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9) / Double(n) }
var results: [String: [Double]] = [:]
var cursor = 0
for _ in 0..<7 {
    cursor += n
    let base = cursor
    results["raw get", default: []].append(ns(clock.measure { for i in 0..<n { _ = rawGet(keys[((base + i) &* 7919) % keys.count]) } }))
    results["store get", default: []].append(ns(try await clock.measure { for i in 0..<n { _ = try await store.get(keys[((base + i) &* 7919) % keys.count], as: [UInt8].self) } }))
    results["store entry", default: []].append(ns(try await clock.measure { for i in 0..<n { _ = try await store.entry(forKey: keys[((base + i) &* 7919) % keys.count]) } }))
    results["raw set", default: []].append(ns(clock.measure { for i in 0..<n { rawSet(keys[((base + i) &* 7919) % keys.count], value) } }))
    results["store set", default: []].append(ns(try await clock.measure { for i in 0..<n { try await store.set(keys[((base + i) &* 7919) % keys.count], value) } }))
}
for (name, values) in results.sorted(by: { $0.key < $1.key }) {
    let sorted = values.sorted()
    print(name.padding(toLength: 12, withPad: " ", startingAt: 0), "median", Int(sorted[sorted.count / 2]), "min", Int(sorted[0]))
}
}
try await measureAll(store: store, keys: keys, value: value)
