// strata-demo: what Strata is for, on a fresh machine with no setup and no server.
//
// A TieredStore (a MemoryStore L1 in front of a SQLite L2 in a temporary file) memoizes a
// slow computation. The demo shows misses, L1 hits, L2 hits after a simulated restart (a
// fresh, empty L1 over the same file), and one computation for many concurrent callers,
// each with its latency. Then an HTTPCache over the same kind of store caches a real fetch
// from an HTTP server on 127.0.0.1, and shows the second call served from the store.
import Foundation
import Strata
import StrataHTTP
import StrataLoopbackHTTP
import StrataSQLite

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A deliberately slow computation: the primes below `limit`, after a pause standing in
/// for a remote call.
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

/// Prints what answered a call (from the store's statistics before and after) and how long it took.
///
/// `call` is `@Sendable`, so it runs where `show` runs (off the main actor, which top-level
/// code is on): the time measured is the cache's, not two hops between threads.
func show(_ label: String, _ cache: TieredStore, _ call: @Sendable () async throws -> Int) async throws {
    let before = cache.statistics
    let start = ContinuousClock.now
    let value = try await call()
    let elapsed = ContinuousClock.now - start
    let after = cache.statistics
    let source =
        after.l1Hits > before.l1Hits
        ? "L1 hit (memory)"
        : after.l2Hits > before.l2Hits ? "L2 hit (SQLite)" : "miss, computed"
    let micros = Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
    let latency = micros >= 1_000 ? String(format: "%8.1f ms", micros / 1_000) : String(format: "%8.1f µs", micros)
    print(
        "  \(label.padding(toLength: 24, withPad: " ", startingAt: 0)) = \(String(value).padding(toLength: 7, withPad: " ", startingAt: 0))  \(source.padding(toLength: 16, withPad: " ", startingAt: 0)) \(latency)"
    )
}

/// The microseconds `count` calls of `call` take, in a row (off the main actor, like `show`).
func timeHits(_ count: Int, _ call: @Sendable () async throws -> Int) async throws -> Double {
    let start = ContinuousClock.now
    for _ in 0..<count { _ = try await call() }
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-demo-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }
let path = directory.appendingPathComponent("cache.sqlite").path

print("Strata demo: TieredStore = MemoryStore (L1) in front of SQLiteStore (L2) at \(path)")
#if DEBUG
// The times below are what the build gives: a debug build's hits are tens of times slower.
print("This is a DEBUG build: its times are far above a release build's (an L1 hit takes tens of µs here,")
print("about 1 µs in release). For real figures: swift run -c release strata-demo")
#else
print("A release build: the times are what an application sees (the first call of each kind warms up the code).")
#endif
print("")
print("First run: the first call of each argument computes; the next ones are L1 hits.")
var cache = TieredStore(l1: MemoryStore(maxEntries: 1_000), l2: try SQLiteStore(path: path), defaultExpiry: "10min")
var primes = cache.memoize(prefix: "primes:") { (limit: Int) in try await countPrimes(below: limit) }
for limit in [2_000_000, 2_000_000, 2_000_000, 500_000, 500_000] {
    try await show("primes below \(limit)", cache) { [primes] in try await primes(limit) }
}
// One call's time includes a cold start (the caches of a CPU that slept through the
// computation); many calls in a row show what a hot path costs.
let hits = 10_000
let hitsTook = try await timeHits(hits) { [primes] in try await primes(2_000_000) }
print("  \(hits) L1 hits in a row: \(String(format: "%.2f", hitsTook / Double(hits))) µs each")
try await cache.close()

print("\nAfter a restart: a fresh, empty L1 over the same SQLite file. L2 answers first, then L1.")
cache = TieredStore(l1: MemoryStore(maxEntries: 1_000), l2: try SQLiteStore(path: path), defaultExpiry: "10min")
primes = cache.memoize(prefix: "primes:") { (limit: Int) in try await countPrimes(below: limit) }
for limit in [2_000_000, 2_000_000, 500_000, 500_000, 3_000_000] {
    try await show("primes below \(limit)", cache) { [primes] in try await primes(limit) }
}

print("\nTwenty concurrent callers of one missing argument: one computation.")
let computationsBefore = cache.statistics.computations
let start = ContinuousClock.now
let answers = try await withThrowingTaskGroup(of: Int.self) { group in
    for _ in 0..<20 { group.addTask { [primes] in try await primes(1_000_000) } }
    var answers: [Int] = []
    for try await answer in group { answers.append(answer) }
    return answers
}
let computations = cache.statistics.computations - computationsBefore
print("  \(answers.count) answers, all \(Set(answers).sorted()); computations: \(computations), in \(ContinuousClock.now - start)")

let stats = cache.statistics
print(
    "\nStatistics of the second store: \(stats.l1Hits) L1 hits, \(stats.l2Hits) L2 hits, \(stats.misses) misses, \(stats.computations) computations."
)
try await cache.close()

try await resilienceDemo(directory: directory)

// MARK: - HTTP responses

print("\nHTTPCache: fetched responses cached as HTTP says, in a TieredStore over SQLite.")
let origin = try LoopbackHTTPServer { request in
    // A slow origin: 150 ms per answer, fresh for a minute, with a validator.
    .init(
        headers: [("Cache-Control", "max-age=60"), ("ETag", "\"v1\""), ("Content-Type", "application/json")],
        body: Array(#"{"item": "\#(request.path)", "price": 42}"#.utf8),
        delay: .milliseconds(150)
    )
}
defer { origin.stop() }
let httpStore = TieredStore(
    l1: MemoryStore(maxEntries: 1_000), l2: try SQLiteStore(path: directory.appendingPathComponent("http.sqlite").path))
let http = try HTTPCache(store: httpStore)
let itemURL = URL(string: origin.baseURL + "/items/42")!
for call in 1...3 {
    let start = ContinuousClock.now
    let (data, response) = try await http.data(for: URLRequest(url: itemURL))
    let elapsed = ContinuousClock.now - start
    let milliseconds = String(format: "%7.2f ms", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3)
    let source = HTTPCache.Source(response).map { "\($0)" } ?? "?"
    print(
        "  call \(call): \(response.statusCode) \(data.count) bytes  from \(source.padding(toLength: 8, withPad: " ", startingAt: 0)) \(milliseconds)  Cache-Status: \(response.value(forHTTPHeaderField: "Cache-Status") ?? "")"
    )
}
print("  requests that reached the origin: \(origin.requests.count)")
try await httpStore.close()
