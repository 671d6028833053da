#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Sizes W-TinyLFU's window (see ``LRUTable``): the share of the entries kept by recency alone
/// before admission by frequency.
///
/// **Steering by hit density.** A sample is at least `max(bound, 1,000)` requests and ends once
/// it holds `hitsPerSample` hits (or at ten times that many requests). At its end the window
/// moves towards the size where an entry of the window and an entry of the main space earn as
/// many hits: it grows where a window entry earns more, shrinks where it earns fewer. The window
/// earns its hits from recency (keys asked for again soon after their first request), the main
/// space from frequency. Both densities come from the same sample, so a change of phase that
/// moves both does not move the window, and a sample without hits leaves it where it is. The
/// step is `stepPerUnitOfImbalance` of the bound per unit of the logarithm of the ratio of the
/// densities, at most `largestStep` of the bound; the window stays between 1% of the bound
/// (one entry at least) and 80%.
///
/// This replaced hill climbing on the hit ratio of consecutive samples (Caffeine's first
/// climber), which on the ARC paper's P6 trace at 32,768 pages read the trace's swings between
/// 1% and 42% hits a sample as the window's doing and walked the window at random: 23.6% of
/// requests hit, where a fixed 1% window gives 29.1% (BenchmarkHistory.md).
///
/// **Probes where a part is blind.** A part that earns almost no hits (under a quarter of what
/// its share of the entries would earn, in a sample of `hitsToJudgeBlindness` hits at least)
/// has no density to compare: a window too small to hold any returning key, or a main space
/// that nothing reaches because the window, grown large, keeps the hot keys itself. There the
/// window is tried at eight times its size (the window blind) or an eighth (the main space
/// blind) for one sample, and kept if that sample removed a tenth of the misses of the one
/// before, and half a point of hit ratio at least; otherwise it goes back.
/// Consecutive samples are what the steering stopped comparing, as a phase of the traffic moves
/// them too: probes are for the blind corners only, `samplesBetweenProbes` apart at least, and a
/// probe kept by a phase is steered back by the densities.
struct WindowSizer {
    /// A request, as the sizer counts it.
    enum Request {
        case miss
        case windowHit
        case mainHit
    }

    /// The window's size, in entries.
    private(set) var target: Int
    /// Whether a sample ended once: before that, a table without an entry bound keeps a window
    /// of 1% of its entries.
    private(set) var wasSized = false
    /// The counts of the sample running.
    private var sample = Sample()
    /// Every request counted since the table was made: one per lookup of a key, which a
    /// test checks (a request counted twice skews the sampled hit ratio the window is sized by).
    private(set) var requestsCounted = 0
    /// The probe running or the wait for the next.
    private var probe = Probe()

    /// Hits a sample needs before it sizes the window: with fewer, the two densities are
    /// mostly noise (on the ARC paper's P3 and P6 traces at 8,000 pages in four shards, a
    /// sample of one shard's bound in requests holds 70 to 100 hits).
    static let hitsPerSample = 400
    /// Hits a sample needs before a part of it can be judged blind.
    static let hitsToJudgeBlindness = 50
    /// A part is blind when it earns less than this share of the hits its share of the entries
    /// would earn at the other part's density.
    static let blindness = 0.25
    /// Samples between two probes, at least.
    static let samplesBetweenProbes = 8
    /// How much larger (or smaller) a probe tries the window.
    static let probeFactor = 8
    /// The step, as a share of the bound, per unit of the natural logarithm of the ratio of the
    /// two densities.
    static let stepPerUnitOfImbalance = 0.03
    /// The largest step, as a share of the bound.
    static let largestStep = 0.1

    /// A sample's counts.
    private struct Sample {
        var requests = 0
        var hits = 0
        var windowHits = 0
    }

    /// A probe: the window tried at another size for one sample.
    private struct Probe {
        /// Samples to wait before the next probe.
        var samplesUntilNext = WindowSizer.samplesBetweenProbes
        /// The window's size before the probe, while a probe runs.
        var windowBefore: Int?
        /// The hit ratio of the sample before the probe.
        var hitRatioBefore = 0.0
    }

    /// Whether the table has an entry bound: without one, the table keeps a window of 1% of its
    /// count until the first sample ends, which then starts from that.
    private let hasBound: Bool

    /// A window of 1% of `bound` (of the table's count, for a table without an entry bound).
    init(bound: Int?) {
        target = max(1, (bound ?? 0) / 100)
        hasBound = bound != nil
    }

    /// Counts a request; returns whether the sample has ended, when the caller ends it with
    /// `endSample`. `bound` is the table's entry bound, or its count without one.
    @inline(__always)
    mutating func count(_ request: Request, bound: Int) -> Bool {
        requestsCounted &+= 1
        sample.requests += 1
        switch request {
        case .miss: break
        case .windowHit:
            sample.hits += 1
            sample.windowHits += 1
        case .mainHit: sample.hits += 1
        }
        let period = max(bound, 1_000)
        return sample.requests >= period && (sample.hits >= Self.hitsPerSample || sample.requests >= 10 * period)
    }

    /// Ends the sample and sizes the window, given how many entries each part holds now.
    mutating func endSample(windowEntries: Int, mainEntries: Int, bound: Int) {
        let smallest = max(1, bound / 100)
        let largest = max(smallest, bound * 8 / 10)
        let ended = sample
        sample = Sample()
        if !wasSized && !hasBound { target = min(max(smallest, windowEntries), largest) }
        wasSized = true
        let hitRatio = Double(ended.hits) / Double(ended.requests)
        if let windowBefore = probe.windowBefore {
            probe.windowBefore = nil
            // Kept if it removed a tenth of the misses, and half a point at least: judged on the
            // misses, so that a probe can be kept at a hit ratio of 95% too.
            guard hitRatio > probe.hitRatioBefore + max(0.005, 0.1 * (1 - probe.hitRatioBefore)) else {
                target = min(max(smallest, windowBefore), largest)
                return
            }
        }
        // The densities, each with a prior of one hit shared in proportion to the entries: a
        // part without hits still has a density, and a sample without hits moves nothing.
        let window = Double(max(1, windowEntries))
        let main = Double(max(1, mainEntries))
        let windowDensity = (Double(ended.windowHits) + window / (window + main)) / window
        let mainDensity = (Double(ended.hits - ended.windowHits) + main / (window + main)) / main
        let imbalance = log(windowDensity / mainDensity)
        let step = Int((min(Self.largestStep, Self.stepPerUnitOfImbalance * abs(imbalance)) * Double(bound)).rounded())
        target = min(max(smallest, target + (imbalance < 0 ? -step : step)), largest)

        probe.samplesUntilNext -= 1
        guard probe.samplesUntilNext <= 0, ended.hits >= Self.hitsToJudgeBlindness else { return }
        // Blind: earning under a quarter of the hits the part's share of the entries would
        // earn at the same density (at the 1% floor, a window under 0.25% of the hits).
        let windowShareOfEntries = window / (window + main)
        let windowBlind = Double(ended.windowHits) < Self.blindness * windowShareOfEntries * Double(ended.hits)
        let mainBlind = Double(ended.hits - ended.windowHits) < Self.blindness * (1 - windowShareOfEntries) * Double(ended.hits)
        guard windowBlind || mainBlind else { return }
        let tried = windowBlind ? min(largest, target * Self.probeFactor) : max(smallest, target / Self.probeFactor)
        guard tried != target else { return }
        probe = Probe(windowBefore: target, hitRatioBefore: hitRatio)
        target = tried
    }

    /// Whether the window now is a probe's, not the densities'.
    var isProbing: Bool { probe.windowBefore != nil }
}
