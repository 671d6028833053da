import Foundation
import Strata

/// Hit ratio of MemoryStore's eviction policies (exact LRU and W-TinyLFU) on synthetic
/// traces, beside the offline optimum (Belady: evict the key asked for furthest in the
/// future), which no online policy can beat. Each request is a `get`, and a `set` on a
/// miss, as a read-through cache does.
nonisolated func hitRatioBenchmarks(quick: Bool) async throws {
    let report = Report.shared
    // What the policy costs a hit: bounded stores (no eviction happens), typed hits.
    heading("Hit cost by eviction policy: typed hits over 100,000 entries in a store bounded at 200,000 (median ns)")
    let hitKeys = (0..<(quick ? 2_000 : 100_000)).map { "user:\($0)" }
    var policyStores: [(String, MemoryStore)] = []
    for (name, policy) in [("LRU", EvictionPolicy.lru), ("W-TinyLFU", EvictionPolicy.windowTinyLFU)] {
        var configuration = MemoryStore.Configuration(maxEntries: 2 * hitKeys.count)
        configuration.evictionPolicy = policy
        let store = MemoryStore(configuration: configuration)
        for (index, key) in hitKeys.enumerated() { try await store.set(key, Profile(id: index, name: "user", score: 0.5)) }
        policyStores.append((name, store))
    }
    var hitRounds = InterleavedRounds(rounds: quick ? 2 : 9, operationsPerRound: quick ? 1_000 : 20_000)
    for _ in 0..<hitRounds.rounds {
        for (name, store) in policyStores {
            try await hitRounds.measure(name, keyCount: hitKeys.count) { _ = try await store.get(hitKeys[$0], as: Profile.self) }
        }
    }
    report.record("hit-ratio", "MemoryStore typed hit, bounded, LRU", hitRounds.median("LRU"))
    report.compare(
        "hit-ratio", "MemoryStore typed hit, bounded, W-TinyLFU", hitRounds.median("W-TinyLFU"),
        to: "MemoryStore typed hit, bounded, LRU", hitRounds.median("LRU"))

    heading("Hit ratio per trace and policy (% of requests; Belady is the offline optimum)")
    let universe = quick ? 20_000 : 1_000_000
    let length = quick ? 40_000 : 1_000_000
    var traces: [(String, [Int])] = []
    for alpha in [0.6, 0.8, 1.0, 1.2] {
        let zipf = ZipfKeys(count: universe, alpha: alpha)
        var random = TraceRandom(seed: 42)
        traces.append(("Zipf \(alpha)", (0..<length).map { _ in zipf.sample(&random) }))
    }
    do {
        // Zipf 0.9 with a one-off scan of 20,000 new keys after every 50,000 requests.
        let zipf = ZipfKeys(count: universe, alpha: 0.9)
        var random = TraceRandom(seed: 7)
        var trace: [Int] = []
        var scanKey = universe
        while trace.count < length {
            for _ in 0..<(quick ? 1_000 : 50_000) { trace.append(zipf.sample(&random)) }
            for _ in 0..<(quick ? 400 : 20_000) { trace.append(scanKey); scanKey += 1 }
        }
        traces.append(("Zipf 0.9 + one-off scans", Array(trace.prefix(length))))
    }
    do {
        // Zipf 1.0 whose popular keys move every 100,000 requests.
        let zipf = ZipfKeys(count: universe, alpha: 1.0)
        var random = TraceRandom(seed: 9)
        let period = quick ? 4_000 : 100_000
        traces.append(("hot set moving every \(period)", (0..<length).map { ((zipf.sample(&random) + ($0 / period) * 7_919) % universe) }))
    }
    for fraction in [0.01, 0.10] {
        let capacity = Int(Double(universe) * fraction)
        let loop = (0..<length).map { $0 % (capacity * 12 / 10) }
        for (name, trace) in traces + [("loop 1.2x the cache", loop)] {
            let label = "\(name), cache \(Int(fraction * 100))%"
            var ratios: [String: Double] = [:]
            for (policyName, policy) in [("LRU", EvictionPolicy.lru), ("W-TinyLFU", EvictionPolicy.windowTinyLFU)] {
                var configuration = MemoryStore.Configuration(maxEntries: capacity)
                configuration.evictionPolicy = policy
                let store = MemoryStore(configuration: configuration)
                let keys = trace.map { "k\($0)" }
                var hits = 0
                for (index, key) in keys.enumerated() {
                    if index % 10_000 == 0 { await Task.yield() }
                    if try await store.get(key, as: Int.self) != nil { hits += 1 } else { try await store.set(key, 1) }
                }
                ratios[policyName] = Double(hits) / Double(trace.count) * 100
            }
            let optimum = beladyHitRatio(trace, capacity: capacity) * 100
            report.record("hit-ratio", "\(label): LRU", ratios["LRU"]!, unit: "%", series: "LRU")
            report.record(
                "hit-ratio", "\(label): W-TinyLFU", ratios["W-TinyLFU"]!, unit: "%", series: "W-TinyLFU",
                note: String(
                    format: "%+.1f points vs LRU; %.1f below Belady", ratios["W-TinyLFU"]! - ratios["LRU"]!, optimum - ratios["W-TinyLFU"]!)
            )
            report.record("hit-ratio", "\(label): Belady (offline optimum)", optimum, unit: "%", series: "Belady")
        }
    }
}

/// Keys 0..<count drawn with Zipf popularity (key 0 the most popular).
struct ZipfKeys {
    private var cumulative: [Double]

    init(count: Int, alpha: Double) {
        cumulative = [Double](repeating: 0, count: count)
        var total = 0.0
        for rank in 0..<count {
            total += 1 / pow(Double(rank + 1), alpha)
            cumulative[rank] = total
        }
        for index in 0..<count { cumulative[index] /= total }
    }

    func sample(_ random: inout TraceRandom) -> Int {
        let u = Double(random.next() >> 11) / Double(1 << 53)
        var low = 0, high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < u { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// SplitMix64: the same trace in every run.
struct TraceRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Belady's MIN: on a miss with the cache full, evict the cached key whose next request is
/// furthest away (or never comes). A max-heap of next uses, with stale entries skipped.
func beladyHitRatio(_ trace: [Int], capacity: Int) -> Double {
    var nextUse = [Int](repeating: Int.max, count: trace.count)
    var seen: [Int: Int] = [:]
    for index in stride(from: trace.count - 1, through: 0, by: -1) {
        nextUse[index] = seen[trace[index]] ?? Int.max
        seen[trace[index]] = index
    }
    var cached: [Int: Int] = [:]  // key -> its next use
    var heap: [(next: Int, key: Int)] = []
    func push(_ element: (next: Int, key: Int)) {
        heap.append(element)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if heap[parent].next >= heap[child].next { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }
    func pop() -> (next: Int, key: Int) {
        let top = heap[0]
        heap[0] = heap[heap.count - 1]
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var largest = parent
            if left < heap.count && heap[left].next > heap[largest].next { largest = left }
            if right < heap.count && heap[right].next > heap[largest].next { largest = right }
            if largest == parent { break }
            heap.swapAt(parent, largest)
            parent = largest
        }
        return top
    }
    var hits = 0
    for (index, key) in trace.enumerated() {
        if cached[key] != nil {
            hits += 1
        } else if cached.count >= capacity {
            while true {
                let (next, victim) = pop()
                if cached[victim] == next { cached[victim] = nil; break }
            }
        }
        cached[key] = nextUse[index]
        push((nextUse[index], key))
    }
    return Double(hits) / Double(trace.count)
}
