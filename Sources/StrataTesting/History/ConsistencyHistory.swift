import Foundation
import Strata
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A randomized history of operations on one or more instances of a store, recorded with
/// the real time each began and ended, and checked against a model of the rules in
/// `Docs/Consistency.md`.
///
/// Many tasks issue random `get`, `set` (plain and tagged), `delete`, `getOrSet` (slow,
/// failing and tagged computations included), `invalidate(tags:)` and `clear(prefix:)` on a
/// few keys, every written value unique; a fifth of them as bulk calls of two or three keys,
/// recorded as one operation per key over the bulk call's time. The checker then asks of every read (a `get`, or a
/// `getOrSet` that did not compute) whether some write could explain it:
///
/// - a value comes from a write of it that began before the read ended (R1: the read
///   saw a completed or concurrent write);
/// - that write was not overwritten before the read began: no `set`, `delete` or
///   `clear(prefix:)` covering the key, and no invalidation of one of its tags, began after
///   it (after its computation's start, for a computed value: C2, T1) and ended before the
///   read began (R1, R3) — plus the bus's delivery bound when the two are in different
///   instances (X1);
/// - a missing value is explained the same way by the initial state, a delete, a clear or an
///   invalidation.
///
/// It also checks monotonic reads within an instance (R2), and, once every call has
/// completed, that each tiered instance's L1 holds its L2's entry or nothing (R4; see
/// ``l1Disagreements(in:waiting:)``). A computed value returned to the
/// caller that computed it, or to a caller that waited for that computation (C1), is the
/// source's answer and needs no explaining. The checker is sound (every violation it reports
/// is one) and, by the ways it leaves open, not complete.
///
/// ```swift
/// let history = ConsistencyHistory(seed: seed)
/// try await history.run(on: [cache], tasks: 8, operationsPerTask: 300)
/// let violations = history.violations(deliveryBound: .zero)
/// ```
package final class ConsistencyHistory: Sendable {
    /// One operation as it happened.
    package struct Operation: Sendable, CustomStringConvertible {
        package enum Kind: String, Sendable {
            case get, set, delete, getOrSet, invalidate, clear
        }

        package let id: Int
        package let instance: Int
        package let kind: Kind
        /// The key (get, set, delete, getOrSet), the prefix (clear) or the tag (invalidate).
        package let target: String
        /// The value written (set).
        package let written: String?
        /// The tags the written or computed value carries.
        package let tags: [String]
        /// Nanoseconds since the history began.
        package let start: Int64
        package let end: Int64
        /// What a read returned (`.some(nil)`: nothing).
        package let result: String??
        /// For a getOrSet whose own computation ran and returned: when it began and ended.
        package let computed: (start: Int64, end: Int64)?
        /// For a key of a bulk getOrSet, the earliest its miss (its lease) may be: the bulk
        /// call's start. Its computation runs later, once the batch is settled.
        package let missedAfter: Int64?
        /// The operation threw (a failing computation, say).
        package let failed: Bool

        /// An operation as a test writes it by hand (to check the checker).
        package init(
            id: Int, instance: Int = 0, kind: Kind, target: String, written: String? = nil, tags: [String] = [],
            start: Int64, end: Int64, result: String?? = nil, computed: (start: Int64, end: Int64)? = nil, failed: Bool = false,
            missedAfter: Int64? = nil
        ) {
            self.id = id
            self.instance = instance
            self.kind = kind
            self.target = target
            self.written = written
            self.tags = tags
            self.start = start
            self.end = end
            self.result = result
            self.computed = computed
            self.failed = failed
            self.missedAfter = missedAfter
        }

        package var description: String {
            var text = "#\(id) i\(instance) \(kind.rawValue)(\(target)"
            if let written { text += " = \(written)" }
            if !tags.isEmpty { text += " tags \(tags)" }
            text += ") [\(start / 1_000)…\(end / 1_000) µs]"
            if let result { text += " → \(result ?? "nil")" }
            if let computed { text += " computed [\(computed.start / 1_000)…\(computed.end / 1_000) µs]" }
            if failed { text += " threw" }
            return text
        }
    }

    /// The keys, prefixes and tags the operations use: few, so they collide.
    package static let keys = ["a:1", "a:2", "b:1", "b:2"]
    static let prefixes = ["a:", "b:", "a:1", ""]
    static let tags = ["t1", "t2"]

    package let seed: UInt64
    let origin = ContinuousClock.now
    let recorded = Lock([Operation]())
    let nextID = Atomic<Int>(0)
    private let nextValue = Atomic<Int>(0)

    package init(seed: UInt64) {
        self.seed = seed
    }

    /// The operations recorded so far, in the order they ended.
    package var operations: [Operation] { recorded.withLock { $0 } }

    func now() -> Int64 {
        let elapsed = ContinuousClock.now - origin
        return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
    }

    func uniqueValue(_ instance: Int) -> String {
        "v\(nextValue.add(1, ordering: .relaxed).newValue)-i\(instance)"
    }

    /// Runs `tasks` tasks per instance, each issuing `operationsPerTask` random operations
    /// on one of `instances`, as drawn from the seed.
    package func run(on instances: [any KeyValueStore], tasks: Int, operationsPerTask: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, store) in instances.enumerated() {
                for task in 0..<tasks {
                    var random = SplitMix64(seed: seed &+ UInt64(index * 1_000 + task) &* 0x9E37_79B9_7F4A_7C15)
                    group.addTask {
                        for _ in 0..<operationsPerTask { try await self.randomOperation(on: store, instance: index, random: &random) }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    private func randomOperation(on store: any KeyValueStore, instance: Int, random: inout SplitMix64) async throws {
        if random.next() % 5 == 0 { return try await randomBulkOperation(on: store, instance: instance, random: &random) }
        let key = Self.keys[Int(random.next() % UInt64(Self.keys.count))]
        let tag = Self.tags[Int(random.next() % UInt64(Self.tags.count))]
        let tagged = random.next() % 2 == 0
        let options = EntryOptions(expires: "1h", tags: tagged ? [tag] : nil)
        let draw = random.next() % 100
        let start = now()
        let id = nextID.add(1, ordering: .relaxed).newValue
        func record(
            _ kind: Operation.Kind, _ target: String, written: String? = nil, tags: [String] = [], result: String?? = nil,
            computed: (Int64, Int64)? = nil, failed: Bool = false
        ) {
            let operation = Operation(
                id: id, instance: instance, kind: kind, target: target, written: written, tags: tags, start: start, end: now(),
                result: result, computed: computed, failed: failed)
            recorded.withLock { $0.append(operation) }
        }
        switch draw {
        case 0..<34:
            let value = try await store.get(key, as: String.self)
            record(.get, key, result: .some(value))
        case 34..<52:
            let value = uniqueValue(instance)
            if tagged {
                try await store.set(key, value, options: options)
            } else {
                try await store.set(key, value, expires: "1h")
            }
            record(.set, key, written: value, tags: tagged ? [tag] : [])
        case 52..<60:
            try await store.delete(key)
            record(.delete, key)
        case 60..<92:
            let value = uniqueValue(instance)
            let slow = random.next() % 3 == 0
            let failing = random.next() % 8 == 0
            let delay = Int(random.next() % 4)
            let ran = Lock<(Int64, Int64)?>(nil)
            do {
                let compute: @Sendable () async throws -> String = {
                    let began = self.now()
                    if slow { try await Task.sleep(for: .milliseconds(delay)) }
                    if failing { throw HistoryComputeFailure() }
                    ran.withLock { $0 = (began, self.now()) }
                    return value
                }
                let returned =
                    tagged
                    ? try await store.getOrSet(key, as: String.self, options: options) { try await compute() }
                    : try await store.getOrSet(key, as: String.self, expires: "1h") { try await compute() }
                let computed = ran.withLock { $0 }
                record(
                    .getOrSet, key, tags: tagged ? [tag] : [], result: .some(returned),
                    computed: computed.flatMap { returned == value ? $0 : nil })
            } catch is HistoryComputeFailure {
                record(.getOrSet, key, tags: tagged ? [tag] : [], failed: true)
            }
        case 92..<97:
            try await store.invalidate(tags: [tag])
            record(.invalidate, tag)
        default:
            let prefix = Self.prefixes[Int(random.next() % UInt64(Self.prefixes.count))]
            try await store.clear(prefix: prefix)
            record(.clear, prefix)
        }
    }

    /// The reads the model cannot explain, each with the history of its key; `deliveryBound`
    /// is how late another instance may see a change (the bus's delivery, X1), in running
    /// time: the `stalls` of the process do not count.
    package func violations(deliveryBound: Duration = .zero, stalls: HistoryStalls = .none) -> [String] {
        Self.violations(in: operations, deliveryBound: deliveryBound, stalls: stalls)
    }

    /// The violations in a list of operations (a test's own, to check the checker).
    /// A caller that waited for another's computation is held to R1: a change of the key in
    /// its instance that ended before it began, and began after the computation, hides the
    /// computed value from it.
    package static func violations(
        in operations: [Operation], deliveryBound: Duration = .zero, stalls: HistoryStalls = .none
    ) -> [String] {
        HistoryChecker(operations: operations, deliveryBound: deliveryBound, stalls: stalls).violations()
    }
}

/// The failure a random computation throws.
struct HistoryComputeFailure: Error {}

/// A small, fast, seeded random number generator (SplitMix64), so a seed replays the
/// operations a history drew.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension ConsistencyHistory {
    /// The configuration of the tiered stores a history runs on: an `l2Timeout` no loaded
    /// machine reaches. A computed write past `l2Timeout` is kept in L1 unconfirmed (R4's
    /// exception, tested on its own as C5), which the model does not include: a history
    /// checks the rules while L2 answers.
    package static func tieredConfiguration(invalidationPublisher: (any InvalidationPublisher)? = nil) -> TieredStore.Configuration {
        TieredStore.Configuration(l2Timeout: .seconds(60), invalidationPublisher: invalidationPublisher)
    }

    /// What a checked run found.
    package struct Outcome: Sendable, CustomStringConvertible {
        package let seed: UInt64
        package let operations: Int
        package let violations: [String]
        /// When the process stalled while the history ran.
        package let stalls: HistoryStalls

        package var description: String {
            "\(operations) operations checked (seed \(seed), replay with STRATA_HISTORY_SEED=\(seed); \(stalls)): "
                + (violations.isEmpty
                    ? "no violation" : "\(violations.count) violations, the first:\n" + violations.prefix(3).joined(separator: "\n"))
        }
    }

    /// How many operations each task issues: a few hundred in CI, many more with
    /// `STRATA_SOAK` set (a number: operations per task; any other value: 5,000).
    package static var operationsPerTask: Int {
        guard let soak = environment("STRATA_SOAK") else { return 300 }
        return Int(soak) ?? 5_000
    }

    /// The seed: `STRATA_HISTORY_SEED` to replay one, else a random one.
    package static var seed: UInt64 {
        environment("STRATA_HISTORY_SEED").flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
    }

    /// Runs a random history on `instances` and checks it.
    ///
    /// ```swift
    /// let outcome = try await ConsistencyHistory.check([cache])
    /// #expect(outcome.violations.isEmpty, "\(outcome)")
    /// ```
    package static func check(
        _ instances: [any KeyValueStore], tasks: Int = 6, deliveryBound: Duration = .zero
    ) async throws -> Outcome {
        let history = ConsistencyHistory(seed: seed)
        let watch = StallWatch(origin: history.origin, threshold: .milliseconds(100))
        let stalls: HistoryStalls
        do {
            try await history.run(on: instances, tasks: tasks, operationsPerTask: operationsPerTask)
            stalls = watch.stop()
        } catch {
            _ = watch.stop()
            throw error
        }
        // The check takes seconds of CPU: on a thread of its own, so it does not hold one of
        // the cooperative pool's two threads from the tests running beside it.
        let violations = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let violations = history.violations(deliveryBound: deliveryBound, stalls: stalls)
                SanitizerHandOff.handOff(through: history)  // also to a task not suspended yet
                continuation.resume(returning: violations)
            }
        }
        SanitizerHandOff.receive(through: history)
        // R4, which no read's explanation covers: checked once every call has completed.
        let disagreements = try await l1Disagreements(
            in: instances, waiting: max(deliveryBound + .seconds(2), longestUndeliveredL1Expiry(of: instances) + .seconds(1)))
        let outcome = Outcome(
            seed: history.seed, operations: history.operations.count, violations: violations + disagreements, stalls: stalls)
        print("consistency history: \(outcome)")
        if !outcome.violations.isEmpty, let path = environment("STRATA_HISTORY_DUMP") {
            let text = history.operations.sorted { $0.start < $1.start }.map(\.description).joined(separator: "\n") + "\n"
            if let file = fopen(path, "a") {
                fputs("=== seed \(history.seed)\n" + text, file)
                fclose(file)
            }
        }
        return outcome
    }

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}
