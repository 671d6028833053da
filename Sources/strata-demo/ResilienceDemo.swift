import Foundation
import Strata
import StrataSQLite

/// A dependency that is slow and flaky, deterministically: each call takes 40 ms, one in
/// four takes 400 ms instead, and one in three fails (a seeded sequence, so every run of
/// the demo sees the same service).
final class FlakyPricingService: Sendable {
    private let state = Lock<UInt64>(0x5EED)

    struct Unavailable: Error {}

    func price(of sku: String) async throws -> Int {
        let draw = state.withLock { seed -> UInt64 in
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return seed >> 33
        }
        try await Task.sleep(for: .milliseconds(draw % 4 == 0 ? 400 : 40))
        if draw % 3 == 0 { throw Unavailable() }
        return sku.utf8.reduce(0) { $0 &+ Int($1) }
    }
}

/// What callers of a memoized flaky service see, for three sets of options: the latency
/// of each call (p50, p99) and the share of calls that failed.
func resilienceDemo(directory: URL) async throws {
    print("\nResilience: a slow, flaky pricing service behind memoize (entries live 100 ms;")
    print("4 callers x 60 calls over 5 SKUs, 10 ms apart; the service takes 40 ms, one call in 4 takes")
    print("400 ms, one in 3 fails).")
    print("  options                                      p50 ms   p99 ms   errors")
    let configurations: [(String, EntryOptions)] = [
        ("expires 100ms (no resilience)", EntryOptions(expires: "100ms")),
        ("+ grace 1h, fail-safe throttle 1s", EntryOptions(expires: "100ms", grace: "1h", failSafeThrottle: "1s")),
        (
            "+ soft timeout 20ms, hard timeout 300ms",
            EntryOptions(
                expires: "100ms", grace: "1h", failSafeThrottle: "1s", softTimeout: .milliseconds(20), hardTimeout: .milliseconds(300))
        ),
        (
            "+ refresh ahead at 50% of the lifetime",
            EntryOptions(
                expires: "100ms", grace: "1h", failSafeThrottle: "1s", softTimeout: .milliseconds(20), hardTimeout: .milliseconds(300),
                refreshAhead: 0.5)
        ),
    ]
    for (index, (label, options)) in configurations.enumerated() {
        let cache = TieredStore(
            l1: MemoryStore(maxEntries: 1_000),
            l2: try SQLiteStore(path: directory.appendingPathComponent("resilience-\(index).sqlite").path))
        let service = FlakyPricingService()
        let price = cache.memoize(prefix: "price:", options: options) { (sku: String) in try await service.price(of: sku) }
        // Every SKU priced once before the traffic starts, as a warm cache would hold them.
        for sku in 0..<5 { _ = try? await price("sku-\(sku)") }
        let outcomes = await withTaskGroup(of: [(Duration, Bool)].self) { group in
            for caller in 0..<4 {
                group.addTask {
                    var outcomes: [(Duration, Bool)] = []
                    for call in 0..<60 {
                        let start = ContinuousClock.now
                        let succeeded = (try? await price("sku-\((caller + call) % 5)")) != nil
                        outcomes.append((ContinuousClock.now - start, succeeded))
                        try? await Task.sleep(for: .milliseconds(10))
                    }
                    return outcomes
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        let latencies = outcomes.map { Double($0.0.components.attoseconds) / 1e15 + Double($0.0.components.seconds) * 1e3 }.sorted()
        let errors = Double(outcomes.filter { !$0.1 }.count) / Double(outcomes.count) * 100
        let p50 = latencies[latencies.count / 2]
        let p99 = latencies[min(latencies.count - 1, latencies.count * 99 / 100)]
        print("  \(label.padding(toLength: 42, withPad: " ", startingAt: 0)) \(String(format: "%7.1f  %7.1f  %6.1f %%", p50, p99, errors))")
        try await cache.close()
    }
}
