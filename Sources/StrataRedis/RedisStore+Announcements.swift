import Strata

/// Writes that carry an invalidation bus's announcement (``RedisInvalidationBus``'s, for
/// this store): the `PUBLISH` goes in the same round trip as the write, after it, so other
/// instances hear of the change as soon as it is made. In a leased write's script it runs
/// only when the script wrote; after a plain write's `SET` it runs even when the server
/// refused the `SET` (`OOM`, `READONLY`): one drop more in other instances, harmless, as the
/// failed write is announced anyway. A `PUBLISH` the server refuses (an ACL without the
/// channel, say) leaves the write made and says so: the tiered store then publishes the
/// announcement through the bus's queue, which counts and reports the refusal.
extension RedisStore: AnnouncementCarrier {
    /// `DEL <lease>`, the write (`SET`, or `DEL` for an entry already expired) and
    /// `PUBLISH`, pipelined. Whether the `PUBLISH` was answered (a count of subscribers).
    ///
    /// ```swift
    /// let announced = try await redis.setEntry(entry, forKey: "user:1", announcing: announcement)
    /// ```
    public func setEntry(_ entry: StoredEntry, forKey key: String, announcing announcement: CarriedAnnouncement) async throws -> Bool {
        let name = names.key(key)
        let write = try writeCommands(entry, forKeyNamed: name)
        let replies = try await sendUnchecked(
            write + [command("PUBLISH", announcement.channel, announcement.message)], routing: name, key: key)
        try check(Array(replies[..<write.count]), to: write) { _ in key }
        try accept(replies[1], to: write[1], key: key)
        guard case .integer = replies[write.count] else { return false }
        return true
    }

    /// ``setEntry(_:forKey:ifLeased:keepingLease:)``'s script, which also publishes
    /// `announcement` when it wrote (`redis.pcall`: a refused `PUBLISH` leaves the write
    /// made, and says it was not announced).
    ///
    /// ```swift
    /// let (written, announced) = try await redis.setEntry(entry, forKey: "report", ifLeased: lease, keepingLease: false, announcing: announcement)
    /// ```
    public func setEntry(
        _ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool,
        announcing announcement: CarriedAnnouncement
    ) async throws -> (written: Bool, announced: Bool) {
        try await leasedWrite(entry, forKey: key, ifLeased: lease, keepingLease: keepingLease, announcing: announcement)
    }

    /// A leased write's answer: 0 (not written), 1 (written; when it carried an
    /// announcement, the `PUBLISH` refused) or 2 (written and published).
    static func announcedWrite(_ reply: RedisReply, key: String, of script: String, in store: RedisStore) throws -> (
        written: Bool, announced: Bool
    ) {
        guard case .integer(let outcome) = reply, (0...2).contains(outcome) else {
            throw store.unexpected(key, "\(script) answered \(reply.typeName)")
        }
        return (outcome >= 1, outcome == 2)
    }
}
