// MemoryStore and TieredStore against their raw baselines, interleaved in one process:
// each of 7 rounds measures 20,000 operations of every kind in turn over 100,000 keys
// (a stride through the key set), and the median and best rounds are printed. On a
// shared or virtual machine, whose speed drifts between runs, this keeps both sides of
// each ratio under the same conditions.
//
//   swift run -c release tiered-interleaved
import Foundation
import Strata
import StrataSQLite
import Synchronization

struct Profile: Codable, Sendable {
    var id: Int
    var name: String
    var score: Double
}

final class RawDictionary: Sendable {
    let storage = Mutex<[String: [UInt8]]>([:])
    func get(_ key: String) -> [UInt8]? { storage.withLock { $0[key] } }
}

nonisolated func measure() async throws {
    let keys = (0..<100_000).map { "user:\($0)" }
    let value = [UInt8](repeating: 7, count: 64)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tiered-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }

    let raw = RawDictionary()
    raw.storage.withLock { storage in for key in keys { storage[key] = value } }
    let memory = MemoryStore()
    let tiered = TieredStore(l1: MemoryStore(), l2: MemoryStore())
    let sqlite = try SQLiteStore(path: directory + "/l2.sqlite")
    for (index, key) in keys.enumerated() {
        try await memory.set(key, Profile(id: index, name: "user \(index)", score: 0.5))
        try await tiered.set(key, Profile(id: index, name: "user \(index)", score: 0.5))
        try await sqlite.set(key, value)
    }
    // An L1 that holds 100 entries: every read is an L2 hit, copied into L1 (evicting one).
    let cold = TieredStore(l1: MemoryStore(maxEntries: 100), l2: sqlite)

    let perRound = 20_000
    var cursor = 0
    var results: [(String, [Duration])] = []
    func round(_ name: String, _ body: (String) async throws -> Void) async throws {
        let start = cursor
        cursor += perRound
        let elapsed = try await ContinuousClock().measure {
            for index in 0..<perRound { try await body(keys[((start + index) &* 7_919) % keys.count]) }
        }
        if let slot = results.firstIndex(where: { $0.0 == name }) {
            results[slot].1.append(elapsed / perRound)
        } else {
            results.append((name, [elapsed / perRound]))
        }
    }
    for _ in 0..<7 {
        try await round("raw dictionary get") { key in _ = raw.get(key) }
        try await round("MemoryStore get, typed") { key in _ = try await memory.get(key, as: Profile.self) }
        try await round("TieredStore L1 hit, typed") { key in _ = try await tiered.get(key, as: Profile.self) }
        try await round("TieredStore getOrSet hit") { key in
            _ = try await tiered.getOrSet(key, as: Profile.self) { Profile(id: 0, name: "", score: 0) }
        }
        try await round("SQLiteStore get") { key in _ = try await sqlite.get(key, as: [UInt8].self) }
        try await round("TieredStore L2 hit + L1 fill") { key in _ = try await cold.get(key, as: [UInt8].self) }
    }
    func nanoseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
    let medians = Dictionary(uniqueKeysWithValues: results.map { ($0.0, nanoseconds($0.1.sorted()[$0.1.count / 2])) })
    for (name, durations) in results {
        let best = nanoseconds(durations.min()!)
        print("\(name.padding(toLength: 30, withPad: " ", startingAt: 0)) median \(medians[name]!) ns, best \(best) ns")
    }
    func ratio(_ a: String, _ b: String) -> String { String(format: "%.2fx", Double(medians[a]!) / Double(medians[b]!)) }
    print("MemoryStore typed hit / raw dictionary: \(ratio("MemoryStore get, typed", "raw dictionary get"))")
    print("TieredStore typed L1 hit / raw dictionary: \(ratio("TieredStore L1 hit, typed", "raw dictionary get"))")
    print("TieredStore getOrSet hit / raw dictionary: \(ratio("TieredStore getOrSet hit", "raw dictionary get"))")
    print("TieredStore L2 hit + fill / SQLiteStore get: \(ratio("TieredStore L2 hit + L1 fill", "SQLiteStore get"))")
}

try await measure()
