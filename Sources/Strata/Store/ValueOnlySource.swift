/// A store whose reads cost less when they need not answer each entry's remaining lifetime:
/// a plain typed read of a store of one tier (a single `get`, a bulk one, or `has`) asks this
/// of it, since nothing such a read returns carries a lifetime (an envelope carries its own
/// expiry; the store drops what has expired).
///
/// `RedisStore` is one: ``KeyValueStore/entry(forKey:)`` reads the key's `PTTL` beside its
/// value (`GET` and `PTTL`), where this read is a `GET` alone; and
/// ``KeyValueStore/entries(forKeys:)`` reads each key's `PTTL` in a script, where the bulk
/// read here is one `MGET` (and one `EXISTS`, which tells a key of another Redis type from a
/// missing one) in a transaction.
///
/// ```swift
/// if let reader = source as? any ValueOnlySource {
///     let entry = try await reader.entryWithoutLifetime(forKey: key)       // the value only
///     let entries = try await reader.entriesWithoutLifetimes(forKeys: keys)  // values only, in keys' order
/// }
/// ```
package protocol ValueOnlySource: KeyValueStore {
    /// The entry of `key` (`nil` when it is missing or expired), with the bytes
    /// ``KeyValueStore/entry(forKey:)`` would return but `expiresAt` left `nil` where the
    /// backend keeps the lifetime apart from the value. A key that holds something other
    /// than an entry throws as ``KeyValueStore/entry(forKey:)`` does.
    func entryWithoutLifetime(forKey key: String) async throws -> StoredEntry?

    /// The entries of `keys`, in their order (`nil` for a key missing or expired), with the
    /// bytes ``KeyValueStore/entries(forKeys:)`` would return but `expiresAt` left `nil` where
    /// the backend keeps the lifetime apart from the value. A key that holds something other
    /// than an entry throws as a read of it does.
    func entriesWithoutLifetimes(forKeys keys: [String]) async throws -> [StoredEntry?]
}
