import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Testing

@testable import Strata

/// Rules a cold review of the pipeline found unkept, each forced with a fault or a clock.
@Suite("Consistency rules: faults on the compute and write paths")
struct ConsistencyReviewTests {
    typealias TwoInstances = ConsistencyRuleTests.TwoInstances

    /// Options that put the entry in an envelope (a grace period), so L2 is marked first.
    static let enveloped = EntryOptions(expires: "1h", grace: "1h")

    @Test("C4: a computed value is returned when L2 refuses to be marked as holding envelopes; it is kept in L1 only")
    func computedValueSurvivesAFailedMark() async throws {
        let fixture = TwoInstances()
        fixture.faulty.inject(.fail, into: .writes)
        let value = try await fixture.first.getOrSet("k", as: String.self, options: Self.enveloped) { _ in "computed" }
        #expect(value == "computed", "the computation succeeded: its value is the answer")
        #expect(fixture.first.statistics.failSafes == 0)
        #expect(try await fixture.shared.get("k", as: String.self) == nil, "L2 could not be marked: nothing written there")
        fixture.faulty.heal()
        #expect(
            try await fixture.first.getOrSet("k", as: String.self, options: Self.enveloped) { _ in "again" } == "computed",
            "kept in L1")
    }

    /// A store of one tier, in memory or in a folder.
    enum OneTier: String, CaseIterable, Sendable {
        case memory, folder

        func make(clock: ManualClock) throws -> any KeyValueStore {
            switch self {
            case .memory: MemoryStore(configuration: .init(clock: clock))
            case .folder: try FolderStore(configuration: .init(directory: temporaryDirectory("one-tier"), clock: clock))
            }
        }
    }

    @Test(
        "C4 on a store of one tier: a computed value whose write fails is the answer, never the value kept in its grace (nor re-armed), nor the store's error",
        arguments: OneTier.allCases)
    func computedValueSurvivesAFailedWriteOnOneTier(_ tier: OneTier) async throws {
        let clock = ManualClock()
        let faulty = FaultInjectingStore(wrapping: try tier.make(clock: clock))
        let options = EntryOptions(expires: "1s", grace: "1h", failSafeThrottle: "1h")
        #expect(try await faulty.getOrSet("k", as: Int.self, options: options) { 1 } == 1)
        clock.advance(by: .seconds(2))  // past its lifetime, in its grace: the kept value
        faulty.inject(.fail, into: .writes)
        #expect(try await faulty.getOrSet("k", as: Int.self, options: options) { 2 } == 2, "the computation succeeded")
        faulty.heal()
        #expect(
            try await faulty.getOrSet("k", as: Int.self, options: options) { 3 } == 3,
            "the kept value was not re-armed as fresh: the next call computes")
        #expect(try await faulty.getOrSet("fresh", as: Int.self, options: options) { 4 } == 4)
        faulty.inject(.fail, into: .writes)
        #expect(try await faulty.getOrSet("none kept", as: Int.self) { 5 } == 5, "with no kept value: the value, not the store's error")
        faulty.heal()
    }

    @Test(
        "C4 on a store of one tier: a computed value the store will never hold throws valueTooLarge, as set does, and no value kept in its grace stands in for it",
        arguments: [false, true])
    func computedValueTooLargeOnOneTier(hardTimeout: Bool) async throws {
        let clock = ManualClock()
        var configuration = MemoryStore.Configuration(maxBytes: 1_024, clock: clock)
        configuration.shardCount = 1
        let store = MemoryStore(configuration: configuration)
        // With a hard timeout, the computation runs in a task of its own.
        let options = EntryOptions(expires: "1s", grace: "1h", hardTimeout: hardTimeout ? .seconds(60) : nil)
        #expect(try await store.getOrSet("k", as: String.self, options: options) { "small" } == "small")
        clock.advance(by: .seconds(2))  // past its lifetime, in its grace
        let error = await #expect(throws: StrataError.self) {
            _ = try await store.getOrSet("k", as: String.self, options: options) { String(repeating: "x", count: 4_096) }
        }
        #expect(error?.code == .valueTooLarge, "\(String(describing: error))")
        #expect(try await store.getOrSet("k", as: String.self, options: options) { "fits" } == "fits", "the lease was released")
    }

    @Test(
        "C4: marking L2 as holding envelopes is bounded by l2Timeout: a hanging L2 does not hold the computed value back",
        .timeLimit(.minutes(1)))
    func markIsBoundedByTheL2Timeout() async throws {
        let fixture = TwoInstances(l2Timeout: .milliseconds(50))
        fixture.faulty.inject(.hang, into: .writes)
        let value = try await fixture.first.getOrSet("k", as: String.self, options: Self.enveloped) { _ in "computed" }
        #expect(value == "computed")
        fixture.faulty.heal()
        try await fixture.first.close()
    }

    @Test(
        "C5: a computed write past l2Timeout that then fails is a failure (reported), not a refused stale write; L1 keeps the value for undeliveredL1Expiry at most",
        .timeLimit(.minutes(1)))
    func lateWriteThatFailsIsAFailure() async throws {
        let fixture = TwoInstances(l2Timeout: .milliseconds(50))
        fixture.faulty.inject(.hang, into: .writes)
        #expect(try await fixture.first.getOrSet("k", as: String.self) { "computed" } == "computed")
        #expect(fixture.first.background.count == 1, "the write goes on")
        let errorsBefore = fixture.first.statistics.l2Errors
        fixture.faulty.heal()  // the write now fails
        #expect(try await eventually { fixture.first.background.count == 0 })
        #expect(fixture.first.statistics.staleWritesRefused == 0, "nothing refused it: it failed")
        #expect(fixture.first.statistics.l2Errors == errorsBefore + 1, "the failure was reported")
        #expect(try await fixture.first.get("k", as: String.self) == "computed", "L1 keeps the value, which is right")
        fixture.clock.advance(by: .seconds(6))  // past undeliveredL1Expiry (5 s)
        #expect(try await fixture.first.get("k", as: String.self) == nil, "then L1 agrees with L2 again")
    }

    @Test("a cancelled write or read of a tiered store throws CancellationError: not an L2 failure, never a miss")
    func cancellationIsNotAnL2Failure() async throws {
        let fixture = TwoInstances()
        fixture.faulty.inject(.pause, into: .all)
        let write = Task { try await fixture.first.set("k", "v") }
        #expect(try await eventually { fixture.faulty.pausedCalls == 1 })
        write.cancel()
        await #expect(throws: CancellationError.self) { try await write.value }
        var configuration = TieredStore.Configuration()
        configuration.l2ReadFailures = .treatAsMiss
        let reading = TieredStore(l1: MemoryStore(), l2: fixture.faulty, configuration: configuration)
        let read = Task { try await reading.get("k", as: String.self) }
        #expect(try await eventually { fixture.faulty.pausedCalls == 1 })
        read.cancel()
        await #expect(throws: CancellationError.self) { _ = try await read.value }
        #expect(fixture.first.statistics.l2Errors == 0)
        #expect(reading.statistics.l2Errors == 0)
        fixture.faulty.resume()
    }

    @Test("X3: without a bus, another instance's tag invalidation is seen within undeliveredL1Expiry")
    func tagInvalidationWithoutBus() async throws {
        let fixture = TwoInstances()
        let tagged = EntryOptions(expires: "1h", tags: ["team"])
        try await fixture.second.set("a", "A", options: tagged)
        try await fixture.second.set("b", "B", options: tagged)
        #expect(try await fixture.first.get("a", as: String.self) == "A")  // the first instance loads the tag's instant
        fixture.clock.advance(by: .milliseconds(5))
        try await fixture.second.invalidate(tags: ["team"])
        fixture.clock.advance(by: .seconds(6))  // past undeliveredL1Expiry (5 s)
        #expect(try await fixture.first.get("b", as: String.self) == nil, "b, read from L2 after the invalidation, is refused")
    }
}
