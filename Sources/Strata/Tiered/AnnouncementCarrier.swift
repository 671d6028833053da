/// A store whose writes of one key can carry an invalidation publisher's announcement of
/// the change (``CarriedAnnouncement``), published by the store in the same step as the
/// write. `RedisStore` is one: the announcement is a `PUBLISH` sent with the write.
///
/// ```swift
/// if let carrier = store as? any AnnouncementCarrier {
///     let announced = try await carrier.setEntry(entry, forKey: "user:1", announcing: announcement)
/// }
/// ```
public protocol AnnouncementCarrier: KeyValueStore {
    /// Writes `entry` at `key` as ``KeyValueStore/setEntry(_:forKey:)`` does, and publishes
    /// `announcement` in the same step. Throws as `setEntry` throws (the announcement may or
    /// may not have gone out). `false`: the write was made, but the announcement was refused:
    /// the caller publishes it itself.
    ///
    /// ```swift
    /// let announced = try await redis.setEntry(entry, forKey: "user:1", announcing: announcement)
    /// ```
    func setEntry(_ entry: StoredEntry, forKey key: String, announcing announcement: CarriedAnnouncement) async throws -> Bool

    /// Writes `entry` at `key` only while `lease` holds the key, as
    /// ``KeyValueStore/setEntry(_:forKey:ifLeased:keepingLease:)`` does, and publishes
    /// `announcement` in the same step when it wrote. Whether it wrote, and whether the
    /// announcement went out (`false` when nothing was written, or the server refused it:
    /// the caller publishes the announcement of a write itself).
    ///
    /// ```swift
    /// let (written, announced) = try await redis.setEntry(entry, forKey: "report", ifLeased: lease, keepingLease: false, announcing: announcement)
    /// ```
    func setEntry(
        _ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool,
        announcing announcement: CarriedAnnouncement
    ) async throws -> (written: Bool, announced: Bool)
}
