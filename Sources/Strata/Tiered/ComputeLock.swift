/// A lock shared by every process using one L2, so that processes missing the same key
/// compute it once between them (`getOrSet` and `memoize` in a ``TieredStore``).
///
/// A lock is held for a lease, so a holder that dies does not block the others for long.
///
/// ```swift
/// let cache = TieredStore(l1: MemoryStore(), l2: redis,
///                         configuration: .init(computeLock: RedisComputeLock(redis: redis)))
/// ```
public protocol ComputeLock: Sendable {
    /// Takes the lock for `key` for at most `lease`: a token when taken, `nil` when
    /// another holder has it.
    func acquire(_ key: String, lease: Duration) async throws -> String?

    /// Releases the lock for `key` if `token` still holds it (never another holder's).
    func release(_ key: String, token: String) async throws
}
