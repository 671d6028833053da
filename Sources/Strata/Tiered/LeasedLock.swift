/// What taking a compute lock together with the key's entry lease found
/// (``ComputeLock/acquire(_:lease:leasing:for:in:)``).
///
/// ```swift
/// if case .taken(let token, let entry)? = try await lock.acquire(
///     "report", lease: .seconds(10), leasing: lease, for: .seconds(60), in: redis) {
///     // compute, then write under `lease` and release with `token`
/// }
/// ```
public enum LeasedLock: Sendable {
    /// The lock is the caller's (`token` releases it), and so is the key's entry lease:
    /// `entry` is the key as read under that lease (`nil`: missing).
    case taken(token: String, entry: StoredEntry?)
    /// The lock and the entry lease are the caller's, but the key could not be read under
    /// the lease (a key of another type, say): the caller computes holding the lock and
    /// keeps its value out of the store, as when a lease's read fails.
    case takenUnread(token: String, error: any Error)
    /// Another holder has the lock; no entry lease was taken.
    case heldByAnother
}
