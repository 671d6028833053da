import Strata

/// Writes. Every change of a key breaks its lease (see `RedisStore+Leases.swift`): the
/// `DEL` of the lease goes first in the same pipelined batch (one round trip), so a leased
/// write that runs between the two commands finds the lease gone (`increment` too: the
/// `DEL`, then its script). The two commands are not one atomic step: a lease taken
/// between them survives the change and reads the key as it was before it.
extension RedisStore {
    /// `DEL <lease>` and `SET key value [PX ms]` (an entry already expired: `DEL` instead).
    /// Returns only when the server answered `OK`; a refusal (`OOM`, `READONLY`,
    /// `NOPERM`…) throws. A bulk write (``setEntries(_:)``) sends the same commands.
    public func setEntry(_ entry: StoredEntry, forKey key: String) async throws {
        let commands = try writeCommands(entry, forKeyNamed: names.key(key))
        try accept(try await send(key, commands)[1], to: commands[1], key: key)
    }

    /// `DEL <lease>` and `SET key value NX [PX ms]` (the lease breaks whether or not the
    /// key was absent); for an entry already expired, `EXISTS` instead: nothing is written
    /// that could be read, and it "writes" when the key is absent.
    public func setEntryIfAbsent(_ entry: StoredEntry, forKey key: String) async throws -> Bool {
        let name = names.key(key)
        var arguments = command("SET", name, entry.bytes, "NX")
        if let milliseconds = try lifetime(entry.expiresAt) {
            guard milliseconds > 0 else {
                let reply = try await send(key, [command("DEL", names.lease(ofKeyNamed: name)), command("EXISTS", name)])[1]
                guard case .integer(let exists) = reply else { throw unexpected(key, "EXISTS answered \(reply.typeName)") }
                return exists == 0
            }
            arguments += [Array("PX".utf8), Array(String(milliseconds).utf8)]
        }
        let reply = try await send(key, [command("DEL", names.lease(ofKeyNamed: name)), arguments])[1]
        switch reply {
        case .status("OK"): return true
        case .null: return false
        default: throw unexpected(key, "SET NX answered \(reply.typeName)")
        }
    }

    /// `DEL <lease>` and `DEL key` (the lease breaks for a missing key too).
    @discardableResult
    public func removeEntry(forKey key: String) async throws -> Bool {
        let name = names.key(key)
        let reply = try await send(key, [command("DEL", names.lease(ofKeyNamed: name)), command("DEL", name)])[1]
        guard case .integer(let removed) = reply else { throw unexpected(key, "DEL answered \(reply.typeName)") }
        return removed == 1
    }

    /// `DEL <lease>` and `PEXPIRE`, or `PERSIST` and `EXISTS` for no expiry.
    public func setExpiration(_ expiresAt: Timestamp?, forKey key: String) async throws -> Bool {
        let name = names.key(key)
        let breakLease = command("DEL", names.lease(ofKeyNamed: name))
        guard let milliseconds = try lifetime(expiresAt) else {
            let replies = try await send(key, [breakLease, command("PERSIST", name), command("EXISTS", name)])
            guard case .integer = replies[1], case .integer(let exists) = replies[2] else {
                throw unexpected(key, "PERSIST answered \(replies[1].typeName), EXISTS \(replies[2].typeName)")
            }
            return exists == 1
        }
        // A lifetime already over (0 or less) makes Redis delete the key, as an expired one.
        let reply = try await send(key, [breakLease, command("PEXPIRE", name, String(max(0, milliseconds)))])[1]
        guard case .integer(let changed) = reply else { throw unexpected(key, "PEXPIRE answered \(reply.typeName)") }
        return changed == 1
    }

    /// `DEL` of the key's lease, then one script, atomic in Redis: `INCRBY`, and `PEXPIRE`
    /// only if the key did not exist. Two single-key commands in one batch, as `set` sends
    /// its own: on a cluster, a script naming the lease too is a command of two keys, which
    /// a slot in mid-migration answers with `TRYAGAIN` (until the migration ends) whenever
    /// one of them is missing on the node asked, as a lease nearly always is.
    public func incrementEntry(forKey key: String, by delta: Int, expiresAt: Timestamp?) async throws -> Int {
        let milliseconds = try lifetime(expiresAt).map { String(max(0, $0)) } ?? ""  // 0: PEXPIRE deletes it
        let name = names.key(key)
        let reply = try await evaluate(
            Self.incrementScript, keys: [name], arguments: [Array(String(delta).utf8), Array(milliseconds.utf8)], key: key,
            after: [command("DEL", names.lease(ofKeyNamed: name))])
        guard case .integer(let value) = reply else { throw unexpected(key, "INCRBY answered \(reply.typeName)") }
        return Int(value)
    }

    static let incrementScript = RedisScript(
        """
        local existed = redis.call('EXISTS', KEYS[1])
        local value = redis.call('INCRBY', KEYS[1], ARGV[1])
        if existed == 0 and ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return value
        """)

    /// Breaks the leases of the keys under `prefix` (a `SCAN` of the lease names and
    /// `UNLINK`), then `SCAN`s the keys and `UNLINK`s them, a batch at a time. The leases go
    /// first: a computation that leased a key before this call started cannot store its
    /// value after it. A lease taken between the two passes is not broken, and reads the
    /// key as it was before the clear (that computation's miss began after the clear
    /// began, so the stale-set rule holds as worded). Strata's own names (records, locks)
    /// are never among the keys.
    ///
    /// It keeps no set of the names it removed, so its memory does not grow with the
    /// keyspace: a name found twice (`SCAN` may return one again; on a cluster, the slots
    /// that moved during the pass are scanned again) is unlinked twice, which is harmless,
    /// and `UNLINK` counts only the names it removed, so the count stays exact.
    @discardableResult
    public func clear(prefix: String) async throws -> Int {
        defer { noteChange(under: prefix) }  // once cleared: flights of its keys are overtaken (C1, R1)
        _ = try await unlinkAll(scanning: names.leasePattern(prefix), of: prefix) { name in
            guard let keyName = self.names.keyName(ofLease: name) else { return false }
            return keyName.starts(with: self.names.namespace + Array(prefix.utf8))
        }
        let wanted = names.namespace + Array(prefix.utf8)
        return try await unlinkAll(scanning: names.keyPattern(prefix), of: prefix) { self.names.isKey($0, prefix: wanted) }
    }

    /// `SCAN MATCH pattern` and `UNLINK` of the names `accept` takes, a page at a time;
    /// how many names `UNLINK` removed.
    private func unlinkAll(scanning pattern: [UInt8], of prefix: String, accept: @escaping ([UInt8]) -> Bool) async throws -> Int {
        var removed = 0
        try await scan(matching: pattern, of: prefix, unique: false, accept: accept) { batch in
            guard !batch.isEmpty else { return }
            // On a cluster one UNLINK may name keys of one slot only.
            let groups = cluster == nil ? [batch] : Array(Dictionary(grouping: batch, by: RedisClusterSlot.of).values)
            try await withThrowingTaskGroup(of: Int.self) { group in
                for names in groups {
                    group.addTask {
                        let reply = try await self.send([[Array("UNLINK".utf8)] + names], routing: names[0]) { _ in nil }[0]
                        guard case .integer(let count) = reply else { throw self.unexpected(nil, "UNLINK answered \(reply.typeName)") }
                        return Int(count)
                    }
                }
                for try await count in group { removed += count }
            }
        }
        return removed
    }
}
