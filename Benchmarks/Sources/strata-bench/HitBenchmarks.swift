import CSQLiteBaseline
import Foundation
import Strata
import StrataSQLite
import Synchronization

struct Profile: Codable, Sendable {
    var id: Int
    var name: String
    var score: Double
}

/// The least a thread-safe in-memory byte cache can do: the baseline for memory tiers.
final class RawDictionary: Sendable {
    let storage = Mutex<[String: [UInt8]]>([:])
    func get(_ key: String) -> [UInt8]? { storage.withLock { $0[key] } }
    func set(_ key: String, _ value: [UInt8]) { storage.withLock { $0[key] = value } }
}

/// Foundation's cache, as a Swift server would use it (String keys bridged per call).
final class NSCacheBaseline: @unchecked Sendable {  // NSCache is thread-safe
    let cache = NSCache<NSString, NSData>()
    func get(_ key: String) -> NSData? { cache.object(forKey: NSString(string: key)) }
    func set(_ key: String, _ value: [UInt8]) { cache.setObject(NSData(bytes: value, length: value.count), forKey: NSString(string: key)) }
}

/// Raw POSIX files, one per key, in one directory: the baseline for FolderStore.
struct RawFiles {
    let directory: String
    func read(_ key: String) -> [UInt8]? {
        let descriptor = open(directory + "/" + key, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, 256) }
        return count >= 0 ? Array(buffer.prefix(count)) : nil
    }
    /// Written to a temporary file, then renamed over the key: what an atomic write costs.
    func write(_ key: String, _ value: [UInt8]) {
        let temporary = directory + "/.tmp-" + key
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = value.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        rename(temporary, directory + "/" + key)
    }
}

/// Raw sqlite3 calls on a table shaped like SQLiteStore's, with the same pragmas.
final class RawSQLite: @unchecked Sendable {  // used from one task at a time
    var db: OpaquePointer?
    var getStatement: OpaquePointer?
    var setStatement: OpaquePointer?
    var deleteRange: OpaquePointer?

    init(path: String) {
        sqlite3_open(path, &db)
        sqlite3_exec(
            db,
            """
            PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA mmap_size = 268435456;
            CREATE TABLE strata_cache (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires INTEGER) WITHOUT ROWID;
            CREATE INDEX e ON strata_cache(expires) WHERE expires IS NOT NULL
            """, nil, nil, nil)
        sqlite3_prepare_v2(
            db, "SELECT value, expires FROM strata_cache WHERE key = ?1 AND (expires IS NULL OR expires > ?2)", -1, &getStatement, nil)
        sqlite3_prepare_v2(
            db,
            "INSERT INTO strata_cache (key, value, expires) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires",
            -1, &setStatement, nil)
        sqlite3_prepare_v2(db, "DELETE FROM strata_cache WHERE key >= ?1 AND key < ?2", -1, &deleteRange, nil)
    }

    deinit {
        [getStatement, setStatement, deleteRange].forEach { sqlite3_finalize($0) }
        sqlite3_close(db)
    }

    func set(_ key: String, _ value: [UInt8]) {
        key.withCString { k in
            value.withUnsafeBytes { v in
                sqlite3_bind_text(setStatement, 1, k, -1, nil)
                sqlite3_bind_blob(setStatement, 2, v.baseAddress, Int32(v.count), nil)
                sqlite3_bind_null(setStatement, 3)
                sqlite3_step(setStatement)
                sqlite3_reset(setStatement)
            }
        }
    }

    func get(_ key: String) -> [UInt8]? {
        key.withCString { k in
            sqlite3_bind_text(getStatement, 1, k, -1, nil)
            sqlite3_bind_int64(getStatement, 2, 0)
            defer { sqlite3_reset(getStatement) }
            guard sqlite3_step(getStatement) == SQLITE_ROW else { return nil }
            return [UInt8](
                UnsafeRawBufferPointer(start: sqlite3_column_blob(getStatement, 0), count: Int(sqlite3_column_bytes(getStatement, 0))))
        }
    }

    func inTransaction(_ body: () -> Void) {
        sqlite3_exec(db, "BEGIN", nil, nil, nil)
        body()
        sqlite3_exec(db, "COMMIT", nil, nil, nil)
    }

    /// Deletes the keys in [low, high): a prefix as a key range.
    func delete(from low: String, to high: String) {
        low.withCString { low in
            high.withCString { high in
                sqlite3_bind_text(deleteRange, 1, low, -1, nil)
                sqlite3_bind_text(deleteRange, 2, high, -1, nil)
                sqlite3_step(deleteRange)
                sqlite3_reset(deleteRange)
            }
        }
    }
}

func temporaryDirectory(_ name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("strata-bench-\(name)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Single operations on a warm store of 100,000 keys (64-byte values), each beside its raw
/// baseline, interleaved.
nonisolated func hitBenchmarks(quick: Bool) async throws {
    heading("Hits and writes: 100,000 keys, 64-byte values, interleaved rounds (median ns per operation)")
    let keyCount = quick ? 2_000 : 100_000
    let keys = (0..<keyCount).map { "user:\($0)" }
    let value = [UInt8](repeating: 7, count: 64)
    let directory = try temporaryDirectory("hits")
    defer { try? FileManager.default.removeItem(atPath: directory) }

    let raw = RawDictionary()
    let nscache = NSCacheBaseline()
    let memory = MemoryStore()
    let typedMemory = MemoryStore()
    // A measurement that reads a store right after another measurement read it finds it
    // warmer: the getOrSet hit and the L2 hit over SQLite read stores of their own, not the
    // L1 hit's and the SQLite get's, so each is as cold as its baseline.
    let tiered = TieredStore(l1: MemoryStore(), l2: MemoryStore())
    let tieredForGetOrSet = TieredStore(l1: MemoryStore(), l2: MemoryStore())
    let sqlite = try SQLiteStore(path: directory + "/store.sqlite")
    let sqliteBehindL1 = try SQLiteStore(path: directory + "/behind-l1.sqlite")
    let rawSQLite = RawSQLite(path: directory + "/raw.sqlite")
    try FileManager.default.createDirectory(atPath: directory + "/raw-files", withIntermediateDirectories: true)
    let rawFiles = RawFiles(directory: directory + "/raw-files")
    let folder = try FolderStore(directory: directory + "/folder")
    let missStore = try SQLiteStore(path: directory + "/miss.sqlite")
    let missing = TieredStore(l1: MemoryStore(maxEntries: 10_000), l2: missStore)
    for (index, key) in keys.enumerated() {
        let profile = Profile(id: index, name: "user \(index)", score: 0.5)
        raw.set(key, value)
        nscache.set(key, value)
        try await memory.set(key, value)
        try await typedMemory.set(key, profile)
        try await tiered.set(key, profile)
        try await tieredForGetOrSet.set(key, profile)
        rawFiles.write(key, value)
    }
    // The bytes stores filled in bulk (one SQLite transaction a batch, the folder's writes
    // on one of its threads) as a bytes `set` stores them: untimed, and a third of the
    // group's time when written one by one.
    for start in stride(from: 0, to: keys.count, by: 10_000) {
        let batch = Dictionary(uniqueKeysWithValues: keys[start..<min(start + 10_000, keys.count)].map { ($0, StoredEntry(bytes: value)) })
        try await sqlite.setEntries(batch)
        try await sqliteBehindL1.setEntries(batch)
        try await folder.setEntries(batch)
    }
    rawSQLite.inTransaction { for key in keys { rawSQLite.set(key, value) } }
    // An L1 of 100 entries: every read is an L2 hit, copied into L1 (evicting one).
    let cold = TieredStore(l1: MemoryStore(maxEntries: 100), l2: sqliteBehindL1)

    var rounds = InterleavedRounds(rounds: quick ? 2 : 7, operationsPerRound: quick ? 1_000 : 20_000)
    // File writes and misses take 15–200 µs each: 4,000 a round is 0.06–0.8 s, and 20,000
    // made them half of the group's time.
    let slow = 4_000
    var missCounter = 0
    for _ in 0..<rounds.rounds {
        await rounds.measure("raw dictionary get", keyCount: keyCount) { _ = raw.get(keys[$0]) }
        await rounds.measure("NSCache get", keyCount: keyCount) { _ = nscache.get(keys[$0]) }
        try await rounds.measure("MemoryStore get, bytes", keyCount: keyCount) { _ = try await memory.get(keys[$0], as: [UInt8].self) }
        try await rounds.measure("MemoryStore get, typed", keyCount: keyCount) { _ = try await typedMemory.get(keys[$0], as: Profile.self) }
        await rounds.measure("raw dictionary set", keyCount: keyCount) { raw.set(keys[$0], value) }
        await rounds.measure("NSCache set", keyCount: keyCount) { nscache.set(keys[$0], value) }
        try await rounds.measure("MemoryStore set, bytes", keyCount: keyCount) { try await memory.set(keys[$0], value) }
        try await rounds.measure("TieredStore L1 hit, typed", keyCount: keyCount) { _ = try await tiered.get(keys[$0], as: Profile.self) }
        try await rounds.measure("TieredStore getOrSet hit", keyCount: keyCount) { index in
            _ = try await tieredForGetOrSet.getOrSet(keys[index], as: Profile.self) { Profile(id: 0, name: "", score: 0) }
        }
        await rounds.measure("raw sqlite3 get", keyCount: keyCount) { _ = rawSQLite.get(keys[$0]) }
        try await rounds.measure("SQLiteStore get", keyCount: keyCount) { _ = try await sqlite.get(keys[$0], as: [UInt8].self) }
        try await rounds.measure("TieredStore L2 hit + L1 fill (SQLite L2)", keyCount: keyCount) {
            _ = try await cold.get(keys[$0], as: [UInt8].self)
        }
        await rounds.measure("raw sqlite3 set", keyCount: keyCount, operations: slow) { rawSQLite.set(keys[$0], value) }
        try await rounds.measure("SQLiteStore set", keyCount: keyCount, operations: slow) { try await sqlite.set(keys[$0], value) }
        // Untimed: as many writes into the L2 hit's file, so that both files change alike
        // between reads (the write-ahead log, the readers' page caches).
        for index in 0..<slow { try await sqliteBehindL1.set(keys[(index &* 7_919) % keyCount], value) }
        // A miss: a failed lookup in both tiers, the computation, a write to both tiers.
        await rounds.measure("raw sqlite3 get miss + set", keyCount: keyCount, operations: slow) { _ in
            missCounter += 1
            let key = "raw-miss:\(missCounter)"
            _ = rawSQLite.get(key)
            rawSQLite.set(key, value)
        }
        try await rounds.measure("TieredStore getOrSet miss (SQLite L2)", keyCount: keyCount, operations: slow) { _ in
            missCounter += 1
            _ = try await missing.getOrSet("miss:\(missCounter)", as: [UInt8].self) { value }
        }
        await rounds.measure("raw POSIX open/read/close", keyCount: keyCount) { _ = rawFiles.read(keys[$0]) }
        try await rounds.measure("FolderStore get", keyCount: keyCount) { _ = try await folder.get(keys[$0], as: [UInt8].self) }
        await rounds.measure("raw POSIX write + rename", keyCount: keyCount, operations: slow) { rawFiles.write(keys[$0], value) }
        try await rounds.measure("FolderStore set", keyCount: keyCount, operations: slow) { try await folder.set(keys[$0], value) }
    }

    let report = Report.shared
    let group = "hits"
    func compare(_ name: String, _ baseline: String) {
        report.compare(group, name, rounds.median(name), to: baseline, rounds.median(baseline))
    }
    report.record(group, "raw dictionary get", rounds.median("raw dictionary get"))
    compare("NSCache get", "raw dictionary get")
    compare("MemoryStore get, bytes", "raw dictionary get")
    compare("MemoryStore get, typed", "raw dictionary get")
    report.compare(
        group, "MemoryStore get, bytes (vs NSCache)", rounds.median("MemoryStore get, bytes"), to: "NSCache get",
        rounds.median("NSCache get"))
    compare("MemoryStore set, bytes", "raw dictionary set")
    report.compare(
        group, "MemoryStore set, bytes (vs NSCache)", rounds.median("MemoryStore set, bytes"), to: "NSCache set",
        rounds.median("NSCache set"))
    compare("TieredStore L1 hit, typed", "raw dictionary get")
    compare("TieredStore getOrSet hit", "raw dictionary get")
    compare("SQLiteStore get", "raw sqlite3 get")
    compare("SQLiteStore set", "raw sqlite3 set")
    compare("TieredStore L2 hit + L1 fill (SQLite L2)", "SQLiteStore get")
    compare("TieredStore getOrSet miss (SQLite L2)", "raw sqlite3 get miss + set")
    compare("FolderStore get", "raw POSIX open/read/close")
    compare("FolderStore set", "raw POSIX write + rename")
    await folder.close()
    try await sqlite.close()
    try await cold.close()
    try await missing.close()
}
