/// A store whose bulk read costs less when it need not answer each entry's remaining
/// lifetime: a typed bulk read of a store of one tier asks this of it, since nothing that
/// read returns carries a lifetime (an envelope carries its own expiry; the store drops what
/// has expired).
///
/// `RedisStore` is one: ``KeyValueStore/entries(forKeys:)`` reads each key's `PTTL` beside
/// its value, in a script, where this read is one `MGET` (and one `EXISTS`, which tells a key
/// of another Redis type from a missing one) in a transaction.
///
/// ```swift
/// if let reader = source as? any BulkValueSource {
///     let entries = try await reader.entriesWithoutLifetimes(forKeys: keys)  // values only, in keys' order
/// }
/// ```
package protocol BulkValueSource: KeyValueStore {
    /// The entries of `keys`, in their order (`nil` for a key missing or expired), with the
    /// bytes ``KeyValueStore/entries(forKeys:)`` would return but `expiresAt` left `nil` where
    /// the backend keeps the lifetime apart from the value. A key that holds something other
    /// than an entry throws as a read of it does.
    func entriesWithoutLifetimes(forKeys keys: [String]) async throws -> [StoredEntry?]
}
