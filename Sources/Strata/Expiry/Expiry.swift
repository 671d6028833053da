/// How long an entry lives: a positive duration, or ``never``.
///
/// Lifetimes are written as people say them. A string literal is parsed when the program
/// runs, where it is used (an invalid literal is a programmer error and traps with a
/// message naming it); text that arrives from outside goes through ``init(parsing:)``,
/// which throws.
///
/// ```swift
/// let a: Expiry = "10min"               // string literal
/// let b: Expiry = 90                    // integer literal = seconds
/// let c = try Expiry(parsing: "1h 30m") // runtime text; throws StrataError(.invalidExpiry)
/// let d = Expiry(.milliseconds(250))    // from Duration
/// let e = Expiry.never
/// a.duration                            // Duration? (nil for .never)
/// ```
///
/// Zero and negative lifetimes are errors: never "forever", never "already expired".
/// The longest lifetime is ``maximumDuration`` (10,000 years).
public struct Expiry: Sendable, Hashable {
    /// The lifetime, at most ``maximumDuration``; `nil` is ``never``.
    private let lifetime: Duration?

    /// The longest lifetime an `Expiry` can hold: 10,000 years of 365.25 days.
    public static let maximumDuration: Duration = .seconds(Int64(10_000 * 31_557_600))

    static let maximumNanoseconds = Int128(10_000) * 31_557_600 * 1_000_000_000

    /// An entry that never expires; overrides a store's default lifetime.
    ///
    /// ```swift
    /// try await store.set("config", config, expires: .never)
    /// ```
    public static let never = Expiry(lifetime: nil)

    private init(lifetime: Duration?) {
        self.lifetime = lifetime
    }

    /// A lifetime of `nanoseconds`, already checked to be positive and within the maximum.
    init(checkedNanoseconds nanoseconds: Int128) {
        self.lifetime = Duration(
            secondsComponent: Int64(nanoseconds / 1_000_000_000),
            attosecondsComponent: Int64(nanoseconds % 1_000_000_000) * 1_000_000_000)
    }

    /// A lifetime of `duration`, which must be positive and at most ``maximumDuration``.
    ///
    /// A zero, negative or longer duration is a programmer error and traps; use
    /// ``init(validating:)`` for durations computed at run time.
    ///
    /// ```swift
    /// let short = Expiry(.milliseconds(250))
    /// ```
    public init(_ duration: Duration) {
        do {
            try self.init(validating: duration)
        } catch {
            preconditionFailure("\(error)")
        }
    }

    /// A lifetime of `duration`, throwing ``StrataError/Code/invalidExpiry`` when it is not
    /// positive or longer than ``maximumDuration``.
    ///
    /// ```swift
    /// let lifetime = try Expiry(validating: .seconds(config.ttlSeconds))
    /// ```
    public init(validating duration: Duration) throws {
        let (seconds, attoseconds) = duration.components
        let total = Int128(seconds) * 1_000_000_000 + Int128(attoseconds / 1_000_000_000)
        guard total > 0 else {
            throw StrataError(
                code: .invalidExpiry,
                message: "the lifetime \(duration) is not positive; use Expiry.never for no expiry")
        }
        guard total <= Expiry.maximumNanoseconds else {
            throw StrataError(
                code: .invalidExpiry, message: "the lifetime \(duration) is longer than 10,000 years")
        }
        self.init(checkedNanoseconds: total)
    }

    /// The lifetime as a `Duration`, or `nil` for ``never``.
    ///
    /// ```swift
    /// (Expiry("1min")).duration   // .seconds(60)
    /// ```
    public var duration: Duration? { lifetime }

    /// The lifetime in whole nanoseconds; `nil` for ``never``.
    var nanoseconds: Int128? {
        lifetime.map { Int128($0.components.seconds) * 1_000_000_000 + Int128($0.components.attoseconds / 1_000_000_000) }
    }

    /// The lifetime in whole milliseconds, rounded up so a sub-millisecond lifetime is
    /// still a lifetime; `nil` for ``never``.
    package var milliseconds: Int64? {
        nanoseconds.map { Int64(($0 + 999_999) / 1_000_000) }
    }

    /// The instant an entry written at `now` expires; `nil` for ``never``.
    func deadline(from now: Timestamp) -> Timestamp? {
        milliseconds.map { now.adding(milliseconds: $0) }
    }
}

extension Expiry: ExpressibleByStringLiteral {
    /// Parses a literal such as `"10min"`; an invalid literal traps, naming it.
    ///
    /// ```swift
    /// let lifetime: Expiry = "1h 30m"
    /// ```
    public init(stringLiteral text: String) {
        do {
            try self.init(parsing: text)
        } catch {
            preconditionFailure("invalid Expiry literal \(StrataError.quoted(text)): \(error)")
        }
    }
}

extension Expiry: ExpressibleByIntegerLiteral {
    /// A literal number of seconds; zero or a negative literal traps, naming it.
    ///
    /// ```swift
    /// let lifetime: Expiry = 90   // 90 seconds
    /// ```
    public init(integerLiteral seconds: Int64) {
        precondition(
            seconds > 0 && seconds <= 10_000 * 31_557_600,
            "invalid Expiry literal \(seconds): a lifetime must be a positive number of seconds"
                + " (use Expiry.never for no expiry)")
        self.lifetime = .seconds(seconds)
    }
}

extension Expiry: CustomStringConvertible {
    /// The lifetime in the units people write, for example `1h 30min` or `never`.
    ///
    /// The text parses back to the same lifetime: `Expiry(parsing: e.description) == e`.
    public var description: String {
        guard var rest = nanoseconds else { return "never" }
        let units: [(Int128, String)] = [
            (86_400_000_000_000, "d"), (3_600_000_000_000, "h"), (60_000_000_000, "min"),
            (1_000_000_000, "s"), (1_000_000, "ms"),
        ]
        var parts: [String] = []
        for (size, name) in units where rest >= size {
            parts.append("\(rest / size)\(name)")
            rest %= size
        }
        if rest > 0 {
            // Below a millisecond: a decimal number of milliseconds, exact to the nanosecond.
            let fraction = String(rest + 1_000_000).dropFirst()  // six digits, leading zeros kept
            parts.append("0.\(fraction.replacingTrailingZeros())ms")
        }
        return parts.joined(separator: " ")
    }
}

extension Expiry: Codable {
    /// Decodes an expiry from its text, for example `"10min"` in a configuration file.
    ///
    /// ```swift
    /// struct Config: Codable { var ttl: Expiry }   // {"ttl": "1h 30m"}
    /// ```
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        self = text.lowercased() == "never" ? .never : try Expiry(parsing: text)
    }

    /// Encodes the expiry as its ``description`` text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Substring {
    fileprivate func replacingTrailingZeros() -> Substring {
        var text = self
        while text.last == "0" { text.removeLast() }
        return text
    }
}
