/// What only a ``TieredStore``'s L1 does with a memory entry: keep a copy of an L2 entry
/// for less than the entry lives (`TieredStore.Configuration.l1Expiry`), while readers of
/// the copy are still told when the entry itself expires.
extension MemoryEntry {
    /// A copy of an entry expiring at `expiresAt`, served from L1 until `keptUntil` at most.
    init(bytes: [UInt8], value: (any AnyObject & Sendable)?, expiresAt: Timestamp?, keptUntil: Timestamp?) {
        self.init(bytes: bytes, value: value, expiresAt: expiresAt)
        self.expiresAt = min(reportedExpiresAt, keptUntil?.millisecondsSince1970 ?? Self.never)
    }
}
