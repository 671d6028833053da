/// A computation's claim on a key: proof, when its value is written, that nothing changed
/// the key since the computation found it missing.
///
/// `getOrSet` takes a lease on a key it must compute (``KeyValueStore/leaseEntry(forKey:lease:duration:)``),
/// reads the key again under it, computes, and writes the value only while the lease still
/// holds (``KeyValueStore/setEntry(_:forKey:ifLeased:keepingLease:)``). Every change of the
/// key in the meantime, in any process sharing the store — a write, a delete (of a missing
/// key too), an increment, a `setIfAbsent` that wrote, a new lifetime, a `clear` of a prefix
/// of the key, or another computation's lease — breaks the lease, and the late value is
/// returned to its callers but never stored over the newer state. This is the stale-set rule
/// of `Docs/Consistency.md`; memcached's leases are the model.
///
/// ```swift
/// let lease = EntryLease.random()
/// let current = try await store.leaseEntry(forKey: "report", lease: lease, duration: .seconds(600))
/// let written = try await store.setEntry(entry, forKey: "report", ifLeased: lease, keepingLease: false)
/// ```
public struct EntryLease: Sendable, Hashable, CustomStringConvertible {
    /// The lease's random token; never 0.
    public let token: UInt64

    /// A lease with the given token (0 is replaced by 1: a store may use 0 for "none").
    public init(token: UInt64) {
        self.token = token == 0 ? 1 : token
    }

    /// A lease with a random token.
    ///
    /// ```swift
    /// let lease = EntryLease.random()
    /// ```
    public static func random() -> EntryLease {
        var generator = SystemRandomNumberGenerator()
        return EntryLease(token: generator.next())
    }

    /// The token in hex, as stores that keep it as text write it.
    public var description: String { String(token, radix: 16) }

    /// How long a computation's lease lasts by default: a computation that takes longer
    /// has its value returned but not stored (a lease left by a process that died ends then).
    public static let defaultDuration: Duration = .seconds(600)
}
