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
    /// Another holder has the lock; no entry lease was taken.
    case heldByAnother
}
