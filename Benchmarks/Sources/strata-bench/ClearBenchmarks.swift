import Foundation
import Strata
import StrataRedis
import StrataSQLite

/// `clear(prefix:)` of 10,000 keys among 1,000,000 in each store (among 100,000 files in the
/// folder), beside the raw way to do the same on the same data: a scan of a locked dictionary,
/// readdir + unlink, a key-range DELETE, SCAN MATCH + UNLINK. Each is measured 3 times (the
/// 10,000 keys written back between runs, not timed); the median is reported.
///
/// The stores are filled with bulk writes of 10,000 keys (`setEntries`: one SQLite
/// transaction, one pipelined batch), untimed. Writing a million files (twice: the raw
/// baseline's and the store's) took about 5 minutes of the group's 7 here, so the folder
/// holds 100,000: both its clear and the raw one read the whole directory, and their
/// ratio is what is reported.
nonisolated func clearBenchmarks(quick: Bool) async throws {
    heading("clear(prefix:) of 10,000 keys among 1,000,000 (the folder: 100,000 files; median of 3, ms)")
    let total = quick ? 20_000 : 1_000_000
    let folderTotal = quick ? 20_000 : 100_000
    let targetCount = quick ? 200 : 10_000
    let others = (0..<(total - targetCount)).map { "other:\($0)" }
    let targets = (0..<targetCount).map { "target:\($0)" }
    let value = [UInt8](repeating: 7, count: 64)
    let entry = StoredEntry(bytes: value)
    let report = Report.shared
    let group = "clear"
    let clock = ContinuousClock()
    let directory = try temporaryDirectory("clear")
    defer { try? FileManager.default.removeItem(atPath: directory) }

    /// Writes `keys` in bulk calls of 10,000 (untimed).
    func fill(_ store: some KeyValueStore, with keys: [String]) async throws {
        for start in stride(from: 0, to: keys.count, by: 10_000) {
            let batch = keys[start..<min(start + 10_000, keys.count)].map { ($0, entry) }
            try await store.setEntries(Dictionary(uniqueKeysWithValues: batch))
        }
    }

    /// Times `clear` three times, calling `refill` (untimed) before each; median in ns.
    func timed(_ refill: () async throws -> Void, _ clear: () async throws -> Void) async throws -> Double {
        var samples: [Double] = []
        for _ in 0..<3 {
            try await refill()
            samples.append(nanoseconds(try await clock.measure { try await clear() }))
        }
        return median(samples)
    }

    // Memory: the locked dictionary has no order, so a prefix means a scan.
    let raw = RawDictionary()
    let memory = MemoryStore()
    for key in others { raw.set(key, value) }
    try await fill(memory, with: others)
    let rawMemory = try await timed({ for key in targets { raw.set(key, value) } }) {
        raw.storage.withLock { storage in
            for key in storage.keys where key.hasPrefix("target:") { storage[key] = nil }
        }
    }
    // The first prefix operation builds MemoryStore's sorted key index; timed on its own.
    for key in targets { try await memory.setEntry(entry, forKey: key) }
    let firstClear = nanoseconds(try await clock.measure { try await memory.clear(prefix: "target:") })
    let memoryClear = try await timed({ for key in targets { try await memory.setEntry(entry, forKey: key) } }) {
        try await memory.clear(prefix: "target:")
    }
    report.record(group, "raw dictionary: scan and remove", rawMemory)
    report.compare(group, "MemoryStore clear(prefix:)", memoryClear, to: "raw dictionary: scan and remove", rawMemory)
    report.compare(
        group, "MemoryStore clear(prefix:), first prefix operation (builds the index)", firstClear,
        to: "raw dictionary: scan and remove", rawMemory)

    // SQLite: one key-range DELETE.
    let sqlite = try SQLiteStore(path: directory + "/store.sqlite")
    let rawSQLite = RawSQLite(path: directory + "/raw.sqlite")
    // Both tables filled in the same order, batch by batch (a dictionary's): a B-tree filled
    // in key order and one filled in hashed order lay out their pages differently, and the
    // range DELETE reads them.
    for start in stride(from: 0, to: others.count, by: 10_000) {
        let batch = Dictionary(uniqueKeysWithValues: others[start..<min(start + 10_000, others.count)].map { ($0, entry) })
        rawSQLite.inTransaction { for key in batch.keys { rawSQLite.set(key, value) } }
        try await sqlite.setEntries(batch)
    }
    let rawDelete = try await timed({ rawSQLite.inTransaction { for key in targets { rawSQLite.set(key, value) } } }) {
        rawSQLite.delete(from: "target:", to: "target;")
    }
    let sqliteClear = try await timed({ for key in targets { try await sqlite.setEntry(entry, forKey: key) } }) {
        try await sqlite.clear(prefix: "target:")
    }
    report.record(group, "raw sqlite3: DELETE key range", rawDelete)
    report.compare(group, "SQLiteStore clear(prefix:)", sqliteClear, to: "raw sqlite3: DELETE key range", rawDelete)

    // Tiered: L1 and L2 both hold the million keys; the baseline is the raw clear of each tier.
    let tiered = TieredStore(l1: MemoryStore(), l2: sqlite)
    try await fill(tiered.l1, with: others)
    _ = try await tiered.l1.keys(prefix: "none:")  // index built, as in a running server
    let tieredClear = try await timed({ for key in targets { try await tiered.setEntry(entry, forKey: key) } }) {
        try await tiered.clear(prefix: "target:")
    }
    report.compare(
        group, "TieredStore clear(prefix:) (memory over SQLite)", tieredClear,
        to: "raw dictionary scan + raw sqlite3 DELETE", rawMemory + rawDelete)
    try await tiered.close()

    // Folder: one file per key in one directory; the raw way is readdir + unlink.
    let folderOthers = Array(others.prefix(folderTotal - targetCount))
    let folder = try FolderStore(directory: directory + "/folder")
    let rawDirectory = directory + "/raw-files"
    try FileManager.default.createDirectory(atPath: rawDirectory, withIntermediateDirectories: true)
    let files = RawFiles(directory: rawDirectory)
    for key in folderOthers { files.write(key, value) }
    try await fill(folder, with: folderOthers)
    let rawUnlink = try await timed({ for key in targets { files.write(key, value) } }) {
        guard let stream = opendir(rawDirectory) else { return }
        defer { closedir(stream) }
        let descriptor = dirfd(stream)
        while let item = readdir(stream) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name.hasPrefix("target:") { unlinkat(descriptor, name, 0) }
        }
    }
    let folderClear = try await timed({ for key in targets { try await folder.setEntry(entry, forKey: key) } }) {
        try await folder.clear(prefix: "target:")
    }
    report.record(group, "raw POSIX: readdir + unlink", rawUnlink)
    report.compare(group, "FolderStore clear(prefix:)", folderClear, to: "raw POSIX: readdir + unlink", rawUnlink)
    await folder.close()

    // Redis: SCAN MATCH + UNLINK, by hiredis directly and by RedisStore.
    let redis = try await LocalRedis()
    defer { redis.stop() }
    let rawRedis = RawRedis(port: redis.port)
    let store = try RedisStore(url: redis.url)
    let valueText = String(repeating: "v", count: 64)
    rawRedis.pipeline(others.map { ["SET", $0, valueText] })
    let refillRedis = { rawRedis.pipeline(targets.map { ["SET", $0, valueText] }) }
    let rawScan = try await timed(refillRedis) { rawRedis.clear(prefix: "target:") }
    let redisClear = try await timed(refillRedis) { try await store.clear(prefix: "target:") }
    report.record(group, "raw hiredis: SCAN MATCH + UNLINK", rawScan)
    report.compare(group, "RedisStore clear(prefix:)", redisClear, to: "raw hiredis: SCAN MATCH + UNLINK", rawScan)
    try await store.close()
}
