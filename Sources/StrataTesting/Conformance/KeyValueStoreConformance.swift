/// The checks every `KeyValueStore` must pass: one per sentence of the contract in
/// the `KeyValueStore` documentation and the API guide.
///
/// A backend's tests run every check against fresh stores made by a ``Context``. With
/// Swift Testing, one test per check:
///
/// ```swift
/// let context = KeyValueStoreConformance.Context { defaultExpiry in
///     MyStore(defaultExpiry: defaultExpiry, clock: clock)
/// } advanceTime: { duration in
///     clock.advance(by: duration)
/// }
///
/// @Test(arguments: KeyValueStoreConformance.checks)
/// func conformance(_ check: KeyValueStoreConformance.Check) async throws {
///     try await check.run(context)
/// }
/// ```
///
/// Each check throws a ``ConformanceFailure`` naming the expectation that failed, so the
/// suite works with XCTest too (`try await KeyValueStoreConformance.runAll(context)`).
public enum KeyValueStoreConformance {
    /// How the checks make stores and move time.
    public struct Context: Sendable {
        /// Makes a new, empty store whose default lifetime is the argument (`nil`: none).
        public var makeStore: @Sendable (_ defaultExpiry: Expiry?) async throws -> any KeyValueStore
        /// Moves the stores' time forward: advance a `ManualClock`, or sleep for a store
        /// with its own notion of time (a server's).
        public var advanceTime: @Sendable (Duration) async throws -> Void
        /// The short lifetime the lifetime checks give entries, in seconds: 1 with a manual
        /// clock; longer for a store on real time, so a busy machine cannot expire an entry
        /// between two calls that expect it alive.
        public var shortLifetimeSeconds: Int64

        /// A context from a store factory and a way to move time.
        public init(
            makeStore: @escaping @Sendable (_ defaultExpiry: Expiry?) async throws -> any KeyValueStore,
            advanceTime: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
            shortLifetimeSeconds: Int64 = 1
        ) {
            self.makeStore = makeStore
            self.advanceTime = advanceTime
            self.shortLifetimeSeconds = shortLifetimeSeconds
        }

        /// The short lifetime, as an `Expiry`.
        var short: Expiry { Expiry(.seconds(shortLifetimeSeconds)) }

        /// Moves time past the short lifetime (by half as much again).
        func passShortLifetime() async throws {
            try await advanceTime(.milliseconds(shortLifetimeSeconds * 1_500))
        }

        /// Ends a stretch of calls that must all happen while an entry written at `start`
        /// with the short lifetime is alive. If the lifetime ran out in real time first (a
        /// machine too busy to make a few calls in 3 s), what follows proves nothing, so
        /// the check is run again on a fresh store instead of failing.
        func requireShortLifetimeLasted(since start: ContinuousClock.Instant) throws {
            if ContinuousClock.now - start >= .seconds(shortLifetimeSeconds) { throw ShortLifetimeRanOut() }
        }

        /// The same stores seen through `prefixed(prefix)`, so a view runs the whole suite.
        ///
        /// ```swift
        /// let viewContext = context.prefixed("tenant:7:")
        /// ```
        public func prefixed(_ prefix: String) -> Context {
            let makeStore = self.makeStore
            return Context(
                makeStore: { try await makeStore($0).prefixed(prefix) }, advanceTime: advanceTime,
                shortLifetimeSeconds: shortLifetimeSeconds)
        }
    }

    /// One sentence of the contract and the code that checks it.
    public struct Check: Sendable, CustomStringConvertible {
        /// The sentence this check proves, for example "a value is gone after it expires".
        public let sentence: String
        /// Runs the check against stores from `context`; throws ``ConformanceFailure``.
        public let run: @Sendable (Context) async throws -> Void

        init(_ sentence: String, _ run: @escaping @Sendable (Context) async throws -> Void) {
            self.sentence = sentence
            self.run = run
        }

        /// The sentence.
        public var description: String { sentence }
    }

    /// Every check, in the order of the contract.
    public static let checks: [Check] =
        valueChecks + lifetimeChecks + keyChecks + prefixChecks
        + atomicChecks + leaseChecks + computeChecks + resilienceChecks + consistencyChecks + lifecycleChecks + bulkChecks
        + coderChecks

    /// Runs every check and throws the failures together.
    ///
    /// ```swift
    /// try await KeyValueStoreConformance.runAll(context)   // from an XCTest
    /// ```
    public static func runAll(_ context: Context) async throws {
        var failures: [String] = []
        for check in checks {
            do {
                try await check.run(context)
            } catch {
                failures.append("\(check.sentence): \(error)")
            }
        }
        if !failures.isEmpty {
            throw ConformanceFailure(message: failures.joined(separator: "\n"), location: "runAll")
        }
    }
}

/// A small Codable value the checks store.
struct Sample: Codable, Sendable, Equatable {
    var id: Int
    var name: String
    var tags: [String]
}

/// Another shape, for reading a value as a type it does not decode to.
struct OtherShape: Codable, Sendable, Equatable {
    var count: Double
    var required: [Int]
}

/// A check's timing assumption did not hold (see `requireShortLifetimeLasted`).
struct ShortLifetimeRanOut: Error {}

/// Runs `body` with a fresh store and closes the store afterwards; a body whose short
/// lifetime ran out before it could use it runs again, up to eight times, after a pause that
/// grows (a loaded machine can hold a task back for seconds, several 3 s lifetimes in a row:
/// the check is only made when its calls fit the lifetime, and never passes without it).
func withStore(
    _ context: KeyValueStoreConformance.Context,
    defaultExpiry: Expiry? = nil,
    _ body: (any KeyValueStore) async throws -> Void
) async throws {
    let attempts = 8
    for attempt in 1...attempts {
        let store = try await context.makeStore(defaultExpiry)
        do {
            try await body(store)
            try await store.close()
            return
        } catch is ShortLifetimeRanOut {
            try? await store.close()
            if attempt == attempts {
                throw ConformanceFailure(
                    message:
                        "\(attempts) attempts in a row could not make a few calls within the \(context.shortLifetimeSeconds) s lifetime",
                    location: #fileID)
            }
            try await Task.sleep(for: .milliseconds(250 * attempt))
        } catch {
            try? await store.close()
            throw error
        }
    }
}
