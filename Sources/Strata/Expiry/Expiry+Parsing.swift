extension Expiry {
    /// Parses a lifetime written as people say it, such as `"10min"`, `"1h 30m"` or `"1.5 days"`.
    ///
    /// The text is one or more parts, each a number followed by an optional unit, with
    /// optional spaces anywhere between; case does not matter. A number is an integer or
    /// a decimal (`1.5`) whose digits may be grouped with `_` (`1_000`) or with `,` in
    /// groups of three (`1,000`; `1,5` is rejected rather than guessed). Units:
    ///
    /// | unit | aliases |
    /// |---|---|
    /// | millisecond | `ms` `millisecond` `milliseconds` |
    /// | second (also no unit) | `s` `sec` `secs` `second` `seconds` |
    /// | minute | `m` `min` `mins` `minute` `minutes` |
    /// | hour | `h` `hr` `hrs` `hour` `hours` |
    /// | day | `d` `day` `days` |
    /// | week | `w` `wk` `wks` `week` `weeks` |
    /// | month (a twelfth of a year) | `mo` `month` `months` |
    /// | year (365.25 days) | `y` `yr` `yrs` `year` `years` |
    ///
    /// A number without a unit means seconds only when it is the whole text (`"90"`);
    /// in `"1h 30"` it would be a guess, so that is an error.
    ///
    /// Anything else throws a ``StrataError`` with code ``StrataError/Code/invalidExpiry``
    /// that quotes the text: an unknown unit (`"5potato"`), a sign (`"-1h"`), an empty text,
    /// a lifetime of zero (`"0s"`, or one that rounds to less than a nanosecond), or one
    /// longer than ``maximumDuration``.
    ///
    /// ```swift
    /// let lifetime = try Expiry(parsing: request.query["ttl"] ?? "5min")
    /// ```
    ///
    /// - Throws: ``StrataError`` with code ``StrataError/Code/invalidExpiry``, quoting
    ///   `text` and saying what is wrong, for any text the grammar above rejects.
    public init(parsing text: String) throws {
        var parser = ExpiryParser(text: text)
        self.init(checkedNanoseconds: try parser.parse())
    }
}

/// A single-pass parser over the UTF-8 bytes of expiry text, computing in exact
/// integer nanoseconds so that `"1h 30min"` is exact and overflow is detected.
struct ExpiryParser {
    let text: String
    private let bytes: [UInt8]
    private var index = 0

    init(text: String) {
        self.text = text
        self.bytes = Array(text.utf8)
    }

    private static let nanosecondsPerUnit: [String: Int128] = {
        let millisecond: Int128 = 1_000_000
        let second = 1_000 * millisecond
        let minute = 60 * second
        let hour = 60 * minute
        let day = 24 * hour
        let year = day * 36_525 / 100
        let table: [(Int128, [String])] = [
            (millisecond, ["ms", "millisecond", "milliseconds"]),
            (second, ["s", "sec", "secs", "second", "seconds"]),
            (minute, ["m", "min", "mins", "minute", "minutes"]),
            (hour, ["h", "hr", "hrs", "hour", "hours"]),
            (day, ["d", "day", "days"]),
            (7 * day, ["w", "wk", "wks", "week", "weeks"]),
            (year / 12, ["mo", "month", "months"]),
            (year, ["y", "yr", "yrs", "year", "years"]),
        ]
        var units: [String: Int128] = [:]
        for (size, names) in table {
            for name in names { units[name] = size }
        }
        return units
    }()

    mutating func parse() throws -> Int128 {
        skipSpaces()
        guard index < bytes.count else { throw failure("it is empty") }
        var total: Int128 = 0
        var parts = 0
        var hasUnitlessPart = false
        while index < bytes.count {
            parts += 1
            let (whole, fraction, fractionDigits) = try number()
            skipSpaces()
            let unitStart = index
            while index < bytes.count, Self.isLetter(bytes[index]) { index += 1 }
            let unitName = String(decoding: bytes[unitStart..<index], as: UTF8.self).lowercased()
            let size: Int128
            if unitName.isEmpty {
                hasUnitlessPart = true
                size = Self.nanosecondsPerUnit["s"]!
            } else if let known = Self.nanosecondsPerUnit[unitName] {
                size = known
            } else {
                throw failure("\"\(unitName)\" is not a unit (use ms, s, min, h, d, w, mo or y)")
            }
            var part = try multiply(whole, size)
            if fractionDigits > 0 {
                // fraction / 10^digits of a unit, truncated to whole nanoseconds. The
                // fraction is below one unit, so this is scaled without the whole part's
                // limit: at most 10^18 × a year in nanoseconds (3.2e34), far inside Int128.
                var scale: Int128 = 1
                for _ in 0..<fractionDigits { scale *= 10 }
                part += fraction * size / scale
            }
            total += part
            guard total <= Expiry.maximumNanoseconds else {
                throw failure("it is longer than the longest lifetime, 10,000 years")
            }
            skipSpaces()
        }
        // "1h 30" could mean 30 minutes or 30 seconds: rather than guess, a bare number
        // is seconds only when it is the whole text.
        if hasUnitlessPart && parts > 1 {
            throw failure("in text of several parts every number needs a unit")
        }
        guard total > 0 else {
            throw failure("a lifetime must be positive; use Expiry.never for no expiry")
        }
        return total
    }

    /// Reads `digits[.digits]`, where digits may be grouped by `_` or by `,` in threes.
    /// Returns the whole part, the fraction's digits as an integer, and how many there are.
    private mutating func number() throws -> (Int128, Int128, Int) {
        guard index < bytes.count else { throw failure("a number is missing") }
        let first = bytes[index]
        if first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            throw failure("a lifetime has no sign; it must be positive")
        }
        guard Self.isDigit(first) else {
            throw failure("expected a number at \(StrataError.quoted(rest))")
        }
        let (whole, _) = try digits(allowCommas: true)
        guard index < bytes.count, bytes[index] == UInt8(ascii: ".") else { return (whole, 0, 0) }
        index += 1
        guard index < bytes.count, Self.isDigit(bytes[index]) else {
            throw failure("a decimal point must be followed by digits")
        }
        let (fraction, count) = try digits(allowCommas: false)
        return (whole, fraction, count)
    }

    /// Reads a run of digits with separators between digits only; returns the value
    /// (at most 30 significant digits kept, enough for nanoseconds of 10,000 years) and
    /// the number of digits read.
    private mutating func digits(allowCommas: Bool) throws -> (Int128, Int) {
        var value: Int128 = 0
        var count = 0
        var significant = 0  // digits after the leading zeros of a whole number
        var digitsSinceComma = -1  // -1: no comma seen yet in this number
        var digitsBeforeFirstComma = 0
        while index < bytes.count {
            let byte = bytes[index]
            if Self.isDigit(byte) {
                let digit = Int128(byte - UInt8(ascii: "0"))
                if allowCommas {
                    // A whole number: leading zeros are not digits of its size.
                    if value > 0 || digit > 0 { significant += 1 }
                    guard significant <= 30 else { throw failure("the number is too large") }
                    value = value * 10 + digit
                } else if count < 18 {
                    // A fraction keeps 18 digits: further ones are below a nanosecond of a year.
                    value = value * 10 + digit
                }
                count += 1
                if digitsSinceComma >= 0 { digitsSinceComma += 1 } else { digitsBeforeFirstComma += 1 }
                index += 1
            } else if byte == UInt8(ascii: "_") || (allowCommas && byte == UInt8(ascii: ",")) {
                let next = index + 1 < bytes.count ? bytes[index + 1] : 0
                guard Self.isDigit(next) else {
                    throw failure("a digit separator must stand between digits")
                }
                if byte == UInt8(ascii: ",") {
                    guard digitsSinceComma == -1 || digitsSinceComma == 3, digitsBeforeFirstComma <= 3
                    else { throw failure("',' groups digits in threes, as in 1,000 (write 1.5, not 1,5)") }
                    digitsSinceComma = 0
                }
                index += 1
            } else {
                break
            }
        }
        if digitsSinceComma >= 0 && digitsSinceComma != 3 {
            throw failure("',' groups digits in threes, as in 1,000 (write 1.5, not 1,5)")
        }
        return (value, allowCommas ? count : min(count, 18))
    }

    private func multiply(_ a: Int128, _ b: Int128) throws -> Int128 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow, product <= Expiry.maximumNanoseconds * 1_000_000_000_000 else {
            throw failure("it is longer than the longest lifetime, 10,000 years")
        }
        return product
    }

    private mutating func skipSpaces() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
    }

    private var rest: String { String(decoding: bytes[index...], as: UTF8.self) }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    private func failure(_ reason: String) -> StrataError {
        StrataError(
            code: .invalidExpiry,
            message: "invalid expiry text \(StrataError.quoted(text)): \(reason)")
    }
}
