/// What reading a key, and taking the compute lock with the key's entry lease when it is
/// missing, found (``ComputeLock/readOrAcquire(_:lease:leasing:for:in:)``).
///
/// ```swift
/// switch try await lock.readOrAcquire("report", lease: .seconds(10), leasing: lease, for: .seconds(60), in: redis) {
/// case .found(let entry)?: print("cached:", entry.bytes.count, "bytes; nothing was taken")
/// case .taken(let token)?: print("missing: compute, write under `lease`, release with", token)
/// case .heldByAnother?: print("missing, and another instance computes it")
/// case nil: print("this lock reads and locks in separate steps")
/// }
/// ```
public enum LockedRead: Sendable {
    /// The key was there (`entry`, with its remaining lifetime): neither the lock nor an
    /// entry lease was taken.
    case found(StoredEntry)
    /// The key was missing; the lock is the caller's (`token` releases it), and so is the
    /// key's entry lease.
    case taken(token: String)
    /// The key was missing and another holder has the lock; no entry lease was taken.
    case heldByAnother
}
