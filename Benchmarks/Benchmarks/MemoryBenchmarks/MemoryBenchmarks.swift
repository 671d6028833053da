// MemoryStore against a raw `Mutex<[String: [UInt8]]>`, measured in the same run.
// Each benchmark iteration runs 1,000 operations over a set of 100,000 keys.
import Benchmark
import Strata
import Synchronization

/// The baseline: the least a thread-safe in-memory byte cache can do.
final class RawDictionary: Sendable {
    let storage = Mutex<[String: [UInt8]]>([:])

    func get(_ key: String) -> [UInt8]? { storage.withLock { $0[key] } }

    func set(_ key: String, _ value: [UInt8]) { storage.withLock { $0[key] = value } }
}

/// A small struct, as memoized results and user records tend to be.
struct Profile: Codable, Sendable {
    var id: Int
    var name: String
    var score: Double
}

enum Fixture {
    static let keyCount = 100_000
    static let keys: [String] = (0..<keyCount).map { "user:\($0)" }
    static let value = [UInt8](repeating: 7, count: 64)

    static let raw: RawDictionary = {
        let raw = RawDictionary()
        for key in keys { raw.set(key, value) }
        return raw
    }()

    static let memoryBytes = Filled {
        let store = MemoryStore(maxEntries: keyCount * 2)
        for key in keys { try await store.set(key, value) }
        return store
    }

    static let memoryTyped = Filled {
        let store = MemoryStore(maxEntries: keyCount * 2)
        for (index, key) in keys.enumerated() {
            try await store.set(key, Profile(id: index, name: "user \(index)", score: 0.5))
        }
        return store
    }

    /// Where the next sample starts, so that successive samples (each 1,000 operations)
    /// walk the whole key set instead of repeating 1,000 cache-hot keys.
    static let cursor = Atomic<Int>(0)

    /// The first operation index of a new sample.
    static func nextSample() -> Int { cursor.add(1_000, ordering: .relaxed).oldValue }

    /// The key for operation `index`: a fixed stride through the key set, so that
    /// consecutive operations touch different parts of the table.
    @inline(__always)
    static func key(_ index: Int) -> String { keys[(index &* 7_919) % keyCount] }
}

/// A store filled once, on first use.
actor Filled<Store: Sendable> {
    private let make: @Sendable () async throws -> Store
    private var made: Store?
    init(_ make: @escaping @Sendable () async throws -> Store) { self.make = make }
    func store() async throws -> Store {
        if let made { return made }
        let store = try await make()
        made = store
        return store
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    Benchmark("Raw Mutex<[String: [UInt8]]> get hit") { benchmark in
        let raw = Fixture.raw
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(raw.get(Fixture.key(start + index)))
        }
    }

    // The same baseline in an async closure: the store's API is async, and async
    // closures are scheduled differently by the harness, so this is the like-for-like one.
    Benchmark("Raw Mutex<[String: [UInt8]]> get hit, async context") { benchmark async throws in
        let raw = Fixture.raw
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(raw.get(Fixture.key(start + index)))
        }
    }

    Benchmark("MemoryStore get hit, bytes") { benchmark async throws in
        let store = try await Fixture.memoryBytes.store()
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await store.get(Fixture.key(start + index), as: [UInt8].self))
        }
    }

    Benchmark("MemoryStore get hit, typed struct") { benchmark async throws in
        let store = try await Fixture.memoryTyped.store()
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await store.get(Fixture.key(start + index), as: Profile.self))
        }
    }

    Benchmark("Raw Mutex<[String: [UInt8]]> set") { benchmark in
        let raw = Fixture.raw
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            raw.set(Fixture.key(start + index), Fixture.value)
        }
    }

    Benchmark("MemoryStore set, bytes") { benchmark async throws in
        let store = try await Fixture.memoryBytes.store()
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            try await store.set(Fixture.key(start + index), Fixture.value)
        }
    }

    Benchmark("MemoryStore set, typed struct") { benchmark async throws in
        let store = try await Fixture.memoryTyped.store()
        let start = Fixture.nextSample()
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            try await store.set(Fixture.key(start + index), Profile(id: index, name: "user", score: 0.5))
        }
    }
}

