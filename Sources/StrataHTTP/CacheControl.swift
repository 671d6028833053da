/// The directives of a `Cache-Control` field (RFC 9111 §5.2) that a private cache acts on.
///
/// Unknown directives are ignored. A directive given twice keeps its first value; a
/// `max-age` whose value is not a number makes the response stale (§4.2.1), other
/// malformed values are ignored.
struct CacheControl: Sendable, Equatable {
    var maxAge: Int64?
    var noStore = false
    var noCache = false
    var mustRevalidate = false
    var isPublic = false
    var immutable = false
    var staleWhileRevalidate: Int64?
    var staleIfError: Int64?
    // Request directives.
    var maxStale: Int64?
    var minFresh: Int64?

    /// The directives this type acts on, in the order of `init`'s bits.
    private static let known = [
        "max-age", "no-store", "no-cache", "must-revalidate", "public", "immutable", "stale-while-revalidate", "stale-if-error",
        "max-stale", "min-fresh",
    ]

    /// The largest delta-seconds a cache must understand (RFC 9111 §1.2.2).
    static let deltaSecondsLimit: Int64 = 2_147_483_648

    init(_ header: String?) {
        guard let header else { return }
        // The directives acted on that were seen, one bit each (no set of strings: a
        // stored response's field is parsed on every hit); an unknown one is skipped.
        var seen: UInt16 = 0
        Self.forEachDirective(header) { name, value in
            guard let bit = Self.known.firstIndex(of: name), seen & (1 << bit) == 0 else { return }
            seen |= 1 << bit
            switch bit {
            case 0: maxAge = Self.deltaSeconds(value) ?? 0
            case 1: noStore = true
            // `no-cache="field"` is treated as plain no-cache: revalidating the whole
            // response is always allowed, and simpler than storing it without the field.
            case 2: noCache = true
            case 3: mustRevalidate = true
            case 4: isPublic = true
            case 5: immutable = true
            case 6: staleWhileRevalidate = Self.deltaSeconds(value)
            case 7: staleIfError = Self.deltaSeconds(value)
            // A bare max-stale accepts any staleness: the largest delta-seconds (RFC 9111
            // §1.2.2), so that it counts in milliseconds without overflow as every other does.
            case 8: maxStale = value == nil ? Self.deltaSecondsLimit : Self.deltaSeconds(value)
            case 9: minFresh = Self.deltaSeconds(value)
            default: break
            }
        }
    }

    /// Splits `a, b=1, c="x, y"` into lowercased names and unquoted values.
    ///
    /// Over UTF-8 bytes: a stored response's field is parsed on every hit. The separators
    /// are ASCII, so a multi-byte character is copied through whole.
    static func directives(_ header: String) -> [(String, String?)] {
        var result: [(String, String?)] = []
        forEachDirective(header) { result.append(($0, $1)) }
        return result
    }

    /// Calls `body` with each directive's lowercased name and unquoted value, in order,
    /// without collecting them.
    static func forEachDirective(_ header: String, _ body: (String, String?) -> Void) {
        let comma = UInt8(ascii: ","), equals = UInt8(ascii: "="), quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var header = header
        header.withUTF8 { buffer in
            var bytes = buffer[...]
            while !bytes.isEmpty {
                bytes = bytes.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == comma }
                let name = bytes.prefix { $0 != equals && $0 != comma }
                bytes = bytes[name.endIndex...]
                var value: String?
                if bytes.first == equals {
                    bytes = bytes.dropFirst()
                    if bytes.first == quote {
                        bytes = bytes.dropFirst()
                        var quoted: [UInt8] = []
                        while let next = bytes.first, next != quote {
                            bytes = bytes.dropFirst()
                            if next == backslash, let escaped = bytes.first {
                                quoted.append(escaped)
                                bytes = bytes.dropFirst()
                            } else {
                                quoted.append(next)
                            }
                        }
                        bytes = bytes.dropFirst()
                        value = String(decoding: quoted, as: UTF8.self)
                        bytes = bytes.drop { $0 != comma }
                    } else {
                        let token = bytes.prefix { $0 != comma }
                        bytes = bytes[token.endIndex...]
                        value = String(decoding: token, as: UTF8.self).trimmingWhitespace
                    }
                }
                let trimmed = String(decoding: name, as: UTF8.self).trimmingWhitespace.lowercasedToken
                if !trimmed.isEmpty { body(trimmed, value) }
            }
        }
    }

    /// A delta-seconds value (RFC 9111 §1.2.2): digits only, capped at 2^31.
    static func deltaSeconds(_ text: String?) -> Int64? {
        guard let text, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        var value: Int64 = 0
        for digit in text.utf8 {
            value = value * 10 + Int64(digit - 48)
            if value >= deltaSecondsLimit { return deltaSecondsLimit }
        }
        return value
    }
}
