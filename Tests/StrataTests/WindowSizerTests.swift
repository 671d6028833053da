import Testing

@testable import Strata

/// The sizer of W-TinyLFU's window, fed samples directly: a table of 1,000 entries, whose
/// samples are 1,000 requests once they hold 400 hits.
@Suite("W-TinyLFU's window sizer")
struct WindowSizerTests {
    /// Feeds one sample of 1,000 requests with the hits given, and ends it with the window and
    /// the main space at the sizes the table would have.
    private func sample(_ sizer: inout WindowSizer, windowHits: Int, mainHits: Int) {
        var ended = false
        for index in 0..<1_000 {
            let request: WindowSizer.Request = index < windowHits ? .windowHit : index < windowHits + mainHits ? .mainHit : .miss
            ended = sizer.count(request, bound: 1_000)
        }
        #expect(ended, "a sample of 1,000 requests with \(windowHits + mainHits) hits did not end")
        sizer.endSample(windowEntries: sizer.target, mainEntries: 1_000 - sizer.target, bound: 1_000)
    }

    @Test("a window whose entries earn more hits than the main space's grows, and shrinks when they earn fewer")
    func followsTheDensities() {
        var sizer = WindowSizer(bound: 1_000)
        #expect(sizer.target == 10)
        sample(&sizer, windowHits: 200, mainHits: 200)
        let grown = sizer.target
        #expect(grown > 10 && grown <= 110, "a step is at most a tenth of the bound: \(grown)")
        for _ in 0..<5 { sample(&sizer, windowHits: 20, mainHits: 500) }
        #expect(sizer.target < grown)
        #expect(!sizer.isProbing)
    }

    @Test("a sample without hits moves nothing, and probes nothing")
    func noHitsNoMove() {
        var sizer = WindowSizer(bound: 1_000)
        for _ in 0..<40 {
            var ended = false
            while !ended { ended = sizer.count(.miss, bound: 1_000) }
            sizer.endSample(windowEntries: sizer.target, mainEntries: 1_000 - sizer.target, bound: 1_000)
            #expect(sizer.target == 10 && !sizer.isProbing)
        }
    }

    @Test("a blind window is tried at eight times its size after eight samples, and put back when that earns no more")
    func probeRejected() {
        var sizer = WindowSizer(bound: 1_000)
        for _ in 0..<7 {
            sample(&sizer, windowHits: 0, mainHits: 400)
            #expect(sizer.target == 10 && !sizer.isProbing)
        }
        sample(&sizer, windowHits: 0, mainHits: 400)
        #expect(sizer.isProbing && sizer.target == 80)
        // The probe's sample earns as many hits: back to 10, and no probe for eight samples.
        sample(&sizer, windowHits: 4, mainHits: 400)
        #expect(!sizer.isProbing && sizer.target == 10)
        for _ in 0..<7 {
            sample(&sizer, windowHits: 0, mainHits: 400)
            #expect(!sizer.isProbing)
        }
    }

    /// Kept when the probe's sample removed a tenth of the misses of the one before (and half a
    /// point of hit ratio at least): at 40% hits, and at 95%, where a tenth more hits is more
    /// than all of them.
    @Test(
        "a probe whose sample removes a tenth of the misses is kept, at 40% hits and at 95%",
        arguments: [(hitsBefore: 400, probeWindowHits: 300, probeMainHits: 400), (950, 200, 760)])
    func probeKept(hitsBefore: Int, probeWindowHits: Int, probeMainHits: Int) {
        var sizer = WindowSizer(bound: 1_000)
        for _ in 0..<8 { sample(&sizer, windowHits: 0, mainHits: hitsBefore) }
        #expect(sizer.isProbing && sizer.target == 80)
        sample(&sizer, windowHits: probeWindowHits, mainHits: probeMainHits)
        #expect(!sizer.isProbing && sizer.target >= 80)
    }

    @Test("a blind main space is tried at an eighth of the window")
    func probeDownward() {
        var sizer = WindowSizer(bound: 1_000)
        // Window hits far denser than the main space's: the window grows to its largest.
        for _ in 0..<20 where sizer.target < 800 { sample(&sizer, windowHits: 400, mainHits: 0) }
        #expect(sizer.target == 800)
        var probed = false
        for _ in 0..<8 where !probed {
            sample(&sizer, windowHits: 400, mainHits: 0)
            probed = sizer.isProbing
        }
        #expect(probed && sizer.target == 100)
    }

    @Test("a table without an entry bound starts from the window it kept")
    func unboundedStartsFromItsWindow() {
        var sizer = WindowSizer(bound: nil)
        #expect(sizer.target == 1 && !sizer.wasSized)
        var ended = false
        while !ended { ended = sizer.count(.miss, bound: 5_000) }
        sizer.endSample(windowEntries: 300, mainEntries: 4_700, bound: 5_000)
        #expect(sizer.wasSized && sizer.target == 300)
    }

    @Test("a sample needs 400 hits to end at its period, and a blind part is judged on 50 hits at least")
    func fewHits() {
        var sizer = WindowSizer(bound: 1_000)
        for index in 0..<1_000 {
            let ended = sizer.count(index < 399 ? .mainHit : .miss, bound: 1_000)
            #expect(!ended, "a sample of 399 hits ended at request \(index + 1)")
        }
        let endedAtTheFourHundredthHit = sizer.count(.mainHit, bound: 1_000)
        #expect(endedAtTheFourHundredthHit, "the 400th hit, past the period, ends the sample")
        sizer.endSample(windowEntries: 10, mainEntries: 990, bound: 1_000)
        // Samples ended by their length (10,000 requests) with 40 hits, none in the window:
        // too few to call the window blind, so no probe.
        for _ in 0..<12 {
            var requests = 0
            var ended = false
            while !ended {
                ended = sizer.count(requests < 40 ? .mainHit : .miss, bound: 1_000)
                requests += 1
            }
            #expect(requests == 10_000)
            sizer.endSample(windowEntries: sizer.target, mainEntries: 1_000 - sizer.target, bound: 1_000)
            #expect(!sizer.isProbing)
        }
    }

    @Test("a window at its floor that earns its share of the hits is not probed")
    func floorWindowEarningItsShareIsNotProbed() {
        // The window holds 1% of the entries and earns 1% of the hits (Zipf traffic at the
        // floor): not blind, so sixteen samples bring no probe. (Judged against a fixed 2% of
        // the hits, it was probed every ninth sample.)
        var sizer = WindowSizer(bound: 1_000)
        for _ in 0..<16 {
            sample(&sizer, windowHits: 4, mainHits: 396)
            #expect(!sizer.isProbing && sizer.target == 10)
        }
    }
}
