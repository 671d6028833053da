import Strata

/// A `ComputeLock` on Redis: `SET <lock key> <token> NX PX <lease>` takes it, and a
/// script that deletes the key only if it still holds the token releases it, so a holder
/// whose lease ran out never releases the next holder's lock.
///
/// ```swift
/// let cache = TieredStore(l1: MemoryStore(), l2: redis,
///                         configuration: .init(computeLock: RedisComputeLock(redis: redis)))
/// ```
public struct RedisComputeLock: ComputeLock {
    /// The store whose server holds the locks.
    public let redis: RedisStore
    /// Prepended to a key to name its lock: `strata:lock:` and the store's key namespace.
    public let prefix: String

    /// Locks on `redis`'s server.
    public init(redis: RedisStore) {
        self.redis = redis
        self.prefix = "strata:lock:" + redis.configuration.keyNamespace
    }

    /// `SET NX PX`: a random token when taken, `nil` when another holder has the lock.
    /// A refusal (`OOM`, `READONLY`, `NOPERM`…) throws: it never passes for a lock taken.
    public func acquire(_ key: String, lease: Duration) async throws -> String? {
        var generator = SystemRandomNumberGenerator()
        let token = String(generator.next() as UInt64, radix: 16) + String(generator.next() as UInt64, radix: 16)
        let milliseconds = max(1, lease.wholeMilliseconds(roundingUp: true))
        let reply = try await redis.command(
            key: key, ["SET", prefix + key, token, "NX", "PX", String(milliseconds)])
        switch reply {
        case .status("OK"): return token
        case .null: return nil
        default: throw redis.unexpected(key, "SET NX answered \(reply.typeName)")
        }
    }

    /// Deletes the lock only if `token` still holds it (a lease that ran out and was
    /// taken by another holder is left to it). A refusal to delete throws.
    public func release(_ key: String, token: String) async throws {
        let script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"
        let reply = try await redis.command(key: key, ["EVAL", script, "1", prefix + key, token])
        guard case .integer = reply else { throw redis.unexpected(key, "the release script answered \(reply.typeName)") }
    }
}
