#if Logging
public import Logging
#endif

extension TieredStore {
    /// How a ``TieredStore`` sets lifetimes and handles a failing L2.
    ///
    /// ```swift
    /// var configuration = TieredStore.Configuration(defaultExpiry: "10min", l1Expiry: "1min")
    /// configuration.l2ReadFailures = .treatAsMiss
    /// configuration.observer = MyMetricsObserver()
    /// let cache = TieredStore(l1: MemoryStore(maxEntries: 10_000), l2: sqlite, configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// The lifetime of entries written with `expires: nil`; `nil`: they never expire.
        public var defaultExpiry: Expiry?
        /// The longest an L1 copy is kept; an L1 copy never outlives the L2 entry, and
        /// expires sooner when this is shorter. `nil`: as long as the L2 entry lives.
        public var l1Expiry: Expiry?
        /// What `get`, `has` and `entry` do when L2 fails. `getOrSet` and `memoize`
        /// always compute instead, and report the failure.
        public var l2ReadFailures: ReadFailurePolicy
        /// How long `getOrSet` and `memoize` wait for L2 before computing the value
        /// themselves (reads) or returning it without L2 (writes). `nil`: no limit.
        public var l2Timeout: Duration?
        /// The options of `set(_:_:options:)`, `getOrSet(_:as:options:compute:)` and
        /// `memoize(prefix:options:)` that a call does not set: grace, timeouts, eager
        /// refresh, tags.
        ///
        /// ```swift
        /// configuration.entryOptions = EntryOptions(grace: "1h", hardTimeout: .seconds(2))
        /// ```
        public var entryOptions = EntryOptions()
        /// Receives every event, with its tier and duration. `nil`: none.
        public var observer: (any TieredStoreObserver)?
        /// Announces every change this store makes, so other instances drop their L1
        /// copies (see `RedisInvalidationBus`). `nil`: changes are not announced.
        public var invalidationPublisher: (any InvalidationPublisher)?
        /// Makes processes that miss the same key in `getOrSet` compute it once between
        /// them (see `RedisComputeLock`). `nil`: once per process.
        public var computeLock: (any ComputeLock)?
        /// How long the compute lock outlives a holder that stops renewing it: a holder
        /// renews it every third of this while it computes (where the lock can renew:
        /// `RedisComputeLock`), so a holder that dies loses it within this time, and one
        /// that computes longer keeps it.
        ///
        /// ```swift
        /// configuration.computeLockLease = .seconds(30)
        /// ```
        public var computeLockLease: Duration = .seconds(10)
        /// How long a process without the lock waits for the holder's value in L2 before
        /// computing it itself. A value computed after this wait, while another instance
        /// still holds the lock, is its callers' answer and is kept in this instance's L1
        /// (for `undeliveredL1Expiry` at most), but not written to L2: the holder's value is.
        ///
        /// ```swift
        /// configuration.computeLockWait = .seconds(30)   // the computation takes up to 20 s
        /// ```
        public var computeLockWait: Duration = .seconds(5)
        /// How often a process waiting for the compute lock's holder reads L2 again, and
        /// tries the lock, when nothing wakes it sooner: with an invalidation bus (or
        /// tracking), the holder's write, announced to this instance, does. At least 1 ms.
        ///
        /// ```swift
        /// configuration.computeLockPollInterval = .milliseconds(50)   // fewer reads while waiting
        /// ```
        public var computeLockPollInterval: Duration = .milliseconds(10)
        /// How far apart the clocks of the instances sharing L2 may be. A computation's
        /// start, which its tags are checked against, is moved back by this much, so an
        /// invalidation made by an instance whose clock is behind still reaches a value
        /// computed before it (at the cost of computing again a value whose computation
        /// began within this time after an invalidation of its tag). Instances on one host
        /// need none, the default; NTP keeps hosts within a few milliseconds.
        ///
        /// ```swift
        /// configuration.clockSkewTolerance = .milliseconds(50)
        /// ```
        public var clockSkewTolerance: Duration = .zero
        /// With an invalidation source (such as `RedisInvalidationBus`), the longest L1
        /// keeps a copy made while the source does not deliver other instances' changes:
        /// before its first subscription, and from a lost (or silently dead) subscription to
        /// the next. Their changes are then seen within this time; while delivering, within
        /// the bus's delivery, and L1 is dropped whenever delivery starts or stops.
        ///
        /// Also the longest L1 keeps a computed value L2 may not hold (its write failed, no
        /// lease could be taken, or none was because another instance held the compute lock
        /// past `computeLockWait`), and, on a store without an invalidation source, the
        /// longest a tag's instant read from L2 is known, so another instance's
        /// `invalidate(tags:)` is seen within this time in what this one reads from L2.
        ///
        /// ```swift
        /// configuration.undeliveredL1Expiry = "2s"
        /// ```
        public var undeliveredL1Expiry: Expiry = 5
        /// The coder of the values this store writes (to L2, and as L1's bytes); `nil` (the
        /// default): L2's (its configuration's `valueCoder`). L1's own coder plays no part:
        /// L1 keeps the Swift values written and read, beside the bytes L2 holds.
        ///
        /// ```swift
        /// configuration.valueCoder = .binary
        /// ```
        public var valueCoder: (any ValueCoder)? = nil
        /// Whether the coded values this store writes are compressed; `nil` (the default): as
        /// L2's configuration says.
        ///
        /// ```swift
        /// configuration.compression = .zlib(above: 1024)
        /// ```
        public var compression: ValueCompression? = nil
        /// Coders of your own whose entries this store still reads, besides L2's.
        ///
        /// ```swift
        /// configuration.previousValueCoders = [OldMessageCoder()]
        /// ```
        public var previousValueCoders: [any ValueCoder] = []

        #if Logging
        /// Where the store logs (with the `Logging` trait): L2 failures and timeouts and
        /// corrupt entries as warnings, L1 drops after an invalidation gap as notices, and
        /// hits, misses and writes at `debug`. `nil` (the default) logs nothing.
        ///
        /// ```swift
        /// configuration.logger = Logger(label: "cache")
        /// ```
        public var logger: Logger? = nil
        #endif

        #if Metrics
        /// How the store reports swift-metrics (with the `Metrics` trait): the events `hit`,
        /// `miss`, `fill`, `write`, `invalidate`, `compute`, `undecodable`, `failure`,
        /// `timeout` and `remoteInvalidation` as `strata_tiered_events_total` and, when
        /// timed, `strata_tiered_event_duration`, with dimensions `store`, `tier`, `event`.
        /// The other kinds (the resilience events, `staleWriteRefused`, `deliveryChanged`)
        /// are not exported: observe them with ``observer``. `nil` (the default) reports
        /// nothing.
        ///
        /// ```swift
        /// configuration.metrics = MetricsReporting(name: "sessions")
        /// ```
        public var metrics: MetricsReporting? = nil
        #endif

        /// A configuration with the given lifetimes.
        public init(
            defaultExpiry: Expiry? = nil,
            l1Expiry: Expiry? = nil,
            l2ReadFailures: ReadFailurePolicy = .throwError,
            l2Timeout: Duration? = .seconds(2),
            observer: (any TieredStoreObserver)? = nil,
            invalidationPublisher: (any InvalidationPublisher)? = nil,
            computeLock: (any ComputeLock)? = nil
        ) {
            self.defaultExpiry = defaultExpiry
            self.l1Expiry = l1Expiry
            self.l2ReadFailures = l2ReadFailures
            self.l2Timeout = l2Timeout
            self.observer = observer
            self.invalidationPublisher = invalidationPublisher
            self.computeLock = computeLock
        }

        /// The observers the configuration asks for: ``observer``, and a logger's and
        /// metrics' when the traits give them.
        func observers(storeName: String) -> [any TieredStoreObserver] {
            var observers: [any TieredStoreObserver] = []
            if let observer { observers.append(observer) }
            #if Logging
            if let logger { observers.append(LoggingObserver(logger: logger, store: storeName)) }
            #endif
            #if Metrics
            if let metrics { observers.append(MetricsObserver(metrics)) }
            #endif
            return observers
        }
    }

    /// What a read does when L2 fails.
    ///
    /// The default, ``throwError``, is right for a store used as a key-value store: a
    /// `get` that returned `nil` for a value that exists would be a wrong answer. A pure
    /// cache may prefer ``treatAsMiss``. Either way an L1 hit is still served, and the
    /// failure is counted and reported to the observer.
    public struct ReadFailurePolicy: Sendable, Hashable {
        private let treatsAsMiss: Bool
        /// Reads throw the L2's error. The default.
        public static let throwError = ReadFailurePolicy(treatsAsMiss: false)
        /// Reads answer as if L2 did not have the key.
        public static let treatAsMiss = ReadFailurePolicy(treatsAsMiss: true)

        var isMiss: Bool { treatsAsMiss }
    }
}

extension TieredStore {
    /// What this store writes with: its configuration's coder and compression where set,
    /// else L2's; it reads L2's coders and its configuration's previous coders.
    public var valueFormat: ValueFormat {
        let l2 = self.l2.valueFormat
        return ValueFormat(
            coder: configuration.valueCoder ?? l2.coder, compression: configuration.compression ?? l2.compression,
            previousCoders: configuration.previousValueCoders + l2.previousCoders + [l2.coder])
    }
}
