@testable import Strata
import Testing

/// The table behind MemoryStore against a plain dictionary and list: random inserts,
/// replacements, lookups, removals and evictions over a small key space, so probe runs
/// collide, wrap around and get shifted back on removal.
@Test("LRU table: random operations agree with a reference dictionary and recency list")
func lruTableMatchesReference() async {
    var generator = SplitMix(seed: 42)
    var table = LRUTable()
    var reference: [String: [UInt8]] = [:]
    var recency: [String] = []  // oldest first
    var mismatches: [String] = []  // collected, not #expect-ed per step: cheaper in debug
    func use(_ key: String) {
        recency.removeAll { $0 == key }
        recency.append(key)
    }
    for step in 0..<30_000 {
        // Suspend now and then: a long synchronous loop would hold one of the cooperative
        // threads other tests (lifetimes measured in real time) need.
        if step % 100 == 0 { await Task.yield() }
        let key = "k\(generator.next() % 300)"
        switch generator.next() % 10 {
        case 0..<4:
            let value = [UInt8(truncatingIfNeeded: step)]
            table.set(ByteKey(key), MemoryEntry(bytes: value, value: nil, expiresAt: nil))
            reference[key] = value
            use(key)
        case 4..<6:
            if let slot = table.slot(of: ByteKey(key)) {
                table.remove(at: slot)
            }
            reference[key] = nil
            recency.removeAll { $0 == key }
        case 6:
            // Evict the least recently used, as MemoryStore does over its bound.
            if table.oldest >= 0 {
                let evicted = table.key(at: table.oldest).string
                if evicted != recency.first { mismatches.append("step \(step): evicted \(evicted), not \(recency.first ?? "-")") }
                table.remove(at: table.oldest)
                reference[evicted] = nil
                recency.removeFirst()
            }
        default:
            let slot = table.slot(of: ByteKey(key))
            if slot.map({ table.entry(at: $0).bytes }) != reference[key] { mismatches.append("step \(step): \(key)") }
            if let slot {
                table.touch(slot)
                use(key)
            }
        }
        if table.count != reference.count { mismatches.append("step \(step): count \(table.count), not \(reference.count)") }
    }
    #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    for (key, value) in reference {
        #expect(table.slot(of: ByteKey(key)).map { table.entry(at: $0).bytes } == value)
    }
    #expect(Set(table.occupiedSlots().map { table.key(at: $0).string }) == Set(reference.keys))
    #expect(table.keys(withPrefix: "k1").map(\.string) == reference.keys.filter { $0.hasPrefix("k1") }.sorted())
}
