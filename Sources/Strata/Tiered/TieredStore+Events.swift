import Synchronization

/// Receives what a ``TieredStore`` does, for logs and metrics (no logging or metrics
/// package is needed by the core: adapt these events to yours).
///
/// Called synchronously on the calling task: keep it fast and non-blocking.
///
/// ```swift
/// struct PrintingObserver: TieredStoreObserver {
///     func observe(_ event: TieredStore.Event) { print(event) }
/// }
/// ```
public protocol TieredStoreObserver: Sendable {
    /// Called once for every event.
    func observe(_ event: TieredStore.Event)
}

extension TieredStore {
    /// One thing a tiered store did: a hit, a miss, a write, a failure…
    public struct Event: Sendable, CustomStringConvertible {
        /// What happened.
        public struct Kind: Sendable, Hashable, CustomStringConvertible {
            /// The kind's name, for example `hit`.
            public let name: String
            /// A read found the key (in ``tier``).
            public static let hit = Kind(name: "hit")
            /// A read found the key in neither tier, or a plain read (`get`, `has`, a bulk
            /// `get`) found in L2 only a value past its lifetime, kept for its grace.
            public static let miss = Kind(name: "miss")
            /// An entry read from L2 was copied into L1 (a value in its grace too: a
            /// computation's fallback).
            public static let fill = Kind(name: "fill")
            /// A value was written (to ``tier``).
            public static let write = Kind(name: "write")
            /// A key or prefix was removed or changed in both tiers.
            public static let invalidate = Kind(name: "invalidate")
            /// `getOrSet` or `memoize` ran its computation.
            public static let compute = Kind(name: "compute")
            /// A stored value did not decode as the requested type; it was computed again and replaced.
            public static let undecodable = Kind(name: "undecodable")
            /// A call to ``tier`` failed; ``Event/error`` says why.
            public static let failure = Kind(name: "failure")
            /// A call to ``tier`` took longer than `l2Timeout`: a read was abandoned; a
            /// computation's write goes on, owned by the store (its `close()` awaits it).
            public static let timeout = Kind(name: "timeout")
            /// Another instance's change dropped L1 copies (``Event/key`` is the key or prefix;
            /// `nil` for everything, after lost messages).
            public static let remoteInvalidation = Kind(name: "remoteInvalidation")
            /// `getOrSet` served a value kept past its lifetime because the computation
            /// failed or passed its hard timeout (``Event/error`` says which).
            public static let failSafe = Kind(name: "failSafe")
            /// `getOrSet` answered with the kept value at the soft timeout; the computation
            /// goes on in the background.
            public static let softTimeout = Kind(name: "softTimeout")
            /// A computation passed its hard timeout.
            public static let computeTimeout = Kind(name: "computeTimeout")
            /// A hit past `refreshAhead` of its lifetime started a background computation.
            public static let refreshAhead = Kind(name: "refreshAhead")
            /// Tags were invalidated (``Event/key`` is the tag).
            public static let tagInvalidation = Kind(name: "tagInvalidation")
            /// A computed value was not stored because the key changed (a write, a delete, a
            /// clear, another lease, in any instance) after its computation's miss: the lease
            /// refused it. Its callers still got it. (A write L2 failed is a ``failure``.)
            public static let staleWriteRefused = Kind(name: "staleWriteRefused")
            /// The invalidation source started (``Event/error`` is `nil`) or stopped
            /// (with the reason) delivering other instances' changes; L1 was dropped.
            public static let deliveryChanged = Kind(name: "deliveryChanged")
            /// The name.
            public var description: String { name }
        }

        /// Which tier an event concerns.
        public enum Tier: String, Sendable, Hashable {
            /// The in-process memory tier.
            case l1
            /// The durable or shared tier.
            case l2
        }

        /// What happened.
        public var kind: Kind
        /// Where it happened.
        public var tier: Tier
        /// The key, or the prefix for a prefix invalidation.
        public var key: String?
        /// How long it took.
        public var duration: Duration
        /// The failure, for ``Kind/failure`` and ``Kind/timeout``.
        public var error: StrataError?

        /// `hit l1 "user:1" 120 ns`.
        public var description: String {
            "\(kind) \(tier) \(key.map { StrataError.quoted($0) } ?? "-") \(duration)" + (error.map { " \($0)" } ?? "")
        }
    }

    /// Counters of what the store did since it was made, as one snapshot.
    ///
    /// ```swift
    /// let stats = cache.statistics
    /// let hitRatio = Double(stats.l1Hits + stats.l2Hits) / Double(max(1, stats.l1Hits + stats.l2Hits + stats.misses))
    /// ```
    public struct Statistics: Sendable, Hashable {
        /// Reads answered by L1.
        public var l1Hits = 0
        /// Reads answered by L2 (and copied into L1).
        public var l2Hits = 0
        /// Reads that found the key in neither tier, and plain reads (`get`, `has`, a bulk
        /// `get`) that found in L2 only a value past its lifetime, kept for its grace (which
        /// a `getOrSet` falls back on).
        public var misses = 0
        /// Values written through both tiers.
        public var writes = 0
        /// Computations run by `getOrSet` and `memoize`.
        public var computations = 0
        /// Entries L1 evicted to stay within its bounds.
        public var l1Evictions = 0
        /// L2 calls that failed or timed out.
        public var l2Errors = 0
        /// Stored values that no longer decoded and were computed again.
        public var undecodable = 0
        /// Kept values served because a computation failed or timed out.
        public var failSafes = 0
        /// Kept values served at a soft timeout.
        public var softTimeouts = 0
        /// Computations that passed their hard timeout.
        public var computeTimeouts = 0
        /// Background refreshes started by `refreshAhead`.
        public var refreshesAhead = 0
        /// Tags invalidated by this store.
        public var tagInvalidations = 0
        /// Computed values whose write the lease refused because the key changed after their
        /// computation's miss (a write L2 failed counts in ``l2Errors`` instead).
        public var staleWritesRefused = 0
    }
}

/// The counters behind ``TieredStore/Statistics``.
final class TieredCounters: Sendable {
    let l1Hits = StripedCounter()
    let l2Hits = Atomic<Int>(0)
    let misses = Atomic<Int>(0)
    let writes = Atomic<Int>(0)
    let computations = Atomic<Int>(0)
    let l2Errors = Atomic<Int>(0)
    let undecodable = Atomic<Int>(0)
    let failSafes = Atomic<Int>(0)
    let softTimeouts = Atomic<Int>(0)
    let computeTimeouts = Atomic<Int>(0)
    let refreshesAhead = Atomic<Int>(0)
    let tagInvalidations = Atomic<Int>(0)
    let staleWritesRefused = Atomic<Int>(0)

    @inline(__always)
    static func bump(_ counter: borrowing Atomic<Int>) { counter.add(1, ordering: .relaxed) }
}

/// Reporting events to the observers, and counting L2 failures.
extension TieredStore {
    func report(
        _ kind: Event.Kind, _ tier: Event.Tier, _ key: String, since started: ContinuousClock.Instant?,
        error: StrataError? = nil
    ) {
        guard observing else { return }
        let duration = started.map { ContinuousClock.now - $0 } ?? .zero
        notify(Event(kind: kind, tier: tier, key: key, duration: duration, error: error))
    }

    func notify(_ event: Event) {
        for observer in observers { observer.observe(event) }
    }

    /// Counts and reports an L2 failure; returns it as a `StrataError`.
    /// An L2 call's error as its caller gets it: a cancellation as it is (the caller's, not
    /// L2's failure: neither counted nor reported), anything else recorded as a failure.
    func l2Failure(_ error: any Error, key: String, since started: ContinuousClock.Instant?) -> any Error {
        if error is CancellationError { return error }
        return recordFailure(error, key: key, since: started)
    }

    func recordFailure(_ error: any Error, key: String, since started: ContinuousClock.Instant?) -> StrataError {
        TieredCounters.bump(counters.l2Errors)
        let failure =
            (error as? StrataError)
            ?? StrataError(
                code: .backendUnavailable, message: "L2 failed", key: key, backend: l2.backendName, underlying: error)
        report(.failure, .l2, key, since: started, error: failure)
        return failure
    }
}
