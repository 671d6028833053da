/// The table's index from keys to slots (open addressing with linear probing, no
/// tombstones), and reads of slots and entries that need no list.
extension LRUTable {
    /// The bucket holding `key`, if it is in the table.
    @inline(__always)
    func bucket(of key: ByteKey, hash: UInt32) -> Int? {
        guard !buckets.isEmpty else { return nil }
        let mask = buckets.count - 1
        var index = Int(hash) & mask
        while true {
            let packed = buckets[index]
            if packed == 0 { return nil }
            if UInt32(truncatingIfNeeded: packed >> 32) == hash,
                nodes[Int(packed & 0xFFFF_FFFF) - 1].key == key
            {
                return index
            }
            index = (index + 1) & mask
        }
    }

    /// Records `slot` for a key known to be absent.
    mutating func insertSlot(_ slot: Int32, hash: UInt32) {
        if (count + 1) * 4 > buckets.count * 3 { grow() }
        let mask = buckets.count - 1
        var index = Int(hash) & mask
        while buckets[index] != 0 { index = (index + 1) & mask }
        buckets[index] = UInt64(hash) << 32 | UInt64(slot + 1)
        count += 1
    }

    mutating func grow() {
        let old = buckets
        buckets = [UInt64](repeating: 0, count: max(16, old.count * 2))
        let mask = buckets.count - 1
        for packed in old where packed != 0 {
            var index = Int(UInt32(truncatingIfNeeded: packed >> 32)) & mask
            while buckets[index] != 0 { index = (index + 1) & mask }
            buckets[index] = packed
        }
    }

    /// Empties `index` and shifts later entries of its probe run back (no tombstones,
    /// so lookups never slow down after many removals).
    mutating func removeBucket(_ index: Int) {
        let mask = buckets.count - 1
        var hole = index
        var next = index
        buckets[hole] = 0
        while true {
            next = (next + 1) & mask
            let packed = buckets[next]
            if packed == 0 { break }
            let home = Int(UInt32(truncatingIfNeeded: packed >> 32)) & mask
            // Move it into the hole unless its home lies cyclically in (hole, next].
            let stays = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next)
            if !stays {
                buckets[hole] = packed
                buckets[next] = 0
                hole = next
            }
        }
        count -= 1
    }

    /// The bucket that points at `slot` (the slot's key has already been moved out).
    func bucketHolding(_ slot: Int32, hash: UInt32) -> Int? {
        guard !buckets.isEmpty else { return nil }
        let mask = buckets.count - 1
        var index = Int(hash) & mask
        let wanted = UInt64(hash) << 32 | UInt64(slot + 1)
        while buckets[index] != 0 {
            if buckets[index] == wanted { return index }
            index = (index + 1) & mask
        }
        return nil
    }

    /// The occupied slots, in no particular order.
    func occupiedSlots() -> [Int32] {
        buckets.compactMap { $0 == 0 ? nil : Int32(truncatingIfNeeded: $0 & 0xFFFF_FFFF) - 1 }
    }

    /// The entry at `slot`, without its bytes when it holds a Swift value (see
    /// `MemoryStore.lookUp(_:now:bytesBesideValue:)`).
    @inline(__always)
    func entryPreferringValue(at slot: Int32) -> MemoryEntry {
        guard let value = nodes[Int(slot)].entry.value else { return nodes[Int(slot)].entry }
        return MemoryEntry(
            value: value, expiresAt: nodes[Int(slot)].entry.expiresAt,
            reportedExpiresAt: nodes[Int(slot)].entry.reportedExpiresAt)
    }
}
