/// Orders a store's tag invalidations against its writes and computations exactly, even
/// within one millisecond of its clock.
///
/// An entry is invalid when one of its tags was invalidated at or after the instant the
/// entry's value was written (a `set`) or its computation began (`getOrSet`). Instants are
/// the store's clock in milliseconds, so an invalidation and a write in the same millisecond
/// would tie, and a tie counts as invalidated: `invalidate(tags:)` followed at once by a
/// `set` with the tag would hide the new value. This clock breaks ties the way they
/// happened in this process: a stamp taken after an invalidation is later than it (by a
/// millisecond when the clock has not moved), and an invalidation after a stamp is at or
/// after it. It moves ahead of the clock only when invalidations and writes alternate within
/// one millisecond, by one millisecond each time.
///
/// One clock per store (the store that keeps the records: a tiered store, or a store
/// itself); stores on different clocks (a test's manual clock, the system's) never share one.
package final class HybridClock: Sendable {
    private struct State {
        var lastStamp: Int64 = .min
        var lastInvalidation: Int64 = .min
    }

    private let state = Lock(State())

    package init() {}

    /// The instant of a write or a computation's start, later than every invalidation
    /// stamped before it.
    package func writeStamp(now: Int64) -> Int64 {
        state.withLock { state in
            let stamp = state.lastInvalidation == .min ? now : max(now, state.lastInvalidation + 1)
            state.lastStamp = max(state.lastStamp, stamp)
            return stamp
        }
    }

    /// The instant of an invalidation: at or after every stamp taken before it.
    package func invalidationStamp(now: Int64) -> Int64 {
        state.withLock { state in
            let stamp = max(now, state.lastStamp)
            state.lastInvalidation = max(state.lastInvalidation, stamp)
            state.lastStamp = max(state.lastStamp, stamp)
            return stamp
        }
    }

    /// The clock of `store`: a store's own, kept for as long as the store lives.
    package static func of(_ store: some KeyValueStore) -> HybridClock {
        StoreProcessState.of(store).hybridClock
    }
}
