/// Where a key's file lives under the store's directory.
///
/// The key's UTF-8 bytes are written in lowercase hex, so a file name holds only
/// `[0-9a-f]`: no key can name `..`, a separator or anything outside the directory,
/// keys that differ only in case stay apart on case-insensitive file systems, and the
/// order of names is the byte order of keys. The hex is cut into components of 240
/// characters (120 key bytes) so that any key fits the 255-byte limit on a name: all
/// but the last are directories, and the last is the file, named with an `.e` suffix
/// (so a file and a directory never share a name). Names starting with `.` are the
/// store's own: `.lock`, the directories `.tmp` (where writes are prepared, then renamed
/// into place), `.leases` and `.records`, and, beside entries, the temporary files `.t-…`
/// of an earlier version, which a sweep removes once abandoned.
struct FolderLayout {
    static let componentLength = 240
    static let entrySuffix = ".e"

    let directories: [String]
    let file: String

    init(key: String) {
        let hex = Self.hex(key)
        var components: [String] = []
        var start = hex.startIndex
        while start < hex.endIndex {
            let end = hex.index(start, offsetBy: Self.componentLength, limitedBy: hex.endIndex) ?? hex.endIndex
            components.append(String(hex[start..<end]))
            start = end
        }
        file = components.removeLast() + Self.entrySuffix
        directories = components
    }

    static func hex(_ text: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var encoded: [UInt8] = []
        encoded.reserveCapacity(text.utf8.count * 2)
        for byte in text.utf8 {
            encoded.append(digits[Int(byte >> 4)])
            encoded.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// The key whose hex is `hex`, or `nil` when it is not the hex of valid UTF-8.
    static func key(fromHex hex: Substring) -> String? {
        guard hex.utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for digit in hex.utf8 {
            let value: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = digit - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let first = high {
                bytes.append(first << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func isDirectoryComponent(_ name: String) -> Bool {
        name.utf8.count == componentLength && name.utf8.allSatisfy(isHexDigit)
    }

    static func isEntryFile(_ name: String) -> Bool {
        name.hasSuffix(entrySuffix) && name.utf8.dropLast(2).allSatisfy(isHexDigit) && name.utf8.count > 2
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
    }
}
