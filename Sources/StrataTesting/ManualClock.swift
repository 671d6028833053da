import Strata
import Synchronization

/// A clock that moves only when a test moves it, so lifetimes can be tested without sleeping.
///
/// Give the same clock to every store a test uses (both tiers of a tiered store, say).
///
/// ```swift
/// let clock = ManualClock()
/// let memory = MemoryStore(configuration: .init(clock: clock))
/// try await memory.set("k", "v", expires: "1min")
/// clock.advance(by: .seconds(61))
/// try await memory.get("k", as: String.self)   // nil
/// ```
public final class ManualClock: StrataClock {
    private let milliseconds: Atomic<Int64>

    /// A clock that starts at `start` (by default, the real time now).
    public init(start: Timestamp = SystemClock().now()) {
        milliseconds = Atomic(start.millisecondsSince1970)
    }

    /// The clock's current instant.
    public func now() -> Timestamp {
        Timestamp(millisecondsSince1970: milliseconds.load(ordering: .acquiring))
    }

    /// Moves the clock forward by `duration` (rounded down to whole milliseconds).
    ///
    /// ```swift
    /// clock.advance(by: .seconds(5))
    /// ```
    public func advance(by duration: Duration) {
        milliseconds.add(duration.wholeMilliseconds(), ordering: .acquiringAndReleasing)
    }
}
