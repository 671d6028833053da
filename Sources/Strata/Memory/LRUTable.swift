/// A Swift value kept beside its bytes. A class, so that reading it back as its own type
/// is a class check rather than a cast out of an existential, and an entry holds one
/// reference instead of an existential container.
@usableFromInline
protocol KeptValue: AnyObject, Sendable {}

@usableFromInline
final class Kept<Value: Sendable>: KeptValue {
    @usableFromInline
    let value: Value
    init(_ value: Value) { self.value = value }

    /// `value` boxed, or `nil` for the raw types, which decode from their bytes at no cost
    /// (keeping them twice would double their memory).
    static func wrap(_ value: Value) -> (any KeptValue)? {
        ValueCoding.isRaw(Value.self) ? nil : Kept(value)
    }

    /// The kept value if it is a `Value`.
    @inlinable
    static func read(_ kept: (any KeptValue)?) -> Value? {
        guard let kept, type(of: kept) == Kept<Value>.self else { return nil }
        return unsafeDowncast(kept, to: Kept<Value>.self).value
    }
}

/// A memory entry: the encoded bytes (for byte reads and size accounting), the Swift
/// value it was written from (so a typed hit does not decode again), and its expiry.
@usableFromInline
struct MemoryEntry: Sendable {
    @usableFromInline
    var bytes: [UInt8]
    @usableFromInline
    var value: (any KeptValue)?
    /// When this copy stops being served, in milliseconds since 1970; `Int64.max` never.
    var expiresAt: Int64
    /// When the entry itself expires, as reported to readers. The same as `expiresAt`,
    /// except in a tiered store's L1, whose copy may be kept for less (`l1Expiry`) than
    /// the entry lives in L2.
    var reportedExpiresAt: Int64

    static let never = Int64.max

    init(bytes: [UInt8], value: (any KeptValue)?, expiresAt: Timestamp?, keptUntil: Timestamp? = nil) {
        self.bytes = bytes
        self.value = value
        self.reportedExpiresAt = expiresAt?.millisecondsSince1970 ?? Self.never
        self.expiresAt = min(self.reportedExpiresAt, keptUntil?.millisecondsSince1970 ?? Self.never)
    }

    @inline(__always)
    func isExpired(nowMilliseconds now: Int64) -> Bool { expiresAt <= now }

    var expiresAtTimestamp: Timestamp? {
        reportedExpiresAt == Self.never ? nil : Timestamp(millisecondsSince1970: reportedExpiresAt)
    }
}

/// An exact least-recently-used table with O(1) lookup, insert, touch and removal.
///
/// Nodes live in one array and link to each other by index, so an entry costs no
/// allocation of its own beyond its key and value; freed slots are reused.
struct LRUTable {
    struct Node {
        var key: ByteKey
        var entry: MemoryEntry
        /// The next older node (towards eviction), or -1.
        var older: Int32
        /// The next newer node, or -1.
        var newer: Int32
        var isOccupied: Bool
    }

    private(set) var nodes: ContiguousArray<Node> = []
    private var freeSlots: [Int32] = []
    private(set) var index: [ByteKey: Int32] = [:]
    /// The same keys in byte order, for prefix operations: built on the first prefix
    /// operation and maintained from then on, so a store that never asks for a prefix
    /// never pays for it.
    private var sortedKeys: SortedKeyIndex?
    private var newest: Int32 = -1
    private(set) var oldest: Int32 = -1
    /// Keys' and values' bytes, as counted against `maxBytes`.
    private(set) var byteCount = 0
    /// Entries with a lifetime: while there are none, writes skip the sweep.
    private(set) var expiringEntries = 0
    private var sweepCursor = 0

    var count: Int { index.count }

    static func cost(_ key: ByteKey, _ entry: MemoryEntry) -> Int {
        key.string.utf8.count + entry.bytes.count
    }

    @inline(__always)
    func slot(of key: ByteKey) -> Int32? { index[key] }

    @inline(__always)
    func entry(at slot: Int32) -> MemoryEntry { nodes[Int(slot)].entry }

    func key(at slot: Int32) -> ByteKey { nodes[Int(slot)].key }

    /// Makes `slot` the most recently used.
    mutating func touch(_ slot: Int32) {
        guard slot != newest else { return }
        unlink(slot)
        linkAsNewest(slot)
    }

    /// Inserts or replaces `key`, making it the most recently used.
    mutating func set(_ key: ByteKey, _ entry: MemoryEntry) {
        // One hash for a new key: claim a slot and insert; only a replaced key costs a second.
        let slot = freeSlots.last ?? Int32(nodes.count)
        if let existing = index.updateValue(slot, forKey: key) {
            index[key] = existing
            replace(at: existing, with: entry)
            touch(existing)
            return
        }
        if freeSlots.last == slot { freeSlots.removeLast() }
        let node = Node(key: key, entry: entry, older: -1, newer: -1, isOccupied: true)
        if Int(slot) < nodes.count { nodes[Int(slot)] = node } else { nodes.append(node) }
        sortedKeys?.insert(key)
        byteCount += Self.cost(key, entry)
        if entry.expiresAt != MemoryEntry.never { expiringEntries += 1 }
        linkAsNewest(slot)
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
        // Move the node out (no copy, no retain), leaving a placeholder in the slot.
        var node = Node(
            key: ByteKey(""), entry: MemoryEntry(bytes: [], value: nil, expiresAt: nil),
            older: -1, newer: -1, isOccupied: false)
        swap(&node, &nodes[Int(slot)])
        index.removeValue(forKey: node.key)
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
            built.build(from: index.keys.sorted())
            sortedKeys = built
        }
        return sortedKeys!.keys(withPrefix: prefix)
    }

    mutating func removeAll() {
        self = LRUTable()
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

    /// The occupied slots, in no particular order.
    func occupiedSlots() -> [Int32] {
        Array(index.values)
    }

    private mutating func unlink(_ slot: Int32) {
        let older = nodes[Int(slot)].older
        let newer = nodes[Int(slot)].newer
        if older >= 0 { nodes[Int(older)].newer = newer } else { oldest = newer }
        if newer >= 0 { nodes[Int(newer)].older = older } else { newest = older }
        nodes[Int(slot)].older = -1
        nodes[Int(slot)].newer = -1
    }

    private mutating func linkAsNewest(_ slot: Int32) {
        nodes[Int(slot)].older = newest
        nodes[Int(slot)].newer = -1
        if newest >= 0 { nodes[Int(newest)].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }
}
