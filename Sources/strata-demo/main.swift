// strata-demo: what Strata is for, on a fresh machine with no setup and no server.
//
// It memoizes a slow computation through two tiers: a MemoryStore (L1) in front of a
// FolderStore (L2) in a temporary directory, then "restarts" (a fresh, empty L1 over the
// same folder) to show the durable tier answering, and prints where each answer came
// from and how long it took.
import Foundation
import Strata

/// A deliberately slow computation: the number of primes below `limit`, plus a pause
/// standing in for a remote call.
func countPrimes(below limit: Int) async throws -> Int {
    try await Task.sleep(for: .milliseconds(200))
    var sieve = [Bool](repeating: true, count: max(limit, 2))
    sieve[0] = false
    sieve[1] = false
    var index = 2
    while index * index < limit {
        if sieve[index] { for multiple in stride(from: index * index, to: limit, by: index) { sieve[multiple] = false } }
        index += 1
    }
    return sieve.filter { $0 }.count
}

/// Read-through over two tiers: L1, then L2 (filling L1 with the lifetime left), then compute.
/// (The library's TieredStore does this, and more; the demo shows the idea plainly.)
func primes(below limit: Int, l1: some KeyValueStore, l2: some KeyValueStore) async throws -> (Int, String) {
    let key = "primes:\(limit)"
    if let value = try await l1.get(key, as: Int.self) { return (value, "memory hit (L1)") }
    if let entry = try await l2.entry(forKey: key) {
        try await l1.setEntry(entry, forKey: key)
        return (try await l1.get(key, as: Int.self)!, "folder hit (L2)")
    }
    let value = try await l2.getOrSet(key, as: Int.self, expires: "10min") {
        try await countPrimes(below: limit)
    }
    try await l1.set(key, value, expires: "10min")
    return (value, "miss, computed")
}

func show(_ label: String, _ work: () async throws -> (Int, String)) async throws {
    let clock = ContinuousClock()
    var result = (0, "")
    let elapsed = try await clock.measure { result = try await work() }
    let micros = Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6
    let latency = micros >= 1_000 ? String(format: "%8.1f ms", micros / 1_000) : String(format: "%8.1f µs", micros)
    print("  \(label.padding(toLength: 28, withPad: " ", startingAt: 0)) = \(String(result.0).padding(toLength: 8, withPad: " ", startingAt: 0)) \(result.1.padding(toLength: 16, withPad: " ", startingAt: 0)) \(latency)")
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-demo-\(UUID().uuidString)").path
defer { try? FileManager.default.removeItem(atPath: directory) }
let folder = try FolderStore(directory: directory)

print("Strata demo: a memory tier over a folder tier in \(directory)\n")
print("First run: the first call computes, the next ones are memory hits.")
var memory = MemoryStore(maxEntries: 1_000)
for limit in [2_000_000, 2_000_000, 2_000_000, 500_000] {
    try await show("primes below \(limit)", { try await primes(below: limit, l1: memory, l2: folder) })
}

print("\nAfter a restart: a fresh memory tier, the same folder. The folder answers, then memory.")
memory = MemoryStore(maxEntries: 1_000)
for limit in [2_000_000, 2_000_000, 500_000, 3_000_000] {
    try await show("primes below \(limit)", { try await primes(below: limit, l1: memory, l2: folder) })
}

print("\nTen concurrent callers of one missing key: the computation runs once.")
let computations = await withTaskGroup(of: Bool.self) { group in
    for _ in 0..<10 {
        group.addTask {
            var computed = false
            _ = try? await folder.getOrSet("primes:concurrent", as: Int.self) {
                computed = true
                return try await countPrimes(below: 1_000_000)
            }
            return computed
        }
    }
    var count = 0
    for await computed in group where computed { count += 1 }
    return count
}
print("  computations: \(computations) for 10 callers")
