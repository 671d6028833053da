/// How often keys were asked for, approximately, in little memory: a count-min sketch of
/// 4-bit counters (four rows, one counter per row per key hash), halved every
/// `10 × width` increments so that old popularity fades (TinyLFU's "reset"). A key's
/// estimate is the least of its four counters, so it is never below the truth and rarely
/// far above it.
struct FrequencySketch {
    /// Counters, one byte each (values 0 to 15), four rows of `width`.
    private var counters: [UInt8]
    private(set) var width: Int
    private var increments = 0

    /// A sketch for about `expectedKeys` keys (at least 64).
    init(expectedKeys: Int) {
        var width = 64
        while width < expectedKeys { width <<= 1 }
        self.width = width
        counters = [UInt8](repeating: 0, count: 4 * width)
    }

    @inline(__always)
    private func index(_ hash: UInt32, row: Int) -> Int {
        // A different odd multiplier per row spreads one 32-bit hash into four positions.
        var mixed = UInt64(hash) &* (0x9E37_79B9_7F4A_7C15 &+ UInt64(row) &* 0x6A09_E667_F3BC_C908)
        mixed ^= mixed >> 29
        return row * width + Int(truncatingIfNeeded: mixed) & (width - 1)
    }

    /// Counts one request for the key with `hash`.
    mutating func increment(_ hash: UInt32) {
        for row in 0..<4 {
            let position = index(hash, row: row)
            if counters[position] < 15 { counters[position] += 1 }
        }
        increments += 1
        if increments >= 10 * width { age() }
    }

    /// The estimated number of recent requests for the key with `hash`.
    func frequency(_ hash: UInt32) -> Int {
        var least = 15
        for row in 0..<4 { least = min(least, Int(counters[index(hash, row: row)])) }
        return least
    }

    /// Halves every counter: popularity from long ago counts half as much.
    private mutating func age() {
        for position in counters.indices { counters[position] >>= 1 }
        increments /= 2
    }
}
