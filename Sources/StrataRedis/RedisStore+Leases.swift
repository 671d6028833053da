import Strata

/// Leases, in Redis itself, so they hold across every process sharing the server.
///
/// A key's lease is a key of Strata's own (`\xFFstrata:lease:<namespace><key>`, see
/// ``RedisKeyNames``) holding the lease's token, with the lease's duration as its
/// lifetime. Taking a lease is `SET` of that name; the leased write is one script that
/// checks the token and writes; every change of the key deletes the lease in the same
/// round trip, before the change. That `DEL` and the change are two pipelined commands,
/// not one atomic step: a lease another client takes between them is not broken by the
/// change, and reads the key as it was before it (its computation's miss began after the
/// change began, so the stale-set rule holds as worded; see `Docs/Redis.md`). On a
/// cluster the lease's name carries a hash tag of the key's slot, so the script can touch
/// both.
extension RedisStore {
    /// `SET <lease> <token> PX <duration>`, then `GET` and `PTTL` of the key: one pipelined
    /// round trip, the read after the lease is in place.
    public func leaseEntry(forKey key: String, lease: EntryLease, duration: Duration) async throws -> StoredEntry? {
        let name = names.key(key)
        let milliseconds = min(max(1, duration.wholeMilliseconds(roundingUp: true)), Self.longestLifetime)
        let replies = try await send(
            key,
            [
                command("SET", names.lease(ofKeyNamed: name), lease.description, "PX", String(milliseconds)),
                command("GET", name), command("PTTL", name),
            ])
        try expectOK(key, "SET", replies[0])
        return try entry(key, value: replies[1], lifetime: replies[2], now: clock.now())
    }

    /// One script: when the lease still holds `lease`'s token, `SET` the value (`PX` when it
    /// expires; an entry already expired is a `DEL`) and, unless `keepingLease`, `DEL` the
    /// lease. `true` when it wrote.
    public func setEntry(_ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool) async throws -> Bool {
        try await leasedWrite(entry, forKey: key, ifLeased: lease, keepingLease: keepingLease, announcing: nil).written
    }

    /// The leased write's script, with `announcement` published when it wrote (or none):
    /// whether it wrote, and whether the `PUBLISH` was answered.
    func leasedWrite(
        _ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool,
        announcing announcement: CarriedAnnouncement?
    ) async throws -> (written: Bool, announced: Bool) {
        let name = names.key(key)
        let lifetime = try lifetime(entry.expiresAt).map { String(max(0, $0)) } ?? ""
        var arguments = [Array(lease.description.utf8), entry.bytes, Array(lifetime.utf8), keepingLease ? [UInt8(ascii: "1")] : []]
        if let announcement { arguments += [announcement.channel, announcement.message] }
        let reply = try await evaluate(Self.leasedWriteScript, keys: [name, names.lease(ofKeyNamed: name)], arguments: arguments, key: key)
        return try Self.announcedWrite(reply, key: key, of: "the leased write", in: self)
    }

    /// One script: `DEL` of the lease when it still holds `lease`'s token.
    public func releaseLease(_ lease: EntryLease, forKey key: String) async throws {
        let reply = try await evaluate(
            Self.releaseScript, keys: [names.lease(ofKeyNamed: names.key(key))], arguments: [Array(lease.description.utf8)], key: key)
        guard case .integer = reply else { throw unexpected(key, "the lease's release answered \(reply.typeName)") }
    }

    /// KEYS: the key, its lease. ARGV: the token, the value, the lifetime in milliseconds
    /// (empty: none; 0: already expired), `1` to keep the lease, and, for a write that
    /// carries an announcement, its channel and message. The value is written before the
    /// lease is deleted, so a write the server refuses (`OOM`) leaves the lease. 0: not
    /// written; 1: written; 2: written and announced (a refused `PUBLISH` answers 1).
    static let leasedWriteScript = RedisScript(
        """
        if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
        if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2])
        elseif ARGV[3] == '0' then redis.call('DEL', KEYS[1])
        else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
        if ARGV[4] ~= '1' then redis.call('DEL', KEYS[2]) end
        if ARGV[5] and type(redis.pcall('PUBLISH', ARGV[5], ARGV[6])) == 'number' then return 2 end
        return 1
        """)

    /// KEYS: a lease, or a lock. ARGV: the token that must hold it.
    static let releaseScript = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)
}
