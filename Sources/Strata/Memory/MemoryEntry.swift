/// A memory entry: the encoded bytes (for byte reads and size accounting), the Swift
/// value it was written from (so a typed hit does not decode again), and its expiry.
@usableFromInline
struct MemoryEntry: Sendable {
    @usableFromInline
    var bytes: [UInt8]
    @usableFromInline
    var value: (any AnyObject & Sendable)?
    /// When this copy stops being served, in milliseconds since 1970; `Int64.max` never.
    var expiresAt: Int64
    /// When the entry itself expires, as reported to readers. A memory store's own
    /// entries are served exactly until then (the same as `expiresAt`); a copy of an
    /// entry that lives elsewhere may be served for less (see `MemoryEntry+L1.swift`).
    var reportedExpiresAt: Int64

    static let never = Int64.max

    init(bytes: [UInt8], value: (any AnyObject & Sendable)?, expiresAt: Timestamp?) {
        self.bytes = bytes
        self.value = value
        self.reportedExpiresAt = expiresAt?.millisecondsSince1970 ?? Self.never
        self.expiresAt = self.reportedExpiresAt
    }

    /// An entry's Swift value and expiries without its bytes (empty).
    init(value: any AnyObject & Sendable, expiresAt: Int64, reportedExpiresAt: Int64) {
        self.bytes = []
        self.value = value
        self.expiresAt = expiresAt
        self.reportedExpiresAt = reportedExpiresAt
    }

    @inline(__always)
    func isExpired(nowMilliseconds now: Int64) -> Bool { expiresAt <= now }

    var expiresAtTimestamp: Timestamp? {
        reportedExpiresAt == Self.never ? nil : Timestamp(millisecondsSince1970: reportedExpiresAt)
    }
}
