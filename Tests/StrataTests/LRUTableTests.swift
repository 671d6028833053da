import Foundation
import Testing

@testable import Strata

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
            if table.count > 0 {
                let victim = table.victim()
                let evicted = table.key(at: victim).string
                if evicted != recency.first { mismatches.append("step \(step): evicted \(evicted), not \(recency.first ?? "-")") }
                table.remove(at: victim)
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

/// W-TinyLFU against a reference model written from its description: three lists (window,
/// probation, protected; oldest first), new keys into the window, the window's overflow
/// into probation as the candidate, a hit in probation promoted to protected (whose
/// overflow goes back to probation), and eviction of the candidate or probation's oldest,
/// whichever the sketch says was asked for less.
@Test("W-TinyLFU table: random operations agree with a reference model of the policy")
func tinyLFUTableMatchesReference() async {
    var generator = SplitMix(seed: 7)
    let bound = 200
    var table = LRUTable(policy: .windowTinyLFU, entryBound: bound)
    var window: [String] = [], probation: [String] = [], protected: [String] = []
    var candidate: String?
    var values: [String: [UInt8]] = [:]
    var mismatches: [String] = []
    func drop(_ key: String) {
        window.removeAll { $0 == key }; probation.removeAll { $0 == key }; protected.removeAll { $0 == key }
        if candidate == key { candidate = nil }
        values[key] = nil
    }
    for step in 0..<30_000 {
        if step % 100 == 0 { await Task.yield() }
        // Skewed keys, so frequencies differ.
        let key = "k\(Int(generator.next() % 30) * Int(generator.next() % 20))"
        switch generator.next() % 10 {
        case 0..<3:
            let value = [UInt8(truncatingIfNeeded: step)]
            let existing = table.slot(of: ByteKey(key))
            table.set(ByteKey(key), MemoryEntry(bytes: value, value: nil, expiresAt: nil))
            values[key] = value
            if existing != nil {
                promote(key)
            } else {
                window.append(key)
                while window.count > table.windowShare {
                    let leaving = window.removeFirst()
                    probation.append(leaving)
                    candidate = leaving
                }
            }
            while values.count > bound {
                let victim = table.key(at: table.victim()).string
                let oldestInMain = probation.first ?? protected.first
                var expected: String
                if let oldestInMain {
                    if let current = candidate, current != oldestInMain {
                        expected =
                            table.frequency(of: ByteKey(current)) > table.frequency(of: ByteKey(oldestInMain)) ? oldestInMain : current
                        if expected == oldestInMain { candidate = nil }
                    } else {
                        expected = oldestInMain
                    }
                } else {
                    expected = window.first!
                }
                if victim != expected { mismatches.append("step \(step): evicted \(victim), the model \(expected)") }
                table.remove(at: table.slot(of: ByteKey(victim))!)
                drop(victim)
            }
        case 3:
            if let slot = table.slot(of: ByteKey(key)) { table.remove(at: slot) }
            drop(key)
        default:
            let slot = table.slotCountingRequest(of: ByteKey(key), hash: LRUTable.hash(ByteKey(key)))
            if slot.map({ table.entry(at: $0).bytes }) != values[key] { mismatches.append("step \(step): value of \(key)") }
            if let slot {
                table.touch(slot)
                promote(key)
            }
        }
        if table.count != values.count { mismatches.append("step \(step): count \(table.count), not \(values.count)") }
    }
    func promote(_ key: String) {
        if let index = window.firstIndex(of: key) {
            window.remove(at: index); window.append(key)
        } else if let index = protected.firstIndex(of: key) {
            protected.remove(at: index); protected.append(key)
        } else if let index = probation.firstIndex(of: key) {
            probation.remove(at: index); protected.append(key)
            while protected.count > table.protectedShare { probation.append(protected.removeFirst()) }
        }
    }
    #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    #expect(Set(table.occupiedSlots().map { table.key(at: $0).string }) == Set(values.keys))
    #expect(window.count <= table.windowShare && protected.count <= table.protectedShare)
}

@Test("frequency sketch: an estimate is never below the true count of recent requests, and ageing halves it")
func frequencySketch() {
    var sketch = FrequencySketch(expectedKeys: 1_000)
    var truth: [UInt32: Int] = [:]
    var generator = SplitMix(seed: 3)
    for _ in 0..<5_000 {
        let hash = UInt32(truncatingIfNeeded: generator.next() % 2_000)
        sketch.increment(hash)
        truth[hash, default: 0] += 1
    }
    #expect(truth.allSatisfy { sketch.frequency($0.key) >= min($0.value, 15) })
    let hot: UInt32 = 99_999
    for _ in 0..<15 { sketch.increment(hot) }
    #expect(sketch.frequency(hot) == 15)
    // 10 x width increments in all age every counter by half.
    for index in 0..<(10 * sketch.width) { sketch.increment(UInt32(truncatingIfNeeded: 1_000_000 + index % 50_000)) }
    #expect(sketch.frequency(hot) <= 8)
}

@Test("frequency sketch: keys never asked for are rarely estimated above zero, even with four keys a counter word")
func frequencySketchOverestimates() {
    // A sketch for 4,096 keys that has seen 16,384 keys once each (no ageing yet), then
    // asked about 20,000 keys it never saw: what admission compares a newcomer with. With
    // a key's four counters in one word (the first design) 2.4% of them were estimated at
    // two or more and the mean was 0.24; in a block, each counter in its own word, 0.7%
    // and 0.18.
    var sketch = FrequencySketch(expectedKeys: 4_096)
    var generator = SplitMix(seed: 11)
    for _ in 0..<(4 * 4_096) { sketch.increment(UInt32(truncatingIfNeeded: generator.next())) }
    var total = 0
    var twoOrMore = 0
    for _ in 0..<20_000 {
        let estimate = sketch.frequency(UInt32(truncatingIfNeeded: generator.next()))
        total += estimate
        if estimate >= 2 { twoOrMore += 1 }
    }
    #expect(twoOrMore < 200, "unseen keys estimated at two or more: \(twoOrMore) of 20,000")
    #expect(Double(total) / 20_000 < 0.21, "mean estimate of an unseen key: \(Double(total) / 20_000)")
}

/// A read-through request, as `MemoryStore` makes it: a hit touches the entry; a miss writes
/// it and evicts what the policy chooses until the table is within its bound. Returns
/// whether it hit.
@discardableResult
private func request(_ key: String, in table: inout LRUTable, bound: Int) -> Bool {
    let byteKey = ByteKey(key)
    if let slot = table.slotCountingRequest(of: byteKey, hash: LRUTable.hash(byteKey)) {
        table.touch(slot)
        return true
    }
    table.set(byteKey, MemoryEntry(bytes: [1], value: nil, expiresAt: nil))
    while table.count > bound { table.remove(at: table.victim()) }
    return false
}

/// The window follows where the hits are. Two phases of traffic, each replayed through
/// W-TinyLFU and through exact LRU, over 1,000 entries:
/// - each new key, then the key that was new 30 keys ago (and never again): every second
///   request hits under LRU, and under W-TinyLFU only if the window grows from its 1% (10
///   entries) past the 60 or so misses between a key's two requests, since a returning key
///   ties with probation's oldest at admission and loses. Sizing the window by hit density
///   alone never saw this: the window earns no hits and the main space a few (the returning
///   keys that were admitted), so it looks denser. The probe at eight times the window (80
///   entries) holds them. (At 40 keys apart, about 80 misses, the probe caught too few in some
///   processes' hash seeds to be kept, and the window stayed at 10.)
/// - then a hot set of 500 keys, asked for uniformly, with two new one-off keys after each:
///   a third of the requests can hit, if the hot keys stay in the main space; LRU loses most
///   of them to the one-off keys, and so does a window left at its largest.
@Test("W-TinyLFU table: the window grows where recency earns the hits and shrinks back where frequency does")
func tinyLFUWindowFollowsTheHits() async {
    let bound = 1_000
    var adaptive = LRUTable(policy: .windowTinyLFU, entryBound: bound)
    var lru = LRUTable(policy: .lru, entryBound: bound)
    #expect(adaptive.windowShare == 10)
    /// The hit ratios of the last `measured` requests of a phase.
    func replay(_ keys: [String], measured: Int) async -> (adaptive: Double, lru: Double) {
        var hits = (adaptive: 0, lru: 0)
        for (index, key) in keys.enumerated() {
            if index % 1_000 == 0 { await Task.yield() }
            let counted = index >= keys.count - measured
            if request(key, in: &adaptive, bound: bound) && counted { hits.adaptive += 1 }
            if request(key, in: &lru, bound: bound) && counted { hits.lru += 1 }
        }
        return (Double(hits.adaptive) / Double(measured), Double(hits.lru) / Double(measured))
    }
    var recency: [String] = []
    for index in 0..<100_000 {
        recency.append("new\(index)")
        if index >= 30 { recency.append("new\(index - 30)") }
    }
    let first = await replay(recency, measured: 50_000)
    let grown = adaptive.windowShare
    #expect(first.lru > 0.49)
    #expect(first.adaptive > 0.45, "hit ratio \(first.adaptive) (LRU \(first.lru)), window \(grown) entries")
    #expect(grown > 30)
    var generator = SplitMix(seed: 5)
    var frequency: [String] = []
    for index in 0..<200_000 {
        frequency.append("hot\(generator.next() % 500)")
        frequency.append("once\(2 * index)")
        frequency.append("once\(2 * index + 1)")
    }
    let second = await replay(frequency, measured: 150_000)
    #expect(
        second.adaptive > 0.3 && second.adaptive > second.lru + 0.1,
        "hit ratio \(second.adaptive) (LRU \(second.lru)), window \(adaptive.windowShare) entries, from \(grown)")
    #expect(adaptive.windowShare < grown / 2)
}

/// A change of the window's size moves entries between lists a thousand at a time, so that no
/// single call under a shard's lock does a whole shrink's or growth's work. A table of 20,000
/// entries is driven to a large window (each new key, and the key that was new 500 keys ago:
/// the probe from 200 to 1,600 entries shrinks protected's share by 1,120), then to a hot set
/// with one-off keys, where the window shrinks by a probe or by steps of a tenth of the bound:
/// more than 1,000 entries to move into probation, a thousand a write (the write's own new
/// entry joins the window, so the window loses 999).
@Test("W-TinyLFU table: a change of the window's size moves at most 1,000 entries a call")
func tinyLFUWindowMovesAreCapped() async {
    let bound = 20_000
    var table = LRUTable(policy: .windowTinyLFU, entryBound: bound)
    var largestWindowDrop = 0
    var largestProtectedDrop = 0
    func replay(_ key: String) {
        let before = table.listCounts
        request(key, in: &table, bound: bound)
        let after = table.listCounts
        largestWindowDrop = max(largestWindowDrop, before.window - after.window)
        largestProtectedDrop = max(largestProtectedDrop, before.protected - after.protected)
    }
    for index in 0..<400_000 {
        if index % 1_000 == 0 { await Task.yield() }
        replay("new\(index)")
        if index >= 500 { replay("new\(index - 500)") }
    }
    // The probe at eight times the 1% window (1,600 entries) catches the returning keys and is
    // kept; where the densities then rest depends on the hash seed (2,000 to 16,000 entries),
    // and an eighth of any of those is a shrink of more than 1,000.
    let grown = table.windowShare
    #expect(grown >= 1_600, "the window after recency-only traffic: \(grown) entries")
    var generator = SplitMix(seed: 9)
    for index in 0..<300_000 {
        if index % 1_000 == 0 { await Task.yield() }
        replay("hot\(generator.next() % 10_000)")
        replay("once\(index)")
    }
    #expect(table.windowShare < grown / 2, "the window after frequency traffic: \(table.windowShare), from \(grown)")
    #expect(largestWindowDrop == LRUTable.entriesMovedPerOperation - 1)
    #expect(largestProtectedDrop <= LRUTable.entriesMovedPerOperation)
}

/// Admission starts when the table is full, and the sketch with it: while the table fills,
/// every key is admitted, so what the sketch counted then decided nothing, and kept, it made
/// the first decisions on the fill's popularity (on the ARC paper's P3 trace at 131,072 pages,
/// 43.8% of requests hit with those counts kept, 45.9% without: BenchmarkHistory.md).
@Test("W-TinyLFU table: requests made while the table filled leave no count once it is full")
func tinyLFUSketchStartsWhenFull() {
    let bound = 100
    var table = LRUTable(policy: .windowTinyLFU, entryBound: bound)
    let early = ByteKey("early")
    for _ in 0..<8 { _ = request("early", in: &table, bound: bound) }
    #expect(table.frequency(of: early) >= 8, "counted while the table fills")
    for index in 0..<(bound - 1) { _ = request("fill\(index)", in: &table, bound: bound) }
    #expect(table.count == bound)
    #expect(table.frequency(of: early) >= 8, "full, but nothing decided yet")

    // The first write into the full table starts admission: the fill's counts are gone, the
    // write's own request is counted, and requests count from there.
    _ = request("first", in: &table, bound: bound)
    #expect(table.frequency(of: early) == 0)
    #expect(table.frequency(of: ByteKey("first")) == 1)
    _ = request("early", in: &table, bound: bound)
    #expect(table.frequency(of: early) == 1)
    // Forgotten once: later writes into the full table keep their counts.
    for index in 0..<bound { _ = request("again\(index)", in: &table, bound: bound) }
    #expect(table.frequency(of: early) >= 1)
}

/// A table with an entry bound that fills by bytes first (a store's `maxBytes`) starts
/// admission at its first eviction, before it holds `entryBound` entries.
@Test("W-TinyLFU table full of bytes before entries: its first eviction forgets the fill's counts")
func tinyLFUSketchStartsAtFirstEviction() {
    var table = LRUTable(policy: .windowTinyLFU, entryBound: 100)
    let early = ByteKey("early")
    for _ in 0..<8 { _ = request("early", in: &table, bound: 100) }
    for index in 0..<20 { _ = request("fill\(index)", in: &table, bound: 100) }
    #expect(table.frequency(of: early) >= 8, "counted while the table fills")
    table.remove(at: table.victim())  // what MemoryStore does when a write passes maxBytes
    #expect(table.count == 20)
    #expect(table.frequency(of: early) == 0)
    _ = request("early", in: &table, bound: 100)
    #expect(table.frequency(of: early) == 1)
}

/// A store bounded by bytes alone gives its tables no entry bound: no sketch until the first
/// eviction makes one, and the requests after it are counted.
@Test("W-TinyLFU table without an entry bound: its first eviction makes its sketch, which counts from there")
func tinyLFUSketchWithoutEntryBound() {
    var table = LRUTable(policy: .windowTinyLFU, entryBound: nil)
    for index in 0..<50 { table.set(ByteKey("k\(index)"), MemoryEntry(bytes: [1], value: nil, expiresAt: nil)) }
    #expect(table.frequency(of: ByteKey("k1")) == 0, "no sketch before an eviction")
    table.remove(at: table.victim())
    #expect(table.count == 49)
    table.set(ByteKey("k1"), MemoryEntry(bytes: [2], value: nil, expiresAt: nil))
    #expect(table.frequency(of: ByteKey("k1")) == 1)
}
