/// One stored entry: its bytes, and the instant it expires.
///
/// ```swift
/// let entry = StoredEntry(bytes: Array("hello".utf8), expiresAt: clock.now().adding(milliseconds: 60_000))
/// ```
public struct StoredEntry: Sendable, Hashable {
    /// The value's bytes: raw for `Data`, `[UInt8]` and `String`; other values as the
    /// store's ``ValueFormat`` codes them (plain JSON by default).
    public var bytes: [UInt8]
    /// When the entry expires; `nil` never.
    public var expiresAt: Timestamp?

    /// An entry of `bytes` expiring at `expiresAt` (`nil`: never).
    public init(bytes: [UInt8], expiresAt: Timestamp? = nil) {
        self.bytes = bytes
        self.expiresAt = expiresAt
    }

    /// The entry's value read as a decimal integer plus `delta`, as `increment` computes it.
    ///
    /// Throws ``StrataError/Code/notAnInteger`` naming `key` and `backend` when the bytes
    /// are not a decimal integer or the sum would overflow. For backends that implement
    /// ``KeyValueStore/incrementEntry(forKey:by:expiresAt:)`` by reading and writing.
    ///
    /// ```swift
    /// let sum = try existing.integer(adding: delta, key: key, backend: backendName)
    /// ```
    public func integer(adding delta: Int, key: String, backend: String) throws -> Int {
        let current = try ValueCoding.integer(bytes, key: key, backend: backend)
        return try ValueCoding.adding(delta, to: current, key: key, backend: backend)
    }

    /// Whether the entry has expired at `now`: an entry is alive up to, not at, its deadline.
    @inlinable
    public func isExpired(at now: Timestamp) -> Bool {
        guard let expiresAt else { return false }
        return expiresAt <= now
    }
}
