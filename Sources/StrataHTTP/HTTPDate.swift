/// HTTP dates (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime forms
/// a recipient must still accept. Parsed by hand: no locale, no formatter, no allocation
/// beyond splitting.
enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Milliseconds since 1970 for a valid date, nil otherwise.
    static func milliseconds(_ text: String) -> Int64? {
        if let fixed = imfFixdate(text) { return fixed }
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        var day: Int64?, month: Int64?, year: Int64?, clock: String?
        switch parts.count {
        case 6 where parts[5].uppercased() == "GMT":
            // Sun, 06 Nov 1994 08:49:37 GMT
            day = Int64(parts[1])
            month = monthNumber(parts[2])
            year = Int64(parts[3])
            clock = parts[4]
        case 4 where parts[3].uppercased() == "GMT":
            // Sunday, 06-Nov-94 08:49:37 GMT
            let date = parts[1].split(separator: "-").map(String.init)
            guard date.count == 3 else { return nil }
            day = Int64(date[0])
            month = monthNumber(date[1])
            year = Int64(date[2]).map { $0 < 70 ? $0 + 2000 : ($0 < 100 ? $0 + 1900 : $0) }
            clock = parts[2]
        case 5:
            // Sun Nov  6 08:49:37 1994
            month = monthNumber(parts[1])
            day = Int64(parts[2])
            clock = parts[3]
            year = Int64(parts[4])
        default:
            return nil
        }
        guard let day, let month, let year, let clock, (1...31).contains(day), (1...9999).contains(year) else { return nil }
        let time = clock.split(separator: ":").compactMap { Int64($0) }
        guard time.count == 3, (0...23).contains(time[0]), (0...59).contains(time[1]), (0...60).contains(time[2]) else { return nil }
        let seconds = daysSince1970(year: year, month: month, day: day) * 86_400 + time[0] * 3600 + time[1] * 60 + time[2]
        return seconds * 1000
    }

    /// The common case, `Sun, 06 Nov 1994 08:49:37 GMT`, read at fixed offsets without
    /// splitting (this runs on every cache hit that decodes a stored response).
    private static func imfFixdate(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { bytes -> Int64? in
            guard bytes.count == 29, bytes[3] == UInt8(ascii: ","), bytes[25] == UInt8(ascii: " "),
                bytes[26] == UInt8(ascii: "G"), bytes[27] == UInt8(ascii: "M"), bytes[28] == UInt8(ascii: "T"),
                bytes[19] == UInt8(ascii: ":"), bytes[22] == UInt8(ascii: ":")
            else { return nil }
            func number(_ start: Int, _ length: Int) -> Int64? {
                var value: Int64 = 0
                for index in start..<(start + length) {
                    let digit = bytes[index] &- 48
                    guard digit < 10 else { return nil }
                    value = value * 10 + Int64(digit)
                }
                return value
            }
            let monthText = String(decoding: UnsafeBufferPointer(rebasing: bytes[8..<11]), as: UTF8.self)
            guard let day = number(5, 2), let year = number(12, 4), let hour = number(17, 2),
                let minute = number(20, 2), let second = number(23, 2), let month = monthNumber(monthText),
                (1...31).contains(day), hour < 24, minute < 60, second <= 60
            else { return nil }
            return (daysSince1970(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second) * 1000
        }
    }

    private static func monthNumber(_ text: String) -> Int64? {
        months.firstIndex(of: text.lowercased()).map { Int64($0) + 1 }
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    static func daysSince1970(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
