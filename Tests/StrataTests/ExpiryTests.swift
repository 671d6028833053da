import Strata
import Testing

@Suite("Expiry text")
struct ExpiryTests {
    static let millisecond: Int128 = 1_000_000
    static let second = 1_000 * millisecond
    static let minute = 60 * second
    static let hour = 60 * minute
    static let day = 24 * hour
    static let year = day * 36_525 / 100

    /// Text and the lifetime it means, in nanoseconds.
    static let valid: [(String, Int128)] = [
        ("10min", 10 * minute), ("90", 90 * second), ("1", second), ("1s", second), ("1 s", second),
        ("1sec", second), ("2secs", 2 * second), ("1second", second), ("3 seconds", 3 * second),
        ("250ms", 250 * millisecond), ("1 millisecond", millisecond), ("5 milliseconds", 5 * millisecond),
        ("1m", minute), ("1min", minute), ("2mins", 2 * minute), ("1minute", minute), ("5 minutes", 5 * minute),
        ("1h", hour), ("1hr", hour), ("2hrs", 2 * hour), ("1 hour", hour), ("3hours", 3 * hour),
        ("1d", day), ("1day", day), ("7 days", 7 * day), ("1w", 7 * day), ("1wk", 7 * day), ("2wks", 14 * day),
        ("1week", 7 * day), ("2 weeks", 14 * day), ("1mo", year / 12), ("1month", year / 12),
        ("6 months", year / 2), ("1y", year), ("1yr", year), ("2yrs", 2 * year), ("1year", year),
        ("10 years", 10 * year), ("1h 30min", 90 * minute), ("1h30m", 90 * minute), ("1h 30m 15s", 5_415 * second),
        ("1d 12h", 36 * hour), ("1.5h", 90 * minute), ("0.5s", 500 * millisecond), ("1.25 minutes", 75 * second),
        ("0.001s", millisecond), ("1_000ms", second), ("1,000ms", second), ("1,000,000ms", 1_000 * second),
        ("10MIN", 10 * minute), ("1H 30M", 90 * minute), ("  5s  ", 5 * second), ("1h\t30m", 90 * minute),
        ("1 h 1 h", 2 * hour), ("0.5ms", 500_000), ("1.5 days", 36 * hour), ("2 Weeks", 14 * day),
        ("10000y", 10_000 * year), ("1_0s", 10 * second), ("0.000000001s", 1), ("0s 1ms", millisecond),
        // A fraction is scaled before it is multiplied; leading zeros are not digits of a number's size.
        ("0.123456789012345678y", 123_456_789_012_345_678 * year / 1_000_000_000_000_000_000),
        ("0000000000000000000000000000001s", second), ("0.999999999999999999y", 999_999_999_999_999_999 * year / 1_000_000_000_000_000_000),
        ("9999.999999999999999999y", 9_999 * year + 999_999_999_999_999_999 * year / 1_000_000_000_000_000_000),
    ]

    /// Text that is not a lifetime.
    static let invalid: [String] = [
        "", "   ", "potato", "5potato", "-1h", "+1h", "0s", "0", "0ms 0s", "1e400s", "1e3s", "h", "1hh",
        "1.h", ".5h", "1..5h", "1,5h", "1,00s", "1_s", "_1s", "1__0s", "1s-", "1 h 30", "1h 30", "30 1h", "1h 30 potato", "1mss",
        "10001y", "99999999999999999999999999999y", "1000000000000000000000000000000000s", "∞", "1 µs",
        "1ns", "0.0000000001s", "1h;", "one hour", "1/2h", "NaN", "1,000,00ms",
    ]

    @Test("valid text parses to the exact lifetime", arguments: valid)
    func validText(text: String, nanoseconds: Int128) throws {
        let expiry = try Expiry(parsing: text)
        let (seconds, attoseconds) = try #require(expiry.duration).components
        #expect(Int128(seconds) * 1_000_000_000 + Int128(attoseconds / 1_000_000_000) == nanoseconds, "\(text)")
    }

    @Test("invalid text throws invalidExpiry quoting the text", arguments: invalid)
    func invalidText(text: String) {
        #expect {
            _ = try Expiry(parsing: text)
        } throws: { error in
            guard let error = error as? StrataError else { return false }
            return error.code == .invalidExpiry && error.description.contains("\"\(text)\"")
        }
    }

    @Test("an invalid text's message escapes its control characters and cuts a long text, wherever it quotes it")
    func controlCharactersEscaped() {
        for text in ["5min\n\u{1B}[31mred", "5min " + String(repeating: "x", count: 1_000)] {
            #expect {
                _ = try Expiry(parsing: text)
            } throws: { error in
                guard let error = error as? StrataError, error.code == .invalidExpiry else { return false }
                let message = error.description
                return !message.unicodeScalars.contains { $0.properties.generalCategory == .control } && message.utf8.count < 400
            }
        }
    }

    /// The lifetime `text` means, computed another way: exact rationals with arbitrary
    /// digit strings (no Int128 shortcuts, no digit limits), or `nil` when it is not a
    /// lifetime by the grammar. Only for the grammar the generator below writes.
    static func reference(_ parts: [(whole: String, fraction: String, unit: String)]) -> Int128? {
        let units: [String: Int128] = [
            "ms": millisecond, "s": second, "min": minute, "h": hour, "d": day, "w": 7 * day,
            "mo": year / 12, "y": year,
        ]
        var total: Int128 = 0
        for part in parts {
            guard let size = units[part.unit] else { return nil }
            let whole = part.whole.drop { $0 == "0" }
            if whole.count > 30 { return nil }
            guard let wholeValue = Int128(whole.isEmpty ? "0" : String(whole)) else { return nil }
            let (product, overflow) = wholeValue.multipliedReportingOverflow(by: size)
            if overflow || product > 10_000 * year { return nil }
            total += product
            let digits = part.fraction.prefix(18)
            if !digits.isEmpty {
                var scale: Int128 = 1
                for _ in digits { scale *= 10 }
                total += Int128(String(digits))! * size / scale
            }
            if total > 10_000 * year { return nil }
        }
        return total > 0 ? total : nil
    }

    @Test("fuzz: random lifetimes parse to the reference value or throw invalidExpiry, never trap")
    func fuzz() async throws {
        var generator = SystemRandomNumberGenerator()
        let units = ["ms", "s", "min", "h", "d", "w", "mo", "y"]
        func digits(_ count: Int) -> String {
            String((0..<count).map { _ in "0123456789".randomElement(using: &generator)! })
        }
        // 10,000 texts each way, suspending every 250 so that this loop never holds one of
        // the few cooperative threads for long (other tests' continuations wait for them).
        for round in 0..<10_000 {
            if round % 250 == 0 { await Task.yield() }
            let parts = (0..<Int.random(in: 1...3, using: &generator)).map { _ in
                (
                    whole: digits(Int.random(in: 1...34, using: &generator)),
                    fraction: Bool.random(using: &generator) ? digits(Int.random(in: 1...25, using: &generator)) : "",
                    unit: units.randomElement(using: &generator)!
                )
            }
            let text = parts.map { $0.whole + ($0.fraction.isEmpty ? "" : "." + $0.fraction) + $0.unit }.joined(separator: " ")
            let expected = Self.reference(parts)
            do {
                let expiry = try Expiry(parsing: text)
                let (seconds, attoseconds) = try #require(expiry.duration).components
                let parsed = Int128(seconds) * 1_000_000_000 + Int128(attoseconds / 1_000_000_000)
                #expect(parsed == expected, "\(text)")
                #expect(parsed > 0 && parsed <= 10_000 * Self.year, "\(text)")
            } catch let error as StrataError {
                #expect(error.code == .invalidExpiry && expected == nil, "\(text): \(error)")
            }
        }
        // Arbitrary bytes: an answer or invalidExpiry, never a trap.
        let alphabet = Array("0123456789.,_ smhdwyoMHS-+eE\t∞µ")
        for round in 0..<10_000 {
            if round % 250 == 0 { await Task.yield() }
            let text = String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            do {
                _ = try Expiry(parsing: text)
            } catch let error as StrataError {
                #expect(error.code == .invalidExpiry, "\(text)")
            }
        }
    }

    @Test("the table covers at least 60 inputs")
    func tableSize() {
        #expect(Self.valid.count + Self.invalid.count >= 60)
    }

    @Test("literals, Duration and never")
    func literals() throws {
        let fromString: Expiry = "1h 30m"
        let fromInteger: Expiry = 90
        #expect(fromString.duration == .seconds(5_400))
        #expect(fromInteger.duration == .seconds(90))
        #expect(Expiry(.milliseconds(250)).duration == .milliseconds(250))
        #expect(Expiry.never.duration == nil)
        #expect(throws: StrataError.invalidExpiry) { try Expiry(validating: .zero) }
        #expect(throws: StrataError.invalidExpiry) { try Expiry(validating: .seconds(-1)) }
        #expect(throws: StrataError.invalidExpiry) { try Expiry(validating: .seconds(Int64.max)) }
    }

    @Test("description parses back to the same lifetime")
    func descriptionRoundTrip() throws {
        for (text, _) in Self.valid {
            let expiry = try Expiry(parsing: text)
            #expect(try Expiry(parsing: expiry.description) == expiry, "\(text) → \(expiry)")
        }
        #expect(Expiry("1h 30m").description == "1h 30min")
        #expect(Expiry.never.description == "never")
    }
}
