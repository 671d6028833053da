import Testing

@testable import Strata

/// The write tracker's rule for keeping a write's L1 copy (R4), call by call.
@Suite("WriteTracker")
struct WriteTrackerTests {
    /// Whether finishing `ticket` keeps its copy.
    static func keeps(_ tracker: WriteTracker, _ ticket: WriteTracker.Ticket) -> Bool {
        var kept = false
        tracker.finishWrite(ticket, keep: { kept = true }, drop: {})
        return kept
    }

    /// Two distinct keys on one stripe.
    static func keysSharingAStripe() -> (ByteKey, ByteKey) {
        var seen: [Int: ByteKey] = [:]
        for index in 0... {
            let key = ByteKey("k\(index)")
            let stripe = WriteTracker.stripe(ofHash: key.hashValue)
            if let other = seen[stripe] { return (other, key) }
            seen[stripe] = key
        }
        fatalError("unreachable")
    }

    @Test("a write alone keeps its copy; of two overlapping writes of a key, neither does, whichever finishes first")
    func overlappingWrites() {
        let tracker = WriteTracker()
        let key = ByteKey("k")
        #expect(Self.keeps(tracker, tracker.beginWrite(key)), "a write that overlapped nothing")
        let earlier = tracker.beginWrite(key)
        let later = tracker.beginWrite(key)
        #expect(!Self.keeps(tracker, earlier), "the earlier finishes first: the later is in flight")
        #expect(!Self.keeps(tracker, later), "the later was begun while the earlier was in flight: it may have landed first")
        let first = tracker.beginWrite(key)
        let second = tracker.beginWrite(key)
        #expect(!Self.keeps(tracker, second))
        #expect(!Self.keeps(tracker, first), "a later write began while it was in flight")
        #expect(Self.keeps(tracker, tracker.beginWrite(key)), "once both ended, a write alone keeps its copy again")
    }

    @Test("a write that overlapped a prefix write keeps no copy, whichever finished first")
    func overlappingPrefixWrite() {
        let tracker = WriteTracker()
        tracker.beginPrefixWrite()
        let write = tracker.beginWrite(ByteKey("k"))
        tracker.finishPrefixWrite {}
        #expect(!Self.keeps(tracker, write), "the prefix write, in flight when it began, may have landed after it")
        let alone = tracker.beginWrite(ByteKey("k"))
        tracker.beginPrefixWrite()
        tracker.finishPrefixWrite {}
        #expect(!Self.keeps(tracker, alone), "a prefix write began while it was in flight")
    }

    @Test(
        "two keys of one batch on one stripe: the last to finish keeps its copy; a batch begun while a write of the stripe was in flight keeps none"
    )
    func batchSharingAStripe() {
        let tracker = WriteTracker()
        let (first, second) = Self.keysSharingAStripe()
        var tickets = tracker.beginWrites([first, second])
        #expect(!Self.keeps(tracker, tickets[0]), "the other key of the stripe is still in flight")
        #expect(Self.keeps(tracker, tickets[1]), "no change of the stripe was in flight before the batch, none began since")
        let outside = tracker.beginWrite(first)
        tickets = tracker.beginWrites([first, second])
        #expect(!Self.keeps(tracker, outside))
        #expect(!Self.keeps(tracker, tickets[0]))
        #expect(!Self.keeps(tracker, tickets[1]), "a write of the stripe was in flight when the batch began")
    }
}
