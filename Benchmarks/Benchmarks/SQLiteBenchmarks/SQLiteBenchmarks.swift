// SQLiteStore against raw sqlite3 C calls with the same schema, pragmas and SQL,
// measured in the same run. 100,000 keys with 64-byte values.
import Benchmark
import CSQLiteBaseline
import Foundation
import StrataSQLite
import Synchronization

/// The baseline: one connection, statements prepared once, keys bound without copying.
final class RawSQLite: @unchecked Sendable {  // used from one benchmark at a time
    let db: OpaquePointer
    let get: OpaquePointer
    let set: OpaquePointer

    init(path: String, withoutRowID: Bool) {
        var db: OpaquePointer?
        sqlite3_open(path, &db)
        self.db = db!
        sqlite3_exec(db, "PRAGMA journal_mode = WAL", nil, nil, nil)
        sqlite3_exec(db, "PRAGMA synchronous = NORMAL", nil, nil, nil)
        sqlite3_exec(db, "PRAGMA mmap_size = 268435456", nil, nil, nil)  // SQLiteStore's default
        sqlite3_exec(db, """
            CREATE TABLE IF NOT EXISTS strata_cache (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires INTEGER)
            \(withoutRowID ? "WITHOUT ROWID" : "")
            """, nil, nil, nil)
        sqlite3_exec(db, "CREATE INDEX IF NOT EXISTS strata_cache_expires ON strata_cache(expires) WHERE expires IS NOT NULL", nil, nil, nil)
        var statement: OpaquePointer?
        sqlite3_prepare_v2(db, "SELECT value, expires FROM strata_cache WHERE key = ?1 AND (expires IS NULL OR expires > ?2)", -1, &statement, nil)
        get = statement!
        sqlite3_prepare_v2(db, """
            INSERT INTO strata_cache (key, value, expires) VALUES (?1, ?2, ?3)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires
            """, -1, &statement, nil)
        set = statement!
    }

    func read(_ key: String) -> [UInt8]? {
        key.withCString { text in
            sqlite3_bind_text(get, 1, text, -1, nil)
            sqlite3_bind_int64(get, 2, 0)
            defer { sqlite3_reset(get) }
            guard sqlite3_step(get) == SQLITE_ROW else { return nil }
            let count = Int(sqlite3_column_bytes(get, 0))
            return [UInt8](UnsafeRawBufferPointer(start: sqlite3_column_blob(get, 0), count: count))
        }
    }

    func write(_ key: String, _ value: [UInt8]) {
        key.withCString { text in
            value.withUnsafeBytes { bytes in
                sqlite3_bind_text(set, 1, text, -1, nil)
                sqlite3_bind_blob(set, 2, bytes.baseAddress, Int32(bytes.count), nil)
                sqlite3_bind_null(set, 3)
                sqlite3_step(set)
                sqlite3_reset(set)
            }
        }
    }

    /// `clear(prefix:)` done by hand: count the live keys in the range, delete the range.
    func clear(from lower: String, to upper: String) -> Int {
        sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil)
        var statement: OpaquePointer?
        var count = 0
        lower.withCString { lower in
            upper.withCString { upper in
                sqlite3_prepare_v2(db, "SELECT count(*) FROM strata_cache WHERE key >= ?1 AND key < ?2 AND (expires IS NULL OR expires > ?3)", -1, &statement, nil)
                sqlite3_bind_text(statement, 1, lower, -1, nil)
                sqlite3_bind_text(statement, 2, upper, -1, nil)
                sqlite3_bind_int64(statement, 3, 0)
                sqlite3_step(statement)
                count = Int(sqlite3_column_int64(statement, 0))
                sqlite3_finalize(statement)
                sqlite3_prepare_v2(db, "DELETE FROM strata_cache WHERE key >= ?1 AND key < ?2", -1, &statement, nil)
                sqlite3_bind_text(statement, 1, lower, -1, nil)
                sqlite3_bind_text(statement, 2, upper, -1, nil)
                sqlite3_step(statement)
                sqlite3_finalize(statement)
            }
        }
        sqlite3_exec(db, "COMMIT", nil, nil, nil)
        return count
    }
}

enum Fixture {
    static let keyCount = 100_000
    static let keys: [String] = (0..<keyCount).map { "user:\($0)" }
    static let value = [UInt8](repeating: 7, count: 64)
    static let directory: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("strata-bench-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // The benchmark process ends by exit(); remove the files then, not never.
        atexit { try? FileManager.default.removeItem(atPath: Fixture.directory) }
        return path
    }()

    static func raw(withoutRowID: Bool) -> RawSQLite {
        let raw = RawSQLite(path: directory + "/raw-\(withoutRowID).sqlite", withoutRowID: withoutRowID)
        sqlite3_exec(raw.db, "BEGIN", nil, nil, nil)
        for key in keys { raw.write(key, value) }
        sqlite3_exec(raw.db, "COMMIT", nil, nil, nil)
        return raw
    }

    static let rawWithoutRowID = raw(withoutRowID: true)
    static let rawRowID = raw(withoutRowID: false)

    static func store(_ name: String) async throws -> SQLiteStore {
        let store = try SQLiteStore(path: directory + "/\(name).sqlite")
        for key in keys { try await store.set(key, value) }
        return store
    }

    static let cursor = Atomic<Int>(0)
    static func nextSample() -> Int { cursor.add(1_000, ordering: .relaxed).oldValue }
    @inline(__always)
    static func key(_ index: Int) -> String { keys[(index &* 7_919) % keyCount] }
}

/// The store for the point benchmarks, filled once.
actor StoreHolder {
    static let shared = StoreHolder()
    private var store: SQLiteStore?
    func get() async throws -> SQLiteStore {
        if let store { return store }
        let made = try await Fixture.store("points")
        store = made
        return made
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 100_000
    )

    for (name, withoutRowID) in [("WITHOUT ROWID", true), ("rowid table", false)] {
        Benchmark("Raw sqlite3 get hit, \(name)") { benchmark in
            let raw = withoutRowID ? Fixture.rawWithoutRowID : Fixture.rawRowID
            let start = Fixture.nextSample()
            benchmark.startMeasurement()
            for index in benchmark.scaledIterations { blackHole(raw.read(Fixture.key(start + index))) }
        }
        Benchmark("Raw sqlite3 set, \(name)") { benchmark in
            let raw = withoutRowID ? Fixture.rawWithoutRowID : Fixture.rawRowID
            let start = Fixture.nextSample()
            benchmark.startMeasurement()
            for index in benchmark.scaledIterations { raw.write(Fixture.key(start + index), Fixture.value) }
        }
    }

    Benchmark("Raw sqlite3 get hit, WITHOUT ROWID, async context") { benchmark async in
        let raw = Fixture.rawWithoutRowID
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations { blackHole(raw.read(Fixture.key(start + index))) }
    }

    Benchmark("SQLiteStore get hit") { benchmark async throws in
        let store = try await StoreHolder.shared.get()
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await store.get(Fixture.key(start + index), as: [UInt8].self))
        }
    }

    Benchmark("SQLiteStore set") { benchmark async throws in
        let store = try await StoreHolder.shared.get()
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            try await store.set(Fixture.key(start + index), Fixture.value)
        }
    }

    // 64 tasks reading at once: reads spread over the idle writer connection and the
    // readers, inline when a connection is free, on the lanes' own threads otherwise.
    Benchmark("SQLiteStore get hit, 64 concurrent tasks") { benchmark async throws in
        let store = try await StoreHolder.shared.get()
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<64 {
                group.addTask {
                    for index in stride(from: task, to: 1_000, by: 64) {
                        blackHole(try await store.get(Fixture.key(start + index), as: [UInt8].self))
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    // clear(prefix:) of 10,000 keys ("user:1…" is 11,111 of them; "user:2…" likewise) among
    // 100,000; the deleted keys are written back before each measured clear.
    let clearConfiguration = Benchmark.Configuration(
        metrics: [.wallClock], scalingFactor: .one, maxDuration: .seconds(10), maxIterations: 20)
    Benchmark("Raw sqlite3 clear 10k-key prefix of 100k", configuration: clearConfiguration) { benchmark in
        let raw = Fixture.rawWithoutRowID
        let refill = Fixture.keys.filter { $0.hasPrefix("user:1") }
        sqlite3_exec(raw.db, "BEGIN", nil, nil, nil)
        for key in refill { raw.write(key, Fixture.value) }
        sqlite3_exec(raw.db, "COMMIT", nil, nil, nil)
        benchmark.startMeasurement()
        let removed = raw.clear(from: "user:1", to: "user:2")
        benchmark.stopMeasurement()
        precondition(removed == refill.count, "the baseline removed \(removed), not \(refill.count)")
    }
    Benchmark("SQLiteStore clear 10k-key prefix of 100k", configuration: clearConfiguration) { benchmark async throws in
        let store = try await StoreHolder.shared.get()
        for key in Fixture.keys where key.hasPrefix("user:1") { try await store.set(key, Fixture.value) }
        benchmark.startMeasurement()
        let removed = try await store.clear(prefix: "user:1")
        benchmark.stopMeasurement()
        precondition(removed == 11_111, "SQLiteStore removed \(removed)")
    }
}
