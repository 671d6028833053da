import Strata

/// The read with the lock and the key's lease, the lock with the lease, and the leased write
/// with the lock's release, each as one script, when the tiered store's L2 is the lock's own
/// store (the same instance) on one server: a miss then makes two round trips instead of
/// five (the read, the lock and the lease; the write and the release). On a cluster the
/// lock's name and the key's need not share a slot, so the steps stay apart there.
extension RedisComputeLock {
    /// One script: `SET <lock> <token> NX PX <lease>`; when that took it, `SET <lease>
    /// <entry lease> PX <duration>`, then `GET` and `PTTL` of the key. `nil` when `store` is
    /// not this lock's store, or is a cluster. A key that cannot be read (another Redis type)
    /// is `.takenUnread`; a lease the server refuses throws, the lock deleted with it.
    ///
    /// ```swift
    /// let taken = try await lock.acquire("report", lease: .seconds(10), leasing: .random(), for: .seconds(600), in: redis)
    /// ```
    public func acquire(
        _ key: String, lease: Duration, leasing entryLease: EntryLease, for duration: Duration, in store: any KeyValueStore
    ) async throws -> LeasedLock? {
        guard leasesWithLock(in: store) else { return nil }
        let token = Self.newToken()
        let reply = try await evaluate(Self.lockAndLeaseScript, key, token: token, lease: lease, leasing: entryLease, for: duration)
        switch reply {
        case .null:
            return .heldByAnother
        case .array(let replies) where replies.count == 2:
            do {
                // A key of another Redis type: the read's refusal, as `leaseEntry` gives it.
                return .taken(token: token, entry: try entry(key, read: replies))
            } catch {
                return .takenUnread(token: token, error: error)
            }
        default:
            // Nothing says whether the lock was taken: the caller computes without it, so
            // nobody should wait on it.
            await releaseShielded(key, token: token)
            throw redis.unexpected(key, "the lock-and-lease script answered \(reply.typeName)")
        }
    }

    /// One script: `GET` and `PTTL` of the key; only when it is missing, the lock and the
    /// entry lease as ``acquire(_:lease:leasing:for:in:)`` takes them. `nil` when `store` is
    /// not this lock's store, or is a cluster. A key of another Redis type throws its read's
    /// refusal, and takes nothing.
    ///
    /// ```swift
    /// let read = try await lock.readOrAcquire("report", lease: .seconds(10), leasing: .random(), for: .seconds(600), in: redis)
    /// ```
    public func readOrAcquire(
        _ key: String, lease: Duration, leasing entryLease: EntryLease, for duration: Duration, in store: any KeyValueStore
    ) async throws -> LockedRead? {
        guard leasesWithLock(in: store) else { return nil }
        let token = Self.newToken()
        let reply = try await evaluate(Self.readOrLockScript, key, token: token, lease: lease, leasing: entryLease, for: duration)
        switch reply {
        case .null:
            return .heldByAnother
        case .integer(1):
            return .taken(token: token)
        case .array(let replies) where replies.count == 2:
            // A key of another Redis type: the read's refusal, as `entry(forKey:)` gives it.
            guard let entry = try entry(key, read: replies) else {
                throw redis.unexpected(key, "the read-or-lock script found the key and then no value")
            }
            return .found(entry)
        default:
            // Nothing says whether the lock was taken: it is released, so that nobody waits on it.
            await releaseShielded(key, token: token)
            throw redis.unexpected(key, "the read-or-lock script answered \(reply.typeName)")
        }
    }

    /// One script: the leased write (`RedisStore.setEntry(_:forKey:ifLeased:keepingLease:)`,
    /// ending the lease), then `DEL` of the lock if `token` still holds it, written or
    /// refused. `nil` when `store` is not this lock's store, or is a cluster.
    ///
    /// ```swift
    /// let wrote = try await lock.setEntry(entry, forKey: "report", ifLeased: lease, releasing: token, in: redis)
    /// ```
    public func setEntry(
        _ entry: StoredEntry, forKey key: String, ifLeased entryLease: EntryLease, releasing token: String, in store: any KeyValueStore
    ) async throws -> Bool? {
        guard leasesWithLock(in: store) else { return nil }
        let reply = try await writeAndRelease(entry, forKey: key, ifLeased: entryLease, releasing: token, announcing: nil)
        guard case .integer(let wrote) = reply, wrote == 0 || wrote == 1 else {
            throw redis.unexpected(key, "the write-and-release script answered \(reply.typeName)")
        }
        return wrote == 1
    }

    /// The same script, which also publishes `announcement` when it wrote (see
    /// `CarriedAnnouncement`): whether it wrote, and whether the announcement went out.
    /// `nil` when `store` is not this lock's store, or is a cluster.
    ///
    /// ```swift
    /// let outcome = try await lock.setEntry(entry, forKey: "report", ifLeased: lease, releasing: token, in: redis, announcing: announcement)
    /// ```
    public func setEntry(
        _ entry: StoredEntry, forKey key: String, ifLeased entryLease: EntryLease, releasing token: String, in store: any KeyValueStore,
        announcing announcement: CarriedAnnouncement
    ) async throws -> (written: Bool, announced: Bool)? {
        guard leasesWithLock(in: store) else { return nil }
        let reply = try await writeAndRelease(entry, forKey: key, ifLeased: entryLease, releasing: token, announcing: announcement)
        return try RedisStore.announcedWrite(reply, key: key, of: "the write-and-release script", in: redis)
    }

    private func writeAndRelease(
        _ entry: StoredEntry, forKey key: String, ifLeased entryLease: EntryLease, releasing token: String,
        announcing announcement: CarriedAnnouncement?
    ) async throws -> RedisReply {
        let name = redis.names.key(key)
        let lifetime = try redis.lifetime(entry.expiresAt).map { String(max(0, $0)) } ?? ""
        var arguments = [Array(entryLease.description.utf8), entry.bytes, Array(lifetime.utf8), Array(token.utf8)]
        if let announcement { arguments += [announcement.channel, announcement.message] }
        return try await redis.evaluate(
            Self.writeAndReleaseScript, keys: [name, redis.names.lease(ofKeyNamed: name), redis.names.lock(key)],
            arguments: arguments, key: key)
    }

    /// Runs `script` with the lock, the key and its lease as KEYS, and the lock's token and
    /// lease, the entry lease's token and duration as ARGV (the two lock scripts' shape). A
    /// call that fails may have run (the connection lost with the reply out): the lock is
    /// released by its token (``releasingOnFailure(_:token:_:)``).
    private func evaluate(
        _ script: RedisScript, _ key: String, token: String, lease: Duration, leasing entryLease: EntryLease, for duration: Duration
    ) async throws -> RedisReply {
        let name = redis.names.key(key)
        let leaseMilliseconds = min(max(1, duration.wholeMilliseconds(roundingUp: true)), RedisStore.longestLifetime)
        return try await releasingOnFailure(key, token: token) {
            try await redis.evaluate(
                script, keys: [redis.names.lock(key), name, redis.names.lease(ofKeyNamed: name)],
                arguments: [
                    Array(token.utf8), Array(String(Self.milliseconds(lease)).utf8), Array(entryLease.description.utf8),
                    Array(String(leaseMilliseconds).utf8),
                ], key: key)
        }
    }

    /// The key's entry from a script's `GET` and `PTTL` replies; a key of another Redis
    /// type throws the read's refusal.
    private func entry(_ key: String, read replies: [RedisReply]) throws -> StoredEntry? {
        for (index, read) in replies.enumerated() {
            if case .error(let message) = read {
                throw redis.refusal(message, to: redis.command(index == 0 ? "GET" : "PTTL", redis.names.key(key)), key: key)
            }
        }
        return try redis.entry(key, value: replies[0], lifetime: replies[1], now: redis.clock.now())
    }

    /// `true` when one script can touch both the lock and `store`'s keys: `store` is this
    /// lock's own store (the same instance), on one server (or behind Sentinel), not a
    /// cluster.
    ///
    /// ```swift
    /// RedisComputeLock(redis: redis).leasesWithLock(in: redis)   // true
    /// ```
    public func leasesWithLock(in store: any KeyValueStore) -> Bool {
        (store as? RedisStore) === redis && redis.cluster == nil
    }

    /// KEYS: the lock, the key, its lease. ARGV: the lock's token, its lease in
    /// milliseconds, the entry lease's token, its duration in milliseconds. Nil when another
    /// holds the lock (nothing else done); the lease's refusal (an ACL that forbids its name,
    /// say) when it cannot be set, after deleting the lock just taken; else the key's `GET`
    /// and `PTTL` (as errors, not raised, for a key of another type).
    static let lockAndLeaseScript = RedisScript(
        """
        if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
        local leased = redis.pcall('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
        if type(leased) == 'table' and leased.err then
          redis.call('DEL', KEYS[1])
          return leased
        end
        return {redis.pcall('GET', KEYS[2]), redis.pcall('PTTL', KEYS[2])}
        """)

    /// KEYS: the lock, the key, its lease. ARGV: as ``lockAndLeaseScript``. The key's `GET`
    /// and `PTTL` when it is there (as errors, not raised, for a key of another type),
    /// nothing taken; else nil when another holds the lock; the lease's refusal when it
    /// cannot be set, after deleting the lock just taken; else 1 (both taken).
    static let readOrLockScript = RedisScript(
        """
        local value = redis.pcall('GET', KEYS[2])
        if value then return {value, redis.pcall('PTTL', KEYS[2])} end
        if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
        local leased = redis.pcall('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
        if type(leased) == 'table' and leased.err then
          redis.call('DEL', KEYS[1])
          return leased
        end
        return 1
        """)

    /// KEYS: the key, its lease, the lock. ARGV: the lease's token, the value, the lifetime
    /// in milliseconds (empty: none; 0: already expired), the lock's token, and, for a write
    /// that carries an announcement, its channel and message. The leased write of
    /// `RedisStore.leasedWriteScript`, then the lock's release whatever the write did, then
    /// the announcement of a write. 0: not written; 1: written; 2: written and announced.
    static let writeAndReleaseScript = RedisScript(
        """
        local wrote = 0
        if redis.call('GET', KEYS[2]) == ARGV[1] then
          if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2])
          elseif ARGV[3] == '0' then redis.call('DEL', KEYS[1])
          else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
          redis.call('DEL', KEYS[2])
          wrote = 1
        end
        if redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
        if wrote == 1 and ARGV[5] and type(redis.pcall('PUBLISH', ARGV[5], ARGV[6])) == 'number' then return 2 end
        return wrote
        """)
}
