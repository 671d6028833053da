/// Sizes W-TinyLFU's window (see ``LRUTable``): the share of the entries kept by recency alone
/// before admission by frequency.
///
/// **Steering by hit density.** At the end of each sample (at least the bound in requests and
/// `hitsPerSample` hits), the window moves towards the size where an entry of the window and
/// an entry of the main space earn as many hits: it grows where a window entry earns more,
/// shrinks where it earns fewer. The window earns its hits from recency (keys asked for again
/// soon after their first request), the main space from frequency. Both densities come from
/// the same sample, so a change of phase in the traffic, which moves both, does not move the
/// window. The step is proportional to the logarithm of the ratio of the densities, up to a
/// tenth of the bound, and the window stays between 1% and 80% of the bound.
///
/// This replaced hill climbing on the hit ratio of consecutive samples (Caffeine's first
/// climber), which on the ARC paper's P6 trace at 32,768 pages read the trace's swings between
/// 1% and 42% hits a sample as the window's doing and walked the window at random: 23.6% of
/// requests hit, where a fixed 1% window gives 29.1% (BenchmarkHistory.md).
///
/// **Probes where a part is blind.** A part that earns almost no hits has no density to
/// compare: a window too small to hold any returning key, or a main space that nothing reaches
/// because the window, grown large, keeps the hot keys itself. There the window is tried at
/// eight times, or an eighth of, its size for one sample (larger when the window is the blind
/// part), and kept if that sample earned a tenth more hits than the one before; otherwise it
/// goes back. Probes are eight samples apart at least.
struct WindowSizer {
    /// The window's size, in entries.
    private(set) var target: Int
    /// Whether a sample ended once: before that, a table without an entry bound keeps a window
    /// of 1% of its entries.
    private(set) var wasSized = false
    private var sample = Sample()
    private var probe = Probe()

    /// Hits a sample needs before it sizes the window: with fewer, the two densities are
    /// mostly noise (at 8,000 pages of the ARC paper's P3 and P6 traces, a sample of one bound
    /// in requests holds a few dozen hits). A sample ends anyway at ten bounds of requests.
    static let hitsPerSample = 400
    /// Samples between two probes, at least.
    static let samplesBetweenProbes = 8
    /// A part is blind when it earns less than this share of a sample's hits.
    static let blindShare = 0.02

    private struct Sample {
        var requests = 0
        var hits = 0
        var windowHits = 0
    }

    private struct Probe {
        var samplesUntilNext = WindowSizer.samplesBetweenProbes
        /// The window's size before the probe, while a probe runs.
        var windowBefore: Int?
        /// The hit ratio of the sample before the probe.
        var hitRatioBefore = 0.0
    }

    /// A window of 1% of `bound` (one entry without a bound, until the first sample ends).
    init(bound: Int?) {
        target = max(1, (bound ?? 0) / 100)
    }

    /// Counts a request: `nil` for a miss, otherwise whether it hit in the window. `bound` is
    /// the table's entry bound, or its count without one.
    @inline(__always)
    mutating func count(hit inWindow: Bool?, bound: Int) {
        sample.requests += 1
        if let inWindow {
            sample.hits += 1
            if inWindow { sample.windowHits += 1 }
        }
        let period = max(bound, 1_000)
        if sample.requests >= period, sample.hits >= Self.hitsPerSample || sample.requests >= 10 * period {
            endSample(bound: bound)
        }
    }

    private mutating func endSample(bound: Int) {
        let smallest = max(1, bound / 100)
        let largest = max(1, bound * 8 / 10)
        let ended = sample
        sample = Sample()
        wasSized = true
        let hitRatio = Double(ended.hits) / Double(ended.requests)
        if let windowBefore = probe.windowBefore {
            // The sample ran with the probe's window: kept if it earned a tenth more hits.
            probe.windowBefore = nil
            guard hitRatio > probe.hitRatioBefore * 1.1 + 0.005 else {
                target = windowBefore
                return
            }
        }
        let mainHits = ended.hits - ended.windowHits
        // Each count plus one, so that a part without hits still has a density.
        let windowDensity = Double(ended.windowHits + 1) / Double(max(1, target))
        let mainDensity = Double(mainHits + 1) / Double(max(1, bound - target))
        let imbalance = Self.naturalLogarithm(windowDensity / mainDensity)
        let step = Int(min(0.1, 0.03 * abs(imbalance)) * Double(bound))
        target = min(max(smallest, target + (imbalance < 0 ? -step : step)), largest)

        probe.samplesUntilNext -= 1
        let windowBlind = Double(ended.windowHits) < Self.blindShare * Double(ended.hits)
        let mainBlind = Double(mainHits) < Self.blindShare * Double(ended.hits)
        guard probe.samplesUntilNext <= 0, windowBlind || mainBlind else { return }
        let tried = windowBlind ? min(largest, target * 8) : max(smallest, target / 8)
        guard tried != target else { return }
        probe = Probe(windowBefore: target, hitRatioBefore: hitRatio)
        target = tried
    }

    /// ln(x) for x > 0, to about nine digits, without Foundation: x = m · 2^e with m in [1, 2),
    /// and ln(m) = 2 atanh((m − 1) / (m + 1)) from its series.
    static func naturalLogarithm(_ x: Double) -> Double {
        let t = (x.significand - 1) / (x.significand + 1)
        let t2 = t * t
        var term = t
        var sum = 0.0
        for odd in stride(from: 1.0, through: 15.0, by: 2.0) {
            sum += term / odd
            term *= t2
        }
        return 2 * sum + Double(x.exponent) * 0.693_147_180_559_945_3
    }
}
