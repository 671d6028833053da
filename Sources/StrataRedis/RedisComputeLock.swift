import Strata

/// A `ComputeLock` on Redis: `SET <lock> <token> NX PX <lease>` takes it, and a script
/// that deletes the lock only if it still holds the token releases it, so a holder whose
/// lease ran out never releases the next holder's lock.
///
/// A key's lock is a name of Strata's own: the byte 0xFF, ``prefix`` and the key
/// (`\xFFstrata:lock:<namespace><key>`), never one of the store's keys, so no listing
/// shows it and no `clear` removes it. Releases before this one named it
/// `strata:lock:<namespace><key>` (a key of an empty namespace): during a rolling deploy,
/// an instance of each kind can compute the same key at once (the lock only saves
/// duplicate work; the values they write are the same computation's), and the old locks
/// end with their leases.
///
/// ```swift
/// let cache = TieredStore(l1: MemoryStore(), l2: redis,
///                         configuration: .init(computeLock: RedisComputeLock(redis: redis)))
/// ```
public struct RedisComputeLock: ComputeLock {
    /// The store whose server holds the locks.
    public let redis: RedisStore
    /// What follows the byte 0xFF in the name of a key's lock, before the key:
    /// `strata:lock:` and the store's key namespace.
    public let prefix: String

    /// Locks on `redis`'s server.
    public init(redis: RedisStore) {
        self.redis = redis
        self.prefix = "strata:lock:" + redis.configuration.keyNamespace
    }

    /// `SET NX PX`: a random token when taken, `nil` when another holder has the lock.
    /// A refusal (`OOM`, `READONLY`, `NOPERM`…) throws: it never passes for a lock taken.
    /// A call that fails after it was sent (its reply lost) releases the lock it may have
    /// taken, by its token.
    public func acquire(_ key: String, lease: Duration) async throws -> String? {
        let token = Self.newToken()
        let name = redis.names.lock(key)
        let reply = try await releasingOnFailure(key, token: token) {
            try await redis.send(
                [redis.command("SET", name, token, "NX", "PX", String(Self.milliseconds(lease)))], routing: name
            ) { _ in key }[0]
        }
        switch reply {
        case .status("OK"): return token
        case .null: return nil
        default: throw redis.unexpected(key, "SET NX answered \(reply.typeName)")
        }
    }

    /// `call`, which may take the lock for `key` with `token`; when it fails other than by
    /// its caller's cancellation (a request withdrawn unsent), it may have run with its reply
    /// lost, so the lock is released by `token` before the error is thrown: nobody, this
    /// instance included, should wait on a lock whose holder does not know it holds it.
    func releasingOnFailure<Output>(_ key: String, token: String, _ call: () async throws -> Output) async throws -> Output {
        do {
            return try await call()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            await releaseShielded(key, token: token)
            throw error
        }
    }

    /// Releases the lock for `key` held by `token`, whatever it answers, in a task of its
    /// own: a caller cancelled (a read abandoned past `l2Timeout`, say) does not withdraw it.
    func releaseShielded(_ key: String, token: String) async {
        await Task { try? await release(key, token: token) }.value
    }

    /// A random token of 128 bits, in hex.
    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(generator.next() as UInt64, radix: 16) + String(generator.next() as UInt64, radix: 16)
    }

    /// A lock's lease in whole milliseconds, at least one.
    static func milliseconds(_ lease: Duration) -> Int64 {
        max(1, lease.wholeMilliseconds(roundingUp: true))
    }

    /// Sets the lock's lease to `lease` from now (`PEXPIRE`) only if `token` still holds
    /// it, in one script: whether it did. A refusal throws.
    ///
    /// ```swift
    /// if try await lock.renew("report", token: token, lease: .seconds(10)) == false {
    ///     print("the lease ran out, and the lock may be another's")
    /// }
    /// ```
    public func renew(_ key: String, token: String, lease: Duration) async throws -> Bool {
        let reply = try await redis.evaluate(
            Self.renewScript, keys: [redis.names.lock(key)],
            arguments: [Array(token.utf8), Array(String(Self.milliseconds(lease)).utf8)], key: key)
        guard case .integer(let renewed) = reply else { throw redis.unexpected(key, "the renew script answered \(reply.typeName)") }
        return renewed == 1
    }

    static let renewScript = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """)

    /// Deletes the lock only if `token` still holds it (a lease that ran out and was
    /// taken by another holder is left to it). A refusal to delete throws.
    public func release(_ key: String, token: String) async throws {
        let reply = try await redis.evaluate(
            RedisStore.releaseScript, keys: [redis.names.lock(key)], arguments: [Array(token.utf8)], key: key)
        guard case .integer = reply else { throw redis.unexpected(key, "the release script answered \(reply.typeName)") }
    }
}
