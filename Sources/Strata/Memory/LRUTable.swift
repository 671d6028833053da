/// The table behind ``MemoryStore``: O(1) lookup, insert, touch and removal, and the
/// choice of the entry to evict, by exact LRU or by W-TinyLFU.
///
/// Nodes live in one array and link to each other by index, so an entry costs no
/// allocation of its own beyond its key and value; freed slots are reused.
///
/// W-TinyLFU (as Caffeine does it): new entries enter a small LRU *window* (1% of the
/// entries at first, then sized by where the hits are, see ``WindowSizer``); an
/// entry leaving the window becomes a *candidate* in the *probation* part of
/// the main space, where it must be asked for more often (by a ``FrequencySketch`` of
/// recent requests, misses included) than the entry probation would evict, or it is the
/// one evicted. An entry hit in probation moves to *protected* (80% of the main space),
/// whose overflow goes back to probation. One-off scans and loops larger than the cache
/// then no longer flush the entries that are asked for again and again.
struct LRUTable {
    /// The eviction policies.
    enum Policy: Sendable, Hashable {
        case lru
        case windowTinyLFU
        /// No eviction, so no recency: a hit writes nothing but the lock (a store without
        /// bounds; a list splice per hit was two cache misses and writes that cores share).
        case unordered
    }

    /// The lists a node is on: the only list under LRU; three under W-TinyLFU.
    enum Segment: UInt8 {
        case window = 0, probation = 1, protected = 2
    }

    struct Node {
        var key: ByteKey
        var entry: MemoryEntry
        /// The next older node (towards eviction), or -1.
        var older: Int32
        /// The next newer node plus one in the low 30 bits (0: none), and the node's list in
        /// the top two: a field of its own would have cost eight bytes a node, with padding.
        private var newerAndSegment: UInt32

        init(key: ByteKey, entry: MemoryEntry, older: Int32, newer: Int32) {
            self.key = key
            self.entry = entry
            self.older = older
            self.newerAndSegment = UInt32(bitPattern: newer + 1)
        }

        /// The next newer node, or -1.
        var newer: Int32 {
            get { Int32(bitPattern: newerAndSegment & 0x3FFF_FFFF) - 1 }
            set { newerAndSegment = newerAndSegment & 0xC000_0000 | UInt32(bitPattern: newValue + 1) }
        }

        /// The list the node is on.
        var segment: Segment {
            get { Segment(rawValue: UInt8(truncatingIfNeeded: newerAndSegment >> 30)) ?? .window }
            set { newerAndSegment = newerAndSegment & 0x3FFF_FFFF | UInt32(newValue.rawValue) << 30 }
        }

        /// A free slot's placeholder has `older == -2` (a stored flag would have cost
        /// eight bytes a node, with padding).
        var isOccupied: Bool { older != -2 }
    }

    private(set) var nodes: ContiguousArray<Node> = []
    private var freeSlots: [Int32] = []
    /// Slot numbers by key: open addressing with linear probing over a power-of-two
    /// array of `hash << 32 | slot + 1` (0 is empty). Keys stay in the nodes only: a
    /// `[ByteKey: Int32]` stored every key a second time and cost 42 bytes per entry at
    /// 1M entries; this costs 8 per bucket, 17 per entry.
    var buckets: [UInt64] = []
    var count = 0
    /// The same keys in byte order, for prefix operations: built on the first prefix
    /// operation and maintained from then on, so a store that never asks for a prefix
    /// never pays for it.
    private var sortedKeys: SortedKeyIndex?
    /// Each list's newest and oldest node and its length.
    private struct Ends {
        var newest: Int32 = -1
        var oldest: Int32 = -1
        var count = 0
    }

    private var lists = [Ends](repeating: Ends(), count: 3)
    let policy: Policy
    /// The bound the segment sizes are shares of (`maxEntries`); `nil`: the current count.
    let entryBound: Int?
    /// Recent requests per key, for W-TinyLFU's admission: made with the table when it has an
    /// entry bound, otherwise on the first eviction (until then nothing sizes the window); what
    /// it counted before the table first filled is forgotten then (``startAdmission()``).
    private var sketch: FrequencySketch?
    /// Whether the table has filled (held `entryBound` entries, or evicted): from then on its
    /// sketch's counts are kept.
    private var hasFilled = false
    /// The last entry moved from the window into probation: the candidate for admission.
    private var candidate: Int32 = -1
    /// The window's size, set by hit density (see ``WindowSizer``).
    private(set) var windowSizer: WindowSizer
    /// The most entries one operation moves between lists after the window's size changed:
    /// from the window into probation after it shrank (a write), from protected into
    /// probation after it grew (a hit in probation). A change of size can be a tenth of the
    /// bound, or a probe's seven eighths; no single call under the shard's lock does all of
    /// that work, and the lists reach their shares over the next calls.
    static let entriesMovedPerOperation = 1_000

    /// The number of entries in the window, probation and protected (for tests).
    var listCounts: (window: Int, probation: Int, protected: Int) { (lists[0].count, lists[1].count, lists[2].count) }
    /// Keys' and values' bytes, as counted against `maxBytes`.
    private(set) var byteCount = 0
    /// Entries with a lifetime: while there are none, writes skip the sweep.
    private(set) var expiringEntries = 0
    private var sweepCursor = 0

    init(policy: Policy = .lru, entryBound: Int? = nil) {
        self.policy = policy
        self.entryBound = entryBound
        windowSizer = WindowSizer(bound: entryBound)
        if policy == .windowTinyLFU, let entryBound { sketch = FrequencySketch(expectedKeys: entryBound) }
    }

    static func cost(_ key: ByteKey, _ entry: MemoryEntry) -> Int {
        key.string.utf8.count + entry.bytes.count
    }

    @inline(__always)
    func slot(of key: ByteKey) -> Int32? {
        slot(of: key, hash: Self.hash(key))
    }

    /// The slot of `key`, given its hash (the low 32 bits of `hashValue`, which the caller
    /// computed already to choose the shard).
    @inline(__always)
    func slot(of key: ByteKey, hash: UInt32) -> Int32? {
        bucket(of: key, hash: hash).map { Int32(truncatingIfNeeded: buckets[$0] & 0xFFFF_FFFF) - 1 }
    }

    @inline(__always)
    static func hash(_ key: ByteKey) -> UInt32 { UInt32(truncatingIfNeeded: key.hashValue) }

    @inline(__always)
    func entry(at slot: Int32) -> MemoryEntry { nodes[Int(slot)].entry }

    func key(at slot: Int32) -> ByteKey { nodes[Int(slot)].key }

    /// The slot of `key`, counting the request for W-TinyLFU: a hit in the sketch (a miss is
    /// counted by the write that follows it, as Caffeine counts), and the request and where it
    /// hit for sizing the window.
    @inline(__always)
    mutating func slotCountingRequest(of key: ByteKey, hash: UInt32) -> Int32? {
        let slot = bucket(of: key, hash: hash).map { Int32(truncatingIfNeeded: buckets[$0] & 0xFFFF_FFFF) - 1 }
        if sketch != nil {
            if slot != nil { sketch!.increment(hash) }
            let request: WindowSizer.Request = slot.map { nodes[Int($0)].segment == .window ? .windowHit : .mainHit } ?? .miss
            if windowSizer.count(request, bound: entryBound ?? count) {
                windowSizer.endSample(windowEntries: lists[0].count, mainEntries: count - lists[0].count, bound: entryBound ?? count)
            }
        }
        return slot
    }

    /// Makes `slot` the most recently used (under W-TinyLFU: within its list; a hit in
    /// probation moves it to protected).
    mutating func touch(_ slot: Int32) {
        if policy == .unordered { return }
        let segment = nodes[Int(slot)].segment
        switch segment {
        case .window:
            guard slot != lists[0].newest else { return }
            unlink(slot)
            link(slot, as: .window)
        case .protected:
            guard slot != lists[2].newest else { return }
            unlink(slot)
            link(slot, as: .protected)
        case .probation:
            unlink(slot)
            link(slot, as: .protected)
            // After the window grew, protected's share shrank: at most
            // `entriesMovedPerOperation` go back to probation at a time.
            var moved = 0
            while lists[2].count > protectedShare, moved < Self.entriesMovedPerOperation {
                let demoted = lists[2].oldest
                unlink(demoted)
                link(demoted, as: .probation)
                moved += 1
            }
        }
    }

    /// The sketch's estimate of recent requests for `key` (0 without a sketch).
    func frequency(of key: ByteKey) -> Int { sketch?.frequency(Self.hash(key)) ?? 0 }

    /// The window's share of the entries: 1% at first, then as ``WindowSizer`` sets it.
    var windowShare: Int { entryBound == nil && !windowSizer.wasSized ? max(1, count / 100) : windowSizer.target }
    /// Protected's share: 80% of the main space.
    var protectedShare: Int { max(1, ((entryBound ?? count) - windowShare) * 8 / 10) }

    /// The entry to evict to make room: the least recently used under LRU; under
    /// W-TinyLFU, the candidate or probation's oldest, whichever was asked for less.
    mutating func victim() -> Int32 {
        guard policy == .windowTinyLFU else { return lists[0].oldest }
        if sketch == nil || sketch!.width < count / 2 { sketch = FrequencySketch(expectedKeys: count) }
        // Full of bytes before it held `entryBound` entries (or without one): admission starts
        // here, after the write that overflowed was counted, so that one request goes uncounted.
        if !hasFilled { startAdmission() }
        let oldestInMain = lists[1].oldest >= 0 ? lists[1].oldest : lists[2].oldest
        guard oldestInMain >= 0 else { return lists[0].oldest }  // only the window holds entries
        guard candidate >= 0, candidate != oldestInMain else { return oldestInMain }
        let candidateFrequency = sketch!.frequency(Self.hash(nodes[Int(candidate)].key))
        let victimFrequency = sketch!.frequency(Self.hash(nodes[Int(oldestInMain)].key))
        if candidateFrequency > victimFrequency {
            candidate = -1  // admitted
            return oldestInMain
        }
        return candidate
    }

    /// The table is full, and admission starts deciding: the sketch forgets what it counted
    /// while the table filled. Those counts decided nothing (every key was admitted), and kept,
    /// they made the first decisions, halved only ten requests per entry later, on the fill's
    /// popularity: on the ARC paper's P3 trace at 131,072 pages the default policy hit 43.8% of
    /// requests with them and 45.9% without, above LRU's 44.8% (Caffeine, which starts its sketch
    /// at half full, 46.3%); see BenchmarkHistory.md, 2026-12-08. A table without an entry bound
    /// makes its sketch at its first eviction, so it starts there too.
    private mutating func startAdmission() {
        hasFilled = true
        sketch?.clear()
    }

    /// Inserts or replaces `key`, making it the most recently used.
    mutating func set(_ key: ByteKey, _ entry: MemoryEntry) {
        set(key, entry, hash: Self.hash(key))
    }

    /// `set`, given the key's hash: one hash per call, for a new key and a replaced one alike.
    mutating func set(_ key: ByteKey, _ entry: MemoryEntry, hash: UInt32) {
        if sketch != nil {
            if !hasFilled, let entryBound, count >= entryBound { startAdmission() }
            sketch!.increment(hash)  // a write counts a request, a read's miss among them
        }
        if let found = bucket(of: key, hash: hash) {
            let existing = Int32(truncatingIfNeeded: buckets[found] & 0xFFFF_FFFF) - 1
            replace(at: existing, with: entry)
            touch(existing)
            return
        }
        let slot = freeSlots.popLast() ?? Int32(nodes.count)
        insertSlot(slot, hash: hash)
        let node = Node(key: key, entry: entry, older: -1, newer: -1)
        if Int(slot) < nodes.count { nodes[Int(slot)] = node } else { nodes.append(node) }
        sortedKeys?.insert(key)
        byteCount += Self.cost(key, entry)
        if entry.expiresAt != MemoryEntry.never { expiringEntries += 1 }
        link(slot, as: .window)
        // W-TinyLFU: the window's overflow becomes the candidate for the main space. After the
        // window shrank, at most `entriesMovedPerOperation` go at a time.
        var moved = 0
        while policy == .windowTinyLFU, lists[0].count > windowShare, moved < Self.entriesMovedPerOperation {
            let leaving = lists[0].oldest
            unlink(leaving)
            link(leaving, as: .probation)
            candidate = leaving
            moved += 1
        }
    }

    /// Replaces the entry at `slot` without changing its recency.
    mutating func replace(at slot: Int32, with entry: MemoryEntry) {
        let old = nodes[Int(slot)].entry
        byteCount += entry.bytes.count - old.bytes.count
        expiringEntries += (entry.expiresAt != MemoryEntry.never ? 1 : 0) - (old.expiresAt != MemoryEntry.never ? 1 : 0)
        nodes[Int(slot)].entry = entry
    }

    /// Removes the node at `slot` and returns its entry.
    @discardableResult
    mutating func remove(at slot: Int32) -> MemoryEntry {
        unlink(slot)
        if slot == candidate { candidate = -1 }
        // Move the node out (no copy, no retain), leaving a placeholder in the slot.
        var node = Node(
            key: ByteKey(""), entry: MemoryEntry(bytes: [], value: nil, expiresAt: nil),
            older: -2, newer: -1)
        swap(&node, &nodes[Int(slot)])
        // The key is now in `node`, no longer in the slot: find its bucket by the slot.
        if let found = bucketHolding(slot, hash: Self.hash(node.key)) { removeBucket(found) }
        sortedKeys?.remove(node.key)
        byteCount -= Self.cost(node.key, node.entry)
        if node.entry.expiresAt != MemoryEntry.never { expiringEntries -= 1 }
        freeSlots.append(slot)
        return node.entry
    }

    /// The keys that start with `prefix`, in byte order: O(log n + matches) once the
    /// index exists (building it, on first use, is one sort of every key).
    mutating func keys(withPrefix prefix: String) -> [ByteKey] {
        if sortedKeys == nil {
            var built = SortedKeyIndex()
            built.build(from: nodes.lazy.filter(\.isOccupied).map(\.key).sorted())
            sortedKeys = built
        }
        return sortedKeys!.keys(withPrefix: prefix)
    }

    mutating func removeAll() {
        self = LRUTable(policy: policy, entryBound: entryBound)
    }

    /// Examines up to `budget` slots from where the last call stopped and removes the
    /// expired ones: amortised over writes, this returns every expired entry's memory
    /// without a background task. Returns how many it removed.
    mutating func sweepStep(nowMilliseconds now: @autoclosure () -> Int64, budget: Int) -> Int {
        guard !nodes.isEmpty, expiringEntries > 0 else { return 0 }
        let now = now()
        var removed = 0
        for _ in 0..<min(budget, nodes.count) {
            if sweepCursor >= nodes.count { sweepCursor = 0 }
            let slot = Int32(sweepCursor)
            sweepCursor += 1
            if nodes[Int(slot)].isOccupied && nodes[Int(slot)].entry.isExpired(nowMilliseconds: now) {
                remove(at: slot)
                removed += 1
            }
        }
        return removed
    }

    private mutating func unlink(_ slot: Int32) {
        if policy == .unordered { return }
        let list = Int(nodes[Int(slot)].segment.rawValue)
        let older = nodes[Int(slot)].older
        let newer = nodes[Int(slot)].newer
        if older >= 0 { nodes[Int(older)].newer = newer } else { lists[list].oldest = newer }
        if newer >= 0 { nodes[Int(newer)].older = older } else { lists[list].newest = older }
        nodes[Int(slot)].older = -1
        nodes[Int(slot)].newer = -1
        lists[list].count -= 1
    }

    private mutating func link(_ slot: Int32, as segment: Segment) {
        if policy == .unordered { return }
        let list = Int(segment.rawValue)
        let newest = lists[list].newest
        nodes[Int(slot)].segment = segment
        nodes[Int(slot)].older = newest
        nodes[Int(slot)].newer = -1
        if newest >= 0 { nodes[Int(newest)].newer = slot }
        lists[list].newest = slot
        if lists[list].oldest < 0 { lists[list].oldest = slot }
        lists[list].count += 1
    }
}
