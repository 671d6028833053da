import Foundation
import Strata
import StrataRedis
import StrataSQLite

/// An item of the JSON-like payloads the compression figures use: a catalogue page.
struct CatalogueItem: Codable, Sendable {
    var id: Int
    var sku: String
    var name: String
    var price: Double
    var stock: Int
    var active: Bool
    var tags: [String]
    var updatedAt: String
}

/// Items whose JSON takes about `bytes` bytes, from a fixed seed (the same in every run).
func cataloguePage(bytes: Int) -> [CatalogueItem] {
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima", "red", "green",
    ]
    var random = TraceRandom(seed: 4_099)
    func pick(_ bound: Int) -> Int { Int(random.next() % UInt64(bound)) }
    var items: [CatalogueItem] = []
    var size = 2
    while size < bytes - 60 {
        let item = CatalogueItem(
            id: 100_000 + items.count, sku: String(format: "SKU-%06d", pick(1_000_000)),
            name: "\(words[pick(words.count)]) \(words[pick(words.count)]) \(words[pick(words.count)])",
            price: Double(pick(50_000)) / 100, stock: pick(1_000), active: pick(2) == 1,
            tags: [words[pick(words.count)], words[pick(words.count)]],
            updatedAt: String(format: "2026-%02d-%02dT%02d:%02d:00Z", 1 + pick(12), 1 + pick(28), pick(24), pick(60)))
        size += try! JSONEncoder().encode(item).count + 1
        if size > bytes { break }
        items.append(item)
    }
    return items
}

/// The value coders and compression: a typed L2 hit of the hit benchmarks' `Profile` with
/// the binary coder beside JSON (through SQLite and Redis, and the decode alone beside
/// Foundation's binary property list), then compression's bytes and time beside none for
/// JSON-like values of 1, 16 and 256 KiB.
nonisolated func valueBenchmarks(quick: Bool) async throws {
    heading("Values: binary coder vs JSON on a typed L2 hit; zlib vs none at 1, 16, 256 KiB (median ns per operation)")
    let report = Report.shared
    let group = "values"
    let keyCount = quick ? 1_000 : 20_000
    let keys = (0..<keyCount).map { "profile:\($0)" }
    let directory = try temporaryDirectory("values")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let redis = try await LocalRedis()
    defer { redis.stop() }

    func sqlite(_ coder: any ValueCoder, _ name: String) throws -> SQLiteStore {
        var configuration = SQLiteStore.Configuration(path: directory + "/\(name).sqlite")
        configuration.valueCoder = coder
        return try SQLiteStore(configuration: configuration)
    }
    func redisStore(_ coder: any ValueCoder, _ name: String) throws -> RedisStore {
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: redis.url))
        configuration.keyNamespace = name + ":"
        configuration.valueCoder = coder
        return try RedisStore(configuration: configuration)
    }
    // An L1 of 100 entries: every read is an L2 hit, decoded, then copied into L1.
    let tiers: [(String, any KeyValueStore, any KeyValueStore)] = [
        (
            "SQLite", TieredStore(l1: MemoryStore(maxEntries: 100), l2: try sqlite(.json, "json")),
            TieredStore(l1: MemoryStore(maxEntries: 100), l2: try sqlite(.binary, "binary"))
        ),
        (
            "Redis", TieredStore(l1: MemoryStore(maxEntries: 100), l2: try redisStore(.json, "json")),
            TieredStore(l1: MemoryStore(maxEntries: 100), l2: try redisStore(.binary, "binary"))
        ),
    ]
    // Filled by bulk writes (one SQLite transaction, one Redis round trip a batch), untimed.
    for (_, json, binary) in tiers {
        for start in stride(from: 0, to: keyCount, by: 1_000) {
            let batch = Dictionary(
                uniqueKeysWithValues: (start..<min(start + 1_000, keyCount)).map {
                    (keys[$0], Profile(id: $0, name: "user \($0)", score: 0.5))
                })
            try await json.set(batch)
            try await binary.set(batch)
        }
    }
    let profile = Profile(id: 4_242, name: "user 4242", score: 0.5)
    let jsonBytes = try JSONValueCoder().encode(profile)
    let binaryBytes = try BinaryValueCoder().encode(profile)
    let plist = PropertyListEncoder()
    plist.outputFormat = .binary
    let plistBytes = try plist.encode(profile)

    // 10,000 operations a round; the Redis hits (~150 µs each) 4,000, as the redis group's.
    var rounds = InterleavedRounds(rounds: quick ? 2 : 7, operationsPerRound: quick ? 1_000 : 10_000)
    for _ in 0..<rounds.rounds {
        try await rounds.measure("decode, JSON", keyCount: 1) { _ in _ = try JSONValueCoder().decode(Profile.self, from: jsonBytes) }
        try await rounds.measure("decode, binary", keyCount: 1) { _ in _ = try BinaryValueCoder().decode(Profile.self, from: binaryBytes) }
        try await rounds.measure("decode, binary property list", keyCount: 1) { _ in
            _ = try PropertyListDecoder().decode(Profile.self, from: plistBytes)
        }
        for (name, json, binary) in tiers {
            try await rounds.measure("\(name) typed L2 hit, JSON", keyCount: keyCount, operations: name == "Redis" ? 4_000 : nil) {
                _ = try await json.get(keys[$0], as: Profile.self)
            }
            try await rounds.measure("\(name) typed L2 hit, binary", keyCount: keyCount, operations: name == "Redis" ? 4_000 : nil) {
                _ = try await binary.get(keys[$0], as: Profile.self)
            }
        }
    }
    report.record(group, "Profile decoded from JSON (\(jsonBytes.count) bytes)", rounds.median("decode, JSON"))
    report.compare(
        group, "Profile decoded by the binary coder (\(binaryBytes.count) bytes)", rounds.median("decode, binary"),
        to: "Profile decoded from JSON (\(jsonBytes.count) bytes)", rounds.median("decode, JSON"))
    report.compare(
        group, "Profile decoded from a binary property list (\(plistBytes.count) bytes)", rounds.median("decode, binary property list"),
        to: "Profile decoded from JSON (\(jsonBytes.count) bytes)", rounds.median("decode, JSON"))
    for (name, _, _) in tiers {
        report.record(group, "TieredStore typed L2 hit + L1 fill (\(name) L2), JSON", rounds.median("\(name) typed L2 hit, JSON"))
        report.compare(
            group, "TieredStore typed L2 hit + L1 fill (\(name) L2), binary", rounds.median("\(name) typed L2 hit, binary"),
            to: "TieredStore typed L2 hit + L1 fill (\(name) L2), JSON", rounds.median("\(name) typed L2 hit, JSON"))
    }
    for (_, json, binary) in tiers {
        try await json.close()
        try await binary.close()
    }
    try await compressionBenchmarks(quick: quick, report: report, group: group)
}

/// Compression beside none for catalogue pages of 1, 16 and 256 KiB: the stored bytes, a
/// write (encode and compress), and a read that decodes (expand and decode) each time.
nonisolated func compressionBenchmarks(quick: Bool, report: Report, group: String) async throws {
    var plainConfiguration = MemoryStore.Configuration()
    plainConfiguration.compression = .none
    var zlibConfiguration = MemoryStore.Configuration()
    zlibConfiguration.compression = .zlib(above: 512)
    let stores = [("none", MemoryStore(configuration: plainConfiguration)), ("zlib", MemoryStore(configuration: zlibConfiguration))]
    // Entries written as bytes alone: a typed read decodes them every time (no Swift value kept).
    let readers = MemoryStore()
    for kibibytes in [1, 16, 256] {
        let page = cataloguePage(bytes: kibibytes * 1024)
        let operations = quick ? 20 : max(40, 40_000 / (kibibytes * 4))
        var rounds = InterleavedRounds(rounds: quick ? 2 : 7, operationsPerRound: operations)
        var sizes: [String: Int] = [:]
        for (name, store) in stores {
            try await store.set("page", page)
            let bytes = try await store.entry(forKey: "page")!.bytes
            sizes[name] = bytes.count
            try await readers.setEntry(StoredEntry(bytes: bytes), forKey: name)
        }
        for _ in 0..<rounds.rounds {
            for (name, store) in stores {
                try await rounds.measure("set \(name)", keyCount: 1) { _ in try await store.set("page", page) }
                try await rounds.measure("get \(name)", keyCount: 1) { _ in _ = try await readers.get(name, as: [CatalogueItem].self) }
            }
        }
        let size = "\(kibibytes) KiB"
        report.record(group, "stored bytes of a \(size) JSON value, uncompressed", Double(sizes["none"]!), unit: "bytes")
        report.compare(
            group, "stored bytes of a \(size) JSON value, zlib", Double(sizes["zlib"]!),
            to: "stored bytes of a \(size) JSON value, uncompressed",
            Double(sizes["none"]!), unit: "bytes")
        for operation in ["set", "get"] {
            let baseline = "\(operation) of a \(size) JSON value, uncompressed"
            report.record(group, baseline, rounds.median("\(operation) none"))
            report.compare(
                group, "\(operation) of a \(size) JSON value, zlib", rounds.median("\(operation) zlib"), to: baseline,
                rounds.median("\(operation) none"))
        }
    }
    await readers.close()
}
