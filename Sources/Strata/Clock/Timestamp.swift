#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A wall-clock instant, in whole milliseconds since 1970-01-01 00:00:00 UTC.
///
/// Stores record when an entry expires as a `Timestamp`, so a lifetime survives a
/// restart (a file or a database row holds the instant, not a countdown) and the
/// remaining lifetime of an entry read from a second tier is exact to the millisecond.
///
/// ```swift
/// let now = SystemClock().now()
/// let inOneMinute = now.adding(milliseconds: 60_000)
/// ```
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01 00:00:00 UTC.
    public var millisecondsSince1970: Int64

    /// The instant `millisecondsSince1970` milliseconds after the Unix epoch.
    ///
    /// ```swift
    /// let epoch = Timestamp(millisecondsSince1970: 0)
    /// ```
    public init(millisecondsSince1970: Int64) {
        self.millisecondsSince1970 = millisecondsSince1970
    }

    /// The instant `milliseconds` later, saturating instead of overflowing.
    ///
    /// ```swift
    /// let later = now.adding(milliseconds: 1_500)
    /// ```
    public func adding(milliseconds: Int64) -> Timestamp {
        let (sum, overflow) = millisecondsSince1970.addingReportingOverflow(milliseconds)
        return Timestamp(millisecondsSince1970: overflow ? (milliseconds > 0 ? .max : .min) : sum)
    }

    /// Milliseconds from `self` until `later` (negative when `later` is earlier; saturated at
    /// `Int64.min` and `Int64.max`).
    ///
    /// ```swift
    /// let remaining = now.milliseconds(until: deadline)
    /// ```
    public func milliseconds(until later: Timestamp) -> Int64 {
        // Saturating: between the earliest and the latest instants the difference overflows,
        // and a wrapped one turned an instant long past into a lifetime of millennia.
        let (difference, overflow) = later.millisecondsSince1970.subtractingReportingOverflow(millisecondsSince1970)
        return overflow ? (later.millisecondsSince1970 > millisecondsSince1970 ? .max : .min) : difference
    }

    /// Compares instants.
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSince1970 < rhs.millisecondsSince1970
    }

    /// The milliseconds since the epoch, for example `1763740800000ms`.
    public var description: String { "\(millisecondsSince1970)ms" }
}

/// The source of the current wall-clock time for a store.
///
/// Stores read the time through a clock so tests can move it without sleeping
/// (`ManualClock` in StrataTesting). A clock must be cheap: a memory hit with a
/// lifetime reads it once.
///
/// ```swift
/// struct OffsetClock: StrataClock {
///     func now() -> Timestamp { SystemClock().now().adding(milliseconds: 5_000) }
/// }
/// ```
public protocol StrataClock: Sendable {
    /// The current instant.
    func now() -> Timestamp
}

/// The system's real-time clock (`CLOCK_REALTIME`).
///
/// ```swift
/// let store = MemoryStore(configuration: .init(clock: SystemClock()))
/// ```
public struct SystemClock: StrataClock {
    /// Creates the system clock.
    public init() {}

    /// The current wall-clock instant.
    @inlinable
    public func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(millisecondsSince1970: Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000)
    }
}
