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

    @Test("a probe whose sample earns a tenth more hits is kept")
    func probeKept() {
        var sizer = WindowSizer(bound: 1_000)
        for _ in 0..<8 { sample(&sizer, windowHits: 0, mainHits: 400) }
        #expect(sizer.isProbing && sizer.target == 80)
        sample(&sizer, windowHits: 300, mainHits: 400)
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

    @Test("a table without an entry bound starts from the window it kept, 1% of its count")
    func unboundedStartsFromItsWindow() {
        var sizer = WindowSizer(bound: nil)
        #expect(sizer.target == 1 && !sizer.wasSized)
        var ended = false
        while !ended { ended = sizer.count(.miss, bound: 5_000) }
        sizer.endSample(windowEntries: 50, mainEntries: 4_950, bound: 5_000)
        #expect(sizer.wasSized && sizer.target == 50)
    }
}
