/// How often keys were asked for, approximately, in little memory: a count-min sketch of
/// 4-bit counters, halved every `10 × expectedKeys` increments so that old popularity
/// fades (TinyLFU's "reset"). A key's estimate is the least of its four counters, so it is
/// never below the truth (up to 15) and rarely far above it.
///
/// A key's four counters sit in one 64-bit word (sixteen 4-bit counters, four chosen by
/// the hash), so counting a request touches one cache line, not four: with four separate
/// rows a hit over 100,000 entries cost 1.26x an LRU hit, from the sketch's cache misses.
struct FrequencySketch {
    private var words: [UInt64]
    /// The number of words: a power of two, at least the expected number of keys.
    private(set) var width: Int
    private var increments = 0
    /// Increments between two halvings: ten per key the sketch is sized for.
    private let samplePeriod: Int

    /// A sketch for about `expectedKeys` keys (at least 64).
    init(expectedKeys: Int) {
        var width = 64
        while width < expectedKeys { width <<= 1 }
        self.width = width
        samplePeriod = 10 * max(expectedKeys, 64)
        words = [UInt64](repeating: 0, count: width)
    }

    /// The word of `hash`, and the bit offsets of its four counters in it.
    @inline(__always)
    private func place(_ hash: UInt32) -> (word: Int, shifts: (UInt64, UInt64, UInt64, UInt64)) {
        var mixed = UInt64(hash) &* 0x9E37_79B9_7F4A_7C15
        mixed ^= mixed >> 29
        let word = Int(truncatingIfNeeded: mixed) & (width - 1)
        let high = mixed >> 40
        return (word, ((high & 15) << 2, ((high >> 4) & 15) << 2, ((high >> 8) & 15) << 2, ((high >> 12) & 15) << 2))
    }

    /// Counts one request for the key with `hash`.
    mutating func increment(_ hash: UInt32) {
        let (index, shifts) = place(hash)
        var word = words[index]
        for shift in [shifts.0, shifts.1, shifts.2, shifts.3] where (word >> shift) & 15 < 15 {
            word += 1 << shift
        }
        words[index] = word
        increments += 1
        if increments >= samplePeriod { age() }
    }

    /// The estimated number of recent requests for the key with `hash`.
    func frequency(_ hash: UInt32) -> Int {
        let (index, shifts) = place(hash)
        let word = words[index]
        return Int(min(min((word >> shifts.0) & 15, (word >> shifts.1) & 15), min((word >> shifts.2) & 15, (word >> shifts.3) & 15)))
    }

    /// Halves every counter: popularity from long ago counts half as much.
    private mutating func age() {
        for index in words.indices { words[index] = (words[index] >> 1) & 0x7777_7777_7777_7777 }
        increments /= 2
    }
}
