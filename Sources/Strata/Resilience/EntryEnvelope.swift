/// The versioned envelope of an entry that carries metadata: its logical expiry (the
/// store keeps it until the end of its grace), when it was written, and its tags.
///
/// Layout (all integers big-endian), documented for other clients in `Docs/Resilience.md`:
///
///     magic     7 bytes  00 53 54 52 41 54 41  ("\0STRATA")
///     version   1 byte   1
///     expiresAt 8 bytes  logical expiry, ms since 1970; Int64.max: never
///     writtenAt 8 bytes  ms since 1970
///     tagCount  2 bytes, then per tag: length (2 bytes) and UTF-8 bytes
///     payload   the rest: the value as a plain entry holds it (raw bytes or JSON)
///
/// Entries written without grace, tags or eager refresh keep the plain format (the
/// payload alone), so other clients read a plain `String` as the text it is. A plain value
/// whose bytes happen to begin with the magic is written in an envelope, so it can never
/// be mistaken for one. A reader treats an envelope of a later version, or one that does
/// not parse, as a miss.
@usableFromInline
package struct EntryEnvelope: Sendable, Hashable {
    package static let magic: [UInt8] = [0x00, 0x53, 0x54, 0x52, 0x41, 0x54, 0x41]
    package static let version: UInt8 = 1
    static let headerBytes = 7 + 1 + 8 + 8 + 2
    /// The longest tag, in UTF-8 bytes.
    package static let maximumTagBytes = 256
    /// The most tags an entry carries (the count is stored in two bytes).
    package static let maximumTags = 1_000

    /// The entry's own expiry, in milliseconds since 1970; `Int64.max` never.
    @usableFromInline
    package var expiresAt: Int64
    /// When the value was written, or its computation began (less the clock-skew
    /// tolerance), in milliseconds since 1970: the instant its tags are checked against.
    package var writtenAt: Int64
    /// The entry's tags.
    @usableFromInline
    package var tags: [String]

    package init(expiresAt: Int64, writtenAt: Int64, tags: [String]) {
        self.expiresAt = expiresAt
        self.writtenAt = writtenAt
        self.tags = tags
    }

    /// What reading stored bytes found.
    package enum Parsed {
        /// A plain entry: the bytes are the payload.
        case plain
        /// An envelope and the offset of its payload.
        case envelope(EntryEnvelope, payloadOffset: Int)
        /// An envelope this version cannot read (a later version, or damaged): a miss.
        case unreadable
    }

    /// Whether `bytes` begin with the magic.
    @inline(__always)
    package static func hasMagic(_ bytes: [UInt8]) -> Bool {
        // The first byte alone rules out every JSON value and almost every text.
        guard bytes.count >= magic.count, bytes[0] == 0 else { return false }
        return bytes.starts(with: magic)
    }

    package static func parse(_ bytes: [UInt8]) -> Parsed {
        guard hasMagic(bytes) else { return .plain }
        guard bytes.count >= headerBytes, bytes[7] == version else { return .unreadable }
        var offset = 8
        func integer(_ width: Int) -> Int64 {
            var value: Int64 = 0
            for index in offset..<(offset + width) { value = value << 8 | Int64(bytes[index]) }
            offset += width
            return value
        }
        let expiresAt = integer(8)
        let writtenAt = integer(8)
        let count = Int(integer(2))
        var tags: [String] = []
        tags.reserveCapacity(count)
        for _ in 0..<count {
            guard offset + 2 <= bytes.count else { return .unreadable }
            let length = Int(integer(2))
            guard offset + length <= bytes.count,
                let tag = String(validating: bytes[offset..<(offset + length)], as: UTF8.self)
            else { return .unreadable }
            tags.append(tag)
            offset += length
        }
        return .envelope(EntryEnvelope(expiresAt: expiresAt, writtenAt: writtenAt, tags: tags), payloadOffset: offset)
    }

    /// The envelope's bytes followed by `payload`.
    package func encode(payload: [UInt8]) -> [UInt8] {
        var bytes = Self.magic
        bytes.reserveCapacity(Self.headerBytes + tags.reduce(0) { $0 + 2 + $1.utf8.count } + payload.count)
        bytes.append(Self.version)
        func append(_ value: Int64, width: Int) {
            for shift in stride(from: (width - 1) * 8, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
        }
        append(expiresAt, width: 8)
        append(writtenAt, width: 8)
        append(Int64(tags.count), width: 2)
        for tag in tags {
            append(Int64(tag.utf8.count), width: 2)
            bytes.append(contentsOf: tag.utf8)
        }
        bytes.append(contentsOf: payload)
        return bytes
    }

    /// Whether the entry is past its own lifetime at `now` (its grace may remain).
    package func isExpired(nowMilliseconds now: Int64) -> Bool { expiresAt <= now }

    /// A tag a store can keep: non-empty, at most 256 UTF-8 bytes.
    static func validateTag(_ tag: String, backend: String) throws {
        guard !tag.isEmpty, tag.utf8.count <= maximumTagBytes else {
            throw StrataError(
                code: .invalidKey, message: "a tag must be 1 to \(maximumTagBytes) UTF-8 bytes (got \(tag.utf8.count))",
                key: tag, backend: backend)
        }
    }
}
