import Foundation
import StrataTestSupport
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// The rules of Docs/Consistency.md that need more than one store shape's conformance
/// checks: faults, timeouts, clocks and wrappers. Interleavings are forced with gates.
@Suite("Consistency rules")
struct ConsistencyRuleTests {
    /// Two tiered instances over one memory L2 (as two processes over one Redis would be),
    /// L2 reached by the first through a fault injector.
    struct TwoInstances {
        let clock = ManualClock()
        let shared: MemoryStore
        let faulty: FaultInjectingStore
        let first: TieredStore
        let second: TieredStore

        init(l2Timeout: Duration? = .seconds(2), secondClockOffset: Duration = .zero, skewTolerance: Duration = .zero) {
            shared = MemoryStore(configuration: .init(clock: clock))
            faulty = FaultInjectingStore(wrapping: shared)
            var configuration = TieredStore.Configuration(l2Timeout: l2Timeout)
            configuration.clockSkewTolerance = skewTolerance
            first = TieredStore(l1: MemoryStore(configuration: .init(clock: clock)), l2: faulty, configuration: configuration)
            let secondClock = OffsetClock(base: clock, offset: secondClockOffset)
            let secondL2 = ClockedView(base: shared, clock: secondClock)
            second = TieredStore(l1: MemoryStore(configuration: .init(clock: secondClock)), l2: secondL2, configuration: configuration)
        }
    }

    @Test("C5: a computed write past l2Timeout is owned: it never lands over a newer write, and L1 and L2 agree once it answers")
    func latePastTimeout() async throws {
        let fixture = TwoInstances(l2Timeout: .milliseconds(50))
        fixture.faulty.inject(.pause, into: .writes)
        let value = try await fixture.first.getOrSet("k", as: String.self) { "computed" }
        #expect(value == "computed", "the caller got its value at the timeout")
        #expect(fixture.first.statistics.l2Errors == 1, "the write's timeout was reported")
        #expect(fixture.faulty.pausedCalls == 1, "the write is still in flight")
        #expect(fixture.first.background.count == 1, "and owned by the store")
        // Another instance writes the key meanwhile: that breaks the computation's lease.
        try await fixture.second.set("k", "newer")
        fixture.faulty.resume()
        #expect(try await eventually { fixture.first.background.count == 0 })
        #expect(try await fixture.shared.get("k", as: String.self) == "newer", "the late write did not land over the newer one")
        #expect(fixture.first.statistics.staleWritesRefused == 1)
        #expect(try await fixture.first.get("k", as: String.self) == "newer", "L1 dropped the refused value: L1 and L2 agree")
    }

    @Test("C5: a computed write past l2Timeout that lands is kept in both tiers")
    func lateLands() async throws {
        let fixture = TwoInstances(l2Timeout: .milliseconds(50))
        fixture.faulty.inject(.pause, into: .writes)
        _ = try await fixture.first.getOrSet("k", as: String.self) { "computed" }
        // While it is in flight, no L2 read may put an older value in L1: the key is held.
        fixture.faulty.resume()
        #expect(try await eventually { fixture.first.background.count == 0 })
        #expect(try await fixture.shared.get("k", as: String.self) == "computed")
        #expect(try await fixture.first.l1.get("k", as: String.self) == "computed")
        #expect(fixture.first.statistics.writes == 1)
    }

    @Test("C5: close() cancels and awaits the store's background work; nothing it started outlives it")
    func closeAwaitsBackgroundWork() async throws {
        let fixture = TwoInstances(l2Timeout: .milliseconds(50))
        fixture.faulty.inject(.pause, into: .writes)
        _ = try await fixture.first.getOrSet("k", as: String.self) { "computed" }
        #expect(fixture.first.background.count == 1)
        let closing = Task { try await fixture.first.close() }
        try await Task.sleep(for: .milliseconds(20))
        #expect(fixture.first.background.count == 1, "close waits for the write in flight")
        fixture.faulty.resume()
        try await closing.value
        #expect(fixture.first.background.count == 0)
    }

    /// Records what a store announces, and whether it was closed before.
    final class ClosingAnnouncements: InvalidationPublisher {
        private let state = Lock<(announced: [Invalidation], afterClose: [Invalidation], closed: Bool)>(([], [], false))
        var announced: [Invalidation] { state.withLock { $0.announced } }
        var announcedAfterClose: [Invalidation] { state.withLock { $0.afterClose } }
        func publish(_ invalidation: Invalidation) async {
            state.withLock { state in
                if state.closed { state.afterClose.append(invalidation) } else { state.announced.append(invalidation) }
            }
        }
        func publish(_ invalidations: [Invalidation]) async { for invalidation in invalidations { await publish(invalidation) } }
        func close() async { state.withLock { $0.closed = true } }
    }

    @Test(
        "C5: work the store takes on while close() waits for its background work is owned too: a computed write past l2Timeout then is awaited and announced before the publisher closes",
        .timeLimit(.minutes(1)))
    func closeOwnsWorkTakenOnWhileItDrains() async throws {
        let announcements = ClosingAnnouncements()
        let l2 = FaultInjectingStore(wrapping: MemoryStore())
        let cache = TieredStore(
            l1: MemoryStore(), l2: l2, configuration: .init(l2Timeout: .milliseconds(50), invalidationPublisher: announcements))
        l2.inject(.pause, into: .writes)
        _ = try await cache.getOrSet("a", as: String.self) { "first" }
        #expect(cache.background.count == 1, "the first write, past l2Timeout, is owned")
        let closing = Task { try await cache.close() }
        #expect(try await eventually(poll: .milliseconds(1)) { cache.background.isClosing }, "close() waits for it")
        // A computation that was under way when close() began writes past l2Timeout now.
        #expect(try await cache.getOrSet("b", as: String.self) { "second" } == "second")
        #expect(l2.pausedCalls == 2, "both writes are in flight")
        l2.resume()
        try await closing.value
        #expect(cache.background.count == 0, "nothing the store took on outlives close()")
        #expect(
            Set(announcements.announced) == [.key("a"), .key("b")] && announcements.announcedAfterClose.isEmpty,
            "both writes landed and were announced before the publisher closed: \(announcements.announced), after: \(announcements.announcedAfterClose)"
        )
    }

    @Test(
        "C5: close() cancels a computation its caller stopped waiting for (past its hard timeout), and awaits it",
        .timeLimit(.minutes(1)))
    func closeCancelsAbandonedComputation() async throws {
        let fixture = TwoInstances()
        let cancelled = Lock(false)
        let finished = AsyncGate()
        var options = EntryOptions(expires: "1h")
        options.hardTimeout = .milliseconds(20)
        await #expect(throws: StrataError.self) {
            _ = try await fixture.first.getOrSet("k", as: String.self, options: options) {
                defer { finished.open() }
                do {
                    try await Task.sleep(for: .seconds(3_600))  // a computation that would hang
                } catch {
                    cancelled.withLock { $0 = error is CancellationError }
                    throw error
                }
                return "late"
            }
        }
        #expect(fixture.first.background.count == 1, "the store owns the computation its caller left")
        try await fixture.first.close()
        await finished.wait()
        #expect(cancelled.withLock { $0 }, "close() cancelled the computation")
        #expect(fixture.first.background.count == 0)
    }

    @Test(
        "X1/R4: another instance's change announced while this one's L2 read of the key is in flight keeps the read's older value out of L1"
    )
    func remoteInvalidationDuringRead() async throws {
        let fixture = TwoInstances()
        try await fixture.shared.set("k", "v1")
        let gate = PipelineGates.shared.arm(.beforeFill, key: "k", in: fixture.first)
        defer { PipelineGates.shared.disarm(gate) }
        let reading = Task { try await fixture.first.get("k", as: String.self) }
        try await gate.reached()  // it read v1 from L2 and is about to copy it into L1
        try await fixture.second.set("k", "v2")
        fixture.first.applyRemoteInvalidation(.key("k"))  // the bus delivers the second's announcement
        gate.open()
        #expect(try await reading.value == "v1", "the read began before the change")
        #expect(try await fixture.first.l1.entry(forKey: "k") == nil, "its older value was not copied into L1")
        #expect(try await fixture.first.get("k", as: String.self) == "v2", "the next read sees the change")
    }

    @Test("T5: a remote tag invalidation that arrives while the tag's instant loads is not lost")
    func remoteInvalidationDuringLoad() async throws {
        let fixture = TwoInstances()
        try await fixture.first.set("a", "A", options: EntryOptions(expires: "1h", tags: ["team"]))
        fixture.first.applyRemoteInvalidation(.everything)  // the tag table forgets: the next hit loads the instant
        _ = try await fixture.first.l2.get("a", as: String.self)
        try await fixture.first.set("b", "B", options: EntryOptions(expires: "1h", tags: ["team"]))
        fixture.first.tagTable.forgetAll()
        let gate = PipelineGates.shared.arm(.loadingTag, key: "team", scope: ObjectIdentifier(fixture.first))
        defer { PipelineGates.shared.disarm(gate) }
        let read = Task { try await fixture.first.get("b", as: String.self) }
        try await gate.reached()  // the instant (none yet) was read from L2
        // Another instance invalidates the tag, and its announcement arrives now.
        fixture.clock.advance(by: .milliseconds(5))
        try await fixture.second.invalidate(tags: ["team"])
        fixture.first.applyRemoteInvalidation(.key(TagInvalidations.key(for: "team")))
        gate.open()
        _ = try await read.value  // concurrent with the invalidation: either answer is allowed
        #expect(try await fixture.first.get("b", as: String.self) == nil, "the next read knows of the invalidation")
        #expect(try await fixture.first.get("a", as: String.self) == nil)
    }

    @Test("T3: a lagging clock's invalidation does not bring invalidated entries back (instants are max-merged)")
    func laggingClock() async throws {
        let fixture = TwoInstances(secondClockOffset: .seconds(-3_600))
        let options = EntryOptions(expires: "2h", tags: ["t"])
        fixture.clock.advance(by: .seconds(10))
        try await fixture.first.set("early", "E", options: options)
        fixture.clock.advance(by: .seconds(10))
        try await fixture.first.invalidate(tags: ["t"])  // at T
        // An instance whose clock is an hour behind invalidates too, at T - 1 h.
        try await fixture.second.invalidate(tags: ["t"])
        let instant = try await fixture.shared.records(named: ["tag:t"])[0]
        #expect(instant == fixture.clock.now().millisecondsSince1970, "the later instant stays")
        fixture.first.applyRemoteInvalidation(.everything)
        #expect(try await fixture.first.get("early", as: String.self) == nil, "invalidated at T, still invalid")
    }

    @Test("T4: clockSkewTolerance moves a computation's start back, so a lagging instance's invalidation still reaches it")
    func skewTolerance() async throws {
        for tolerance in [Duration.zero, .milliseconds(100)] {
            // The second instance's clock is 50 ms behind the first's.
            let fixture = TwoInstances(secondClockOffset: .milliseconds(-50), skewTolerance: tolerance)
            let options = EntryOptions(expires: "1h", tags: ["t"])
            let gate = PipelineGates.shared.arm(.afterMiss, key: "k", in: fixture.first)
            let computing = Task { try await fixture.first.getOrSet("k", as: String.self, options: options) { "computed" } }
            try await gate.reached()
            // 20 ms later in real time, the lagging instance invalidates the tag (its clock reads 30 ms before the start).
            fixture.clock.advance(by: .milliseconds(20))
            try await fixture.second.invalidate(tags: ["t"])
            gate.open()
            PipelineGates.shared.disarm(gate)
            _ = try await computing.value
            fixture.first.applyRemoteInvalidation(.everything)
            let read = try await fixture.first.get("k", as: String.self)
            if tolerance == .zero {
                #expect(read == "computed", "without a tolerance, the skew hides the invalidation (the stated limit)")
            } else {
                #expect(read == nil, "with a tolerance above the skew, the value is invalid")
            }
        }
    }

    @Test("C4: a late value replaces the re-armed fallback instead of being thrown away for the throttle")
    func lateValueAfterFailSafe() async throws {
        let fixture = TwoInstances()
        var options = EntryOptions(expires: "1min", grace: "1h", failSafeThrottle: "1h")
        _ = try await fixture.first.getOrSet("q", as: String.self, options: options) { "old" }
        fixture.clock.advance(by: .seconds(61))
        options.hardTimeout = .milliseconds(20)
        let release = AsyncGate()
        let served = try await fixture.first.getOrSet("q", as: String.self, options: options) {
            await release.wait()
            return "new"
        }
        #expect(served == "old", "the hard timeout served the kept value, re-armed for the throttle")
        release.open()
        #expect(try await eventually { try await fixture.shared.get("q", as: String.self) == "new" })
        #expect(try await eventually { try await fixture.first.get("q", as: String.self) == "new" })
    }

    @Test("a wrapper forwarding pipeline keeps the tiered behaviour: tags, the tag table and announcements go through it")
    func wrapperKeepsTiers() async throws {
        let fixture = TwoInstances()
        let wrapped = ForwardingStore(base: fixture.first)
        try await wrapped.set("a", "A", options: EntryOptions(expires: "1h", tags: ["t"]))
        #expect(try await fixture.first.l1.has("a"), "written through the tiered store's L1")
        try await wrapped.invalidate(tags: ["t"])
        #expect(fixture.first.statistics.tagInvalidations == 1, "the tiered store invalidated the tag")
        #expect(try await wrapped.get("a", as: String.self) == nil)
        #expect(try await fixture.first.get("a", as: String.self) == nil)
        let faulty = FaultInjectingStore(wrapping: fixture.first)
        try await faulty.set("b", "B", options: EntryOptions(expires: "1h", tags: ["u"]))
        try await faulty.invalidate(tags: ["u"])
        #expect(fixture.first.statistics.tagInvalidations == 2, "through a fault injector too")
        #expect(try await fixture.first.get("b", as: String.self) == nil)
        // The faults reach L2's calls; L1 still serves what it holds.
        try await faulty.set("c", "C")
        faulty.inject(.fail, into: .reads)
        #expect(try await faulty.get("c", as: String.self) == "C", "an L1 hit through the wrapper")
        await #expect(throws: StrataError.self) { try await faulty.get("missing", as: String.self) }
    }
}

/// A store whose clock is another's moved by an offset (an instance on another host).
struct OffsetClock: StrataClock {
    let base: any StrataClock
    let offset: Duration
    func now() -> Timestamp { base.now().adding(milliseconds: offset.wholeMilliseconds()) }
}

/// One store seen with another clock: the same entries, leases and records, as a second
/// process on a host whose clock differs would see them.
final class ClockedView: ForwardingStore, @unchecked Sendable {
    let otherClock: any StrataClock
    init(base: any KeyValueStore, clock: any StrataClock) {
        otherClock = clock
        super.init(base: base, forwardsPipeline: false)
    }
    override var clock: any StrataClock { otherClock }
    override var backendName: String { "ClockedView(\(base.backendName))" }
    override func close() async throws {}
}

/// Two defects the randomized history found, each forced here with gates.
@Suite("Consistency rules: what the history test found")
struct ConsistencyHistoryFindingsTests {
    @Test("R2: two L2 reads of one key that answer out of order never leave L1 holding the older value")
    func fillsOutOfOrder() async throws {
        let fixture = ConsistencyRuleTests.TwoInstances()
        try await fixture.shared.set("k", "v1")
        let gate = PipelineGates.shared.arm(.beforeFill, key: "k", in: fixture.first)
        defer { PipelineGates.shared.disarm(gate) }
        let older = Task { try await fixture.first.get("k", as: String.self) }
        try await gate.reached()  // it read v1 and is about to copy it into L1
        try await fixture.shared.set("k", "v2")  // another instance's write, not announced
        #expect(try await fixture.first.get("k", as: String.self) == "v2", "a later read sees v2 (and copies it)")
        gate.open()
        #expect(try await older.value == "v1", "the older read answers what it read")
        #expect(try await fixture.first.get("k", as: String.self) == "v2", "L1 did not go back to v1")
    }

    /// A caller of `flights`' flight of "k" that looks again when told to: whether it was
    /// told to (``SingleFlight/NothingForALateCaller``, marked overtaken), not led.
    static func lateCallThatLooksAgain(in flights: SingleFlight, scope: ObjectIdentifier) -> Task<Bool, any Error> {
        Task {
            var overtaken = false
            do {
                _ = try await flights.run(scope: scope, key: "k", overtaken: &overtaken) { "led by a late caller" }
                return false
            } catch let failure as SingleFlight.OvertakenFailure where failure.error is SingleFlight.NothingForALateCaller {
                return overtaken
            }
        }
    }

    /// A flight of "k" whose leader is held until `held` opens, then answers `value` (or
    /// throws, when cancelled by then), with a change noted once the flight runs.
    static func flightChangedWhileHeld<Value: Sendable>(
        in flights: SingleFlight, scope: ObjectIdentifier, answering value: Value
    ) async throws -> (leader: Task<Value, any Error>, held: AsyncGate) {
        let held = AsyncGate()
        let leader = Task {
            try await flights.run(scope: scope, key: "k") { () async throws -> Value in
                await held.wait()
                try Task.checkCancellation()
                return value
            }
        }
        #expect(try await eventually(poll: .milliseconds(1)) { flights.isRunningAny }, "the leader's flight runs")
        flights.noteChange(scope: scope, key: "k")  // a change once the flight began
        return (leader, held)
    }

    @Test(
        "C1/R1: a caller that joined a flight after a change, whose leader is then cancelled, looks again rather than lead with what it read before joining; one that does not look again leads"
    )
    func lateCallerOfACancelledLeaderLooksAgain() async throws {
        let flights = SingleFlight()
        let scope = ObjectIdentifier(flights)
        let (leader, held) = try await Self.flightChangedWhileHeld(in: flights, scope: scope, answering: "the leader's")
        let lookingAgain = Self.lateCallThatLooksAgain(in: flights, scope: scope)
        let retrying = Task { try await flights.run(scope: scope, key: "k") { "led again" } }
        #expect(
            try await eventually(poll: .milliseconds(1)) { flights.waiters(scope: scope, key: "k") == 2 }, "both late callers joined")
        leader.cancel()
        held.open()
        await #expect(throws: CancellationError.self) { try await leader.value }
        #expect(try await lookingAgain.value, "the caller that looks again is told to, not made the leader")
        #expect(try await retrying.value == "led again", "a caller that does not look again leads, as before")
    }

    @Test(
        "C1/R1: a caller that joined a flight after a change, whose leader computes another type, looks again rather than lead with what it read before joining"
    )
    func lateCallerOfAnotherTypeLooksAgain() async throws {
        let flights = SingleFlight()
        let scope = ObjectIdentifier(flights)
        let (leader, held) = try await Self.flightChangedWhileHeld(in: flights, scope: scope, answering: 1)
        let late = Self.lateCallThatLooksAgain(in: flights, scope: scope)
        #expect(try await eventually(poll: .milliseconds(1)) { flights.waiters(scope: scope, key: "k") == 1 }, "the late caller joined")
        held.open()
        #expect(try await leader.value == 1)
        #expect(try await late.value, "the late caller is told to look again")
    }

    @Test("C1/R1: a caller that joins a flight after a delete does not take the value the flight found before it")
    func followerAfterDelete() async throws {
        let fixture = ConsistencyRuleTests.TwoInstances()
        let cache = fixture.first
        let scope = ObjectIdentifier(cache)
        let beforeLease = PipelineGates.shared.arm(.beforeLease, key: "k", in: cache)
        defer { PipelineGates.shared.disarm(beforeLease) }
        let leader = Task { try await cache.getOrSet("k", as: String.self) { "computed by the leader" } }
        try await beforeLease.reached()
        try await fixture.second.set("k", "found")  // the leader's lease read will find it
        let beforeFill = PipelineGates.shared.arm(.beforeFill, key: "k", in: cache)
        defer { PipelineGates.shared.disarm(beforeFill) }
        beforeLease.open()
        try await beforeFill.reached()
        try await cache.delete("k")
        let follower = Task { try await cache.getOrSet("k", as: String.self) { "computed by the follower" } }
        #expect(
            try await eventually(poll: .milliseconds(1)) { SingleFlight.shared.waiters(scope: scope, key: "k") == 1 },
            "the follower joined the flight")
        beforeFill.open()
        #expect(try await leader.value == "found")
        #expect(try await follower.value == "computed by the follower", "the follower began after the delete: it computes")
    }

    @Test(
        "C1/R1: a delete that races a flight's write (L2 took the write, then the delete) hides the value from a caller that joins after it"
    )
    func followerAfterDeleteRacingTheWrite() async throws {
        try await followerJoinsAfterDelete(at: .writeAnswered)  // L2 holds the value; the write is still in flight
    }

    @Test("C1/R1: a caller that joins a flight after a delete that followed the flight's write does not take the deleted value")
    func followerAfterDeleteOfWrittenValue() async throws {
        try await followerJoinsAfterDelete(at: .afterWrite)  // the value is stored; the flight has not ended
    }

    @Test("C4/R1: when L2 does not answer the lease, a value an earlier read kept is no fallback once this instance deleted the key")
    func fallbackAfterDeleteWhileL2Fails() async throws {
        let fixture = ConsistencyRuleTests.TwoInstances()
        let cache = fixture.first
        let options = EntryOptions(expires: "1s", grace: "1h", failSafeThrottle: "1h")
        _ = try await cache.getOrSet("rates", as: Int.self, options: options) { 1 }
        fixture.clock.advance(by: .seconds(2))  // past its lifetime, in its grace (in L1 and L2)
        let gate = PipelineGates.shared.arm(.beforeLease, key: "rates", in: cache)
        defer { PipelineGates.shared.disarm(gate) }
        let failing = Task {
            try await cache.getOrSet("rates", as: Int.self, options: options) { () async throws -> Int in
                throw ComputeFailure()
            }
        }
        try await gate.reached()  // its first read kept 1
        try await cache.delete("rates")
        fixture.faulty.inject(.fail, into: .reads)  // the lease's read gets no answer
        gate.open()
        await #expect(throws: ComputeFailure.self, "the deleted value is no fallback") { try await failing.value }
        fixture.faulty.inject(.none, into: .reads)
        #expect(try await cache.get("rates", as: Int.self) == nil, "nor is it back in L1")
        #expect(try await cache.l1.get("rates", as: Int.self) == nil)
    }

    /// Holds a flight's leader at `point` (after L2 took its value), deletes the key, then
    /// lets a caller join the flight: it began after the delete, so it must compute.
    private func followerJoinsAfterDelete(at point: PipelineGates.Point) async throws {
        let fixture = ConsistencyRuleTests.TwoInstances()
        let cache = fixture.first
        let gate = PipelineGates.shared.arm(point, key: "k", in: cache)
        defer { PipelineGates.shared.disarm(gate) }
        let leader = Task { try await cache.getOrSet("k", as: String.self) { "computed by the leader" } }
        try await gate.reached()
        try await cache.delete("k")
        let follower = Task { try await cache.getOrSet("k", as: String.self) { "computed by the follower" } }
        #expect(
            try await eventually(poll: .milliseconds(1)) { PipelineGates.shared.flightWaiters("k", in: cache) == 1 },
            "the follower joined the flight")
        gate.open()
        #expect(try await leader.value == "computed by the leader")
        #expect(try await follower.value == "computed by the follower", "the follower began after the delete: it computes")
        #expect(try await cache.get("k", as: String.self) == "computed by the follower")
    }
}

extension ConsistencyHistoryFindingsTests {
    @Test("R2: a read whose copy is refused (a write of the key in flight) drops the older copy L1 holds")
    func refusedCopyDropsOlderOne() async throws {
        let fixture = ConsistencyRuleTests.TwoInstances()
        try await fixture.shared.set("k", "v2")  // another instance's write, not announced
        // A local write of the key is in flight (held inside its L2 call).
        fixture.faulty.inject(.pause, into: .writes)
        let deleting = Task { try await fixture.first.delete("k") }
        try #require(await eventually(poll: .milliseconds(1)) { fixture.faulty.pausedCalls == 1 }, "the delete's L2 write is held")
        let gate = PipelineGates.shared.arm(.beforeFill, key: "k", in: fixture.first)
        defer { PipelineGates.shared.disarm(gate) }
        let reading = Task { try await fixture.first.get("k", as: String.self) }
        try await gate.reached()  // it missed L1 and read v2 from L2
        // Meanwhile an overlapping read's copy of the older v1 lands in L1 (made here by hand:
        // the interleaving the history test found needs a third read between two L2 answers).
        try fixture.first.l1.store(ByteKey("k"), MemoryEntry(bytes: Array("v1".utf8), value: nil, expiresAt: nil))
        gate.open()
        #expect(try await reading.value == "v2")
        #expect(
            try await fixture.first.l1.get("k", as: String.self) == nil, "the refused copy dropped the older one: no read goes back to v1")
        fixture.faulty.resume()
        _ = try await deleting.value
    }
}

private struct ComputeFailure: Error {}

extension ConsistencyRuleTests {
    /// A change of "k" that begins before a `set` of it and lands in L2 after that set's write.
    enum EarlierChange: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case set, bulkSet, delete, clearPrefix

        var testDescription: String {
            switch self {
            case .set: "set"
            case .bulkSet: "bulk set"
            case .delete: "delete"
            case .clearPrefix: "clear(prefix:)"
            }
        }

        func make(in store: TieredStore) async throws {
            switch self {
            case .set: try await store.set("k", "earlier")
            case .bulkSet: try await store.set(["k": "earlier", "j": "earlier"])
            case .delete: try await store.delete("k")
            case .clearPrefix: try await store.clear(prefix: "k")
            }
        }
    }

    /// Found by "concurrent writes, deletes and reads in one process never leave L1
    /// disagreeing with L2", which failed once in CI: a write that was the last begun and
    /// finished last kept its L1 copy although an earlier write, in flight when it began,
    /// landed in L2 after it.
    @Test(
        "R4: a change that began before a set of the key and lands in L2 after the set's write leaves L1 holding L2's value or nothing",
        arguments: EarlierChange.allCases)
    func earlierChangeLandingLast(_ change: EarlierChange) async throws {
        let fixture = TwoInstances()
        fixture.faulty.inject(.pause, into: .writes)
        let earlier = Task { try await change.make(in: fixture.first) }
        try #require(await eventually(poll: .milliseconds(1)) { fixture.faulty.pausedCalls == 1 }, "the earlier change's L2 call is held")
        fixture.faulty.inject(.none, into: .writes)  // later calls pass; the held one stays held
        let gate = PipelineGates.shared.arm(.setAnswered, key: "k", in: fixture.first)
        defer { PipelineGates.shared.disarm(gate) }
        let later = Task { try await fixture.first.set("k", "later") }
        try await gate.reached()  // L2 holds "later"; the set is still in flight for L1
        fixture.faulty.resume()  // the earlier change lands over it, and finishes first
        try await earlier.value
        gate.open()
        try await later.value
        let inL2 = try await fixture.shared.get("k", as: String.self)
        let inL1 = try await fixture.first.l1.get("k", as: String.self)
        #expect(inL1 == nil || inL1 == inL2, "L1 holds \(String(describing: inL1)) where L2 holds \(String(describing: inL2))")
        #expect(try await fixture.first.get("k", as: String.self) == inL2, "a read answers what L2 holds")
    }
}
