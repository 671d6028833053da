// TieredStore: L1 hits against a raw Mutex<[String: [UInt8]]>, L2 hits (with the L1
// fill) against the L2's own get, getOrSet hits, and prefix invalidation in a 1M-entry L1
// against a scan of every key. All in the same run. 100,000 keys unless said otherwise.
import Benchmark
import Foundation
import Strata
import StrataSQLite
import Synchronization

final class RawDictionary: Sendable {
    let storage = Mutex<[String: [UInt8]]>([:])
    func get(_ key: String) -> [UInt8]? { storage.withLock { $0[key] } }
}

struct Profile: Codable, Sendable {
    var id: Int
    var name: String
    var score: Double
}

/// Something made once, on first use, asynchronously.
actor Once<Thing: Sendable> {
    private let make: @Sendable () async throws -> Thing
    private var made: Thing?
    init(_ make: @escaping @Sendable () async throws -> Thing) { self.make = make }
    func get() async throws -> Thing {
        if let made { return made }
        let thing = try await make()
        made = thing
        return thing
    }
}

enum Fixture {
    static let keyCount = 100_000
    static let keys: [String] = (0..<keyCount).map { "user:\($0)" }
    static let value = [UInt8](repeating: 7, count: 64)
    static let cursor = Atomic<Int>(0)
    static func nextSample() -> Int { cursor.add(1_000, ordering: .relaxed).oldValue }
    @inline(__always)
    static func key(_ index: Int) -> String { keys[(index &* 7_919) % keyCount] }

    static let raw: RawDictionary = {
        let raw = RawDictionary()
        raw.storage.withLock { storage in for key in keys { storage[key] = value } }
        return raw
    }()

    static let directory: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("strata-tiered-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // The benchmark process ends by exit(); remove the files then, not never.
        atexit { try? FileManager.default.removeItem(atPath: Fixture.directory) }
        return path
    }()

    /// One SQLite file holding every key, shared by the L2 benchmarks.
    static let sqlite = Once<SQLiteStore> {
        let store = try SQLiteStore(path: directory + "/l2.sqlite")
        for key in keys { try await store.set(key, value) }
        return store
    }

    /// Every key in L1 (bytes and typed values), over an L2 that has them too.
    static let warm = Once<(bytes: TieredStore, typed: TieredStore)> {
        let bytes = TieredStore(l1: MemoryStore(maxEntries: keyCount * 2), l2: MemoryStore())
        let typed = TieredStore(l1: MemoryStore(maxEntries: keyCount * 2), l2: MemoryStore())
        for (index, key) in keys.enumerated() {
            try await bytes.set(key, value)
            try await typed.set(key, Profile(id: index, name: "user \(index)", score: 0.5))
        }
        return (bytes, typed)
    }

    /// An L1 too small to hold the working set, so every read is an L2 hit and an L1 fill.
    static let cold = Once<TieredStore> {
        TieredStore(l1: MemoryStore(maxEntries: 100), l2: try await sqlite.get())
    }

    /// A million entries, for prefix invalidation.
    static let million = Once<(memory: MemoryStore, raw: RawDictionary)> {
        let memory = MemoryStore()
        let raw = RawDictionary()
        for index in 0..<1_000_000 {
            try await memory.set("user:\(index)", value)
        }
        raw.storage.withLock { storage in for index in 0..<1_000_000 { storage["user:\(index)"] = value } }
        return (memory, raw)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput], scalingFactor: .kilo, maxDuration: .seconds(2), maxIterations: 100_000)

    Benchmark("Raw Mutex<[String: [UInt8]]> get hit") { benchmark in
        let raw = Fixture.raw
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations { blackHole(raw.get(Fixture.key(start + index))) }
    }
    Benchmark("Raw Mutex<[String: [UInt8]]> get hit, async context") { benchmark async throws in
        let raw = Fixture.raw
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations { blackHole(raw.get(Fixture.key(start + index))) }
    }
    Benchmark("TieredStore L1 hit, bytes") { benchmark async throws in
        let cache = try await Fixture.warm.get().bytes
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await cache.get(Fixture.key(start + index), as: [UInt8].self))
        }
    }
    Benchmark("TieredStore L1 hit, typed struct") { benchmark async throws in
        let cache = try await Fixture.warm.get().typed
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await cache.get(Fixture.key(start + index), as: Profile.self))
        }
    }
    Benchmark("TieredStore getOrSet hit, typed struct") { benchmark async throws in
        let cache = try await Fixture.warm.get().typed
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await cache.getOrSet(Fixture.key(start + index), as: Profile.self) {
                Profile(id: 0, name: "", score: 0)
            })
        }
    }
    Benchmark("SQLiteStore get hit (the L2's own get)") { benchmark async throws in
        let sqlite = try await Fixture.sqlite.get()
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await sqlite.get(Fixture.key(start + index), as: [UInt8].self))
        }
    }
    Benchmark("TieredStore L2 hit with L1 fill, over SQLiteStore") { benchmark async throws in
        let cache = try await Fixture.cold.get()
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await cache.get(Fixture.key(start + index), as: [UInt8].self))
        }
    }

    // Prefix invalidation among 1,000,000 entries: "user:99999" matches 11 keys.
    let prefixConfiguration = Benchmark.Configuration(
        metrics: [.wallClock], scalingFactor: .one, maxDuration: .seconds(5), maxIterations: 50)
    let matching = ["user:99999"] + (0..<10).map { "user:99999\($0)" }
    Benchmark("MemoryStore clear(prefix:) of 11 keys among 1M", configuration: prefixConfiguration) { benchmark async throws in
        let memory = try await Fixture.million.get().memory
        for key in matching { try await memory.set(key, Fixture.value) }
        benchmark.startMeasurement()
        let removed = try await memory.clear(prefix: "user:99999")
        benchmark.stopMeasurement()
        precondition(removed == 11)
    }
    Benchmark("Scan of 1M keys for a prefix (what an index avoids)", configuration: prefixConfiguration) { benchmark async throws in
        let raw = try await Fixture.million.get().raw
        benchmark.startMeasurement()
        let found = raw.storage.withLock { storage in storage.keys.filter { $0.utf8.starts(with: "user:99999".utf8) } }
        benchmark.stopMeasurement()
        precondition(found.count == 11)
    }
}
