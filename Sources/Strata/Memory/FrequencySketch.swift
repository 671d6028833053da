/// How often keys were asked for, approximately, in little memory: a count-min sketch of
/// 4-bit counters, halved every `10 × expectedKeys` increments so that old popularity
/// fades (TinyLFU's "reset"). A key's estimate is the least of its four counters, so it is
/// never below the truth (up to 15) and rarely far above it.
///
/// A key's four counters sit in one block of eight consecutive words (64 bytes: one cache
/// line, or two, as the array's storage is not aligned to 64), chosen by the hash, each
/// counter in a word of its own: counting a request touches one block, not four places in
/// memory (with four separate rows a hit over 100,000 entries cost 1.26x an LRU hit, from
/// the sketch's cache misses). The counters were first all in one word, which made two
/// keys of the same word share counters so often that the estimates inflated (see the
/// overestimate test). With this layout, and a read counting only a hit (see
/// `LRUTable.slotCountingRequest`), the default policy on the ARC paper's P6 trace at
/// 32,768 pages went from 21.5% of requests to 24.8% (BenchmarkHistory.md).
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

    /// The words of `hash`'s four counters and each counter's bit offset in its word: the
    /// hash, mixed, picks the block and, a byte per counter, the word of the pair and the
    /// counter in it.
    @inline(__always)
    private func place(_ hash: UInt32) -> (words: (Int, Int, Int, Int), shifts: (UInt64, UInt64, UInt64, UInt64)) {
        var mixed = UInt64(hash) &* 0x9E37_79B9_7F4A_7C15
        mixed ^= mixed >> 29
        mixed = mixed &* 0xBF58_476D_1CE4_E5B9
        mixed ^= mixed >> 32
        let block = Int(truncatingIfNeeded: mixed) & (width - 1) & ~7
        let high = mixed >> 32
        @inline(__always) func counter(_ index: UInt64) -> (word: Int, shift: UInt64) {
            let bits = (high >> (index << 3)) & 0xFF
            return (block + Int(index << 1) + Int(bits & 1), ((bits >> 1) & 15) << 2)
        }
        let (first, second, third, fourth) = (counter(0), counter(1), counter(2), counter(3))
        return ((first.word, second.word, third.word, fourth.word), (first.shift, second.shift, third.shift, fourth.shift))
    }

    /// Counts one request for the key with `hash`.
    mutating func increment(_ hash: UInt32) {
        let (indexes, shifts) = place(hash)
        for (index, shift) in [(indexes.0, shifts.0), (indexes.1, shifts.1), (indexes.2, shifts.2), (indexes.3, shifts.3)]
        where (words[index] >> shift) & 15 < 15 {
            words[index] += 1 << shift
        }
        increments += 1
        if increments >= samplePeriod { age() }
    }

    /// The estimated number of recent requests for the key with `hash`.
    func frequency(_ hash: UInt32) -> Int {
        let (indexes, shifts) = place(hash)
        let first: UInt64 = min((words[indexes.0] >> shifts.0) & 15, (words[indexes.1] >> shifts.1) & 15)
        let second: UInt64 = min((words[indexes.2] >> shifts.2) & 15, (words[indexes.3] >> shifts.3) & 15)
        return Int(min(first, second))
    }

    /// Sets every counter to zero and starts a new period: what was counted is forgotten.
    mutating func clear() {
        for index in words.indices { words[index] = 0 }
        increments = 0
    }

    /// Halves every counter: popularity from long ago counts half as much.
    private mutating func age() {
        for index in words.indices { words[index] = (words[index] >> 1) & 0x7777_7777_7777_7777 }
        increments /= 2
    }
}
