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

    /// The largest delta-seconds a cache must understand (RFC 9111 §1.2.2).
    static let deltaSecondsLimit: Int64 = 2_147_483_648

    init(_ header: String?) {
        guard let header else { return }
        var seen: Set<String> = []
        for (name, value) in Self.directives(header) where seen.insert(name).inserted {
            switch name {
            case "max-age": maxAge = Self.deltaSeconds(value) ?? 0
            case "no-store": noStore = true
            // `no-cache="field"` is treated as plain no-cache: revalidating the whole
            // response is always allowed, and simpler than storing it without the field.
            case "no-cache": noCache = true
            case "must-revalidate": mustRevalidate = true
            case "public": isPublic = true
            case "immutable": immutable = true
            case "stale-while-revalidate": staleWhileRevalidate = Self.deltaSeconds(value)
            case "stale-if-error": staleIfError = Self.deltaSeconds(value)
            case "max-stale": maxStale = value == nil ? Int64.max / 4 : Self.deltaSeconds(value)
            case "min-fresh": minFresh = Self.deltaSeconds(value)
            default: break
            }
        }
    }

    /// Splits `a, b=1, c="x, y"` into lowercased names and unquoted values.
    static func directives(_ header: String) -> [(String, String?)] {
        var result: [(String, String?)] = []
        var characters = Substring(header)
        while !characters.isEmpty {
            characters = characters.drop { $0 == " " || $0 == "\t" || $0 == "," }
            let name = characters.prefix { $0 != "=" && $0 != "," }
            characters = characters.dropFirst(name.count)
            var value: String?
            if characters.first == "=" {
                characters = characters.dropFirst()
                if characters.first == "\"" {
                    characters = characters.dropFirst()
                    var quoted = ""
                    while let next = characters.first, next != "\"" {
                        characters = characters.dropFirst()
                        if next == "\\", let escaped = characters.first {
                            quoted.append(escaped)
                            characters = characters.dropFirst()
                        } else {
                            quoted.append(next)
                        }
                    }
                    characters = characters.dropFirst()
                    value = quoted
                    characters = characters.drop { $0 != "," }
                } else {
                    let token = characters.prefix { $0 != "," }
                    characters = characters.dropFirst(token.count)
                    value = token.trimmingWhitespace
                }
            }
            let trimmed = name.trimmingWhitespace.lowercased()
            if !trimmed.isEmpty { result.append((trimmed, value)) }
        }
        return result
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
