import Synchronization

/// A count that concurrent tasks add to: how many times a computation ran, how many
/// requests an origin served, how many calls finished.
///
/// For the test kit's checks and Strata's own tests (not part of the public API).
///
/// ```swift
/// let computations = Counter()
/// _ = try await cache.getOrSet("report", as: String.self) {
///     computations.increment()
///     return "built"
/// }
/// #expect(computations.count == 1)
/// ```
package final class Counter: Sendable {
    private let value: Atomic<Int>

    /// A counter at `start` (0 by default).
    package init(_ start: Int = 0) { value = Atomic(start) }

    /// Adds one; the count after it.
    @discardableResult
    package func increment() -> Int { value.add(1, ordering: .relaxed).newValue }

    /// The count now.
    package var count: Int { value.load(ordering: .relaxed) }
}
