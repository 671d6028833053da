import Strata

/// Reads of values alone, what a typed `get` of this store asks: `GET` for one key, `MGET` in
/// a transaction for many, with no lifetimes (an envelope carries its own expiry, and the
/// server drops a key whose lifetime ended), so the server does about the least a read
/// costs it.
extension RedisStore: ValueOnlySource {
    /// The key's value without its lifetime: `GET` alone, where ``entry(forKey:)`` sends
    /// `GET` and `PTTL`. A key holding another Redis type throws `corruptEntry` naming it, as
    /// ``entry(forKey:)`` does.
    package func entryWithoutLifetime(forKey key: String) async throws -> StoredEntry? {
        let name = redisKey(key)
        return try valueEntry(key, try await send(key, [command("GET", name)])[0])
    }

    /// Every key's value without its lifetime, in `keys`' order (`nil` for a key missing or
    /// expired): on one server (or behind Sentinel) one round trip per chunk of up to 256 keys
    /// (`MULTI`, `MGET`, `EXISTS`, `EXEC`, `DISCARD`); on a cluster, `GET` per key, one pipeline
    /// per node.
    /// A key holding another Redis type throws `corruptEntry` naming it, as
    /// ``entry(forKey:)`` does.
    package func entriesWithoutLifetimes(forKeys keys: [String]) async throws -> [StoredEntry?] {
        try checkOpen()
        guard !keys.isEmpty else { return [] }
        if cluster != nil {
            let outcomes = try await sendBulk(keys, keys.map { [command("GET", names.key($0))] })
            return try keys.indices.map { try valueEntry(keys[$0], outcomes[$0].get()[0]) }
        }
        let chunks = readChunks(keys)
        let outcomes = await answers(of: chunks) { range in await self.valuesChunk(keys[range]) }
        var found: [StoredEntry?] = []
        found.reserveCapacity(keys.count)
        for (chunk, range) in chunks.enumerated() {
            for (key, value) in zip(keys[range], try outcomes[chunk].get()) { found.append(try valueEntry(key, value)) }
        }
        return found
    }

    /// One chunk's `GET` replies, in its keys' order, in one round trip: `MULTI`, `MGET` of
    /// the keys, `EXISTS` of the same keys, `EXEC`, `DISCARD`. `MGET` answers nil for a key
    /// missing and for one holding another Redis type alike; `EXISTS` counts the keys
    /// present, so when it counts more than `MGET` found, the keys it answered nil for are
    /// read again with `GET`, whose `WRONGTYPE` names the key (a round trip more, only then).
    ///
    /// `DISCARD` answers an error after an `EXEC` that ran or aborted. It is there for a
    /// server that answers an `EXEC` it refuses (an ACL that allows `MULTI` and not `EXEC`)
    /// without ending the transaction, which would queue every later command sent on the
    /// connection: it ends that transaction, and the connection is dropped if it is refused
    /// too. (Redis 7 ends it: `EXECABORT … no permissions to run the 'exec' command`.) A
    /// transaction aborted for one of its keys (`EXECABORT`: an ACL's key patterns) reads the
    /// chunk with `GET` per key, whose replies say which key; `MULTI` refused other than in a
    /// passing state of the server, or a command of the transaction refused as a command,
    /// sends `GET` per key from then on.
    private func valuesChunk(_ keys: ArraySlice<String>) async -> Result<[RedisReply], any Error> {
        await Result.of {
            guard !transactionsRefused.load(ordering: .relaxed) else { return try await gets(keys, at: Array(keys.indices)) }
            let lane = nextLaneInTurn()
            let answer = try await sendUnchecked(encoded: multiGetTransaction(keys), commands: 5, key: keys.first, on: lane)
            guard case .array(let results) = answer[3] else {
                // MULTI refused other than in a passing state of the server, or a command of
                // the transaction refused as a command (not for one of its keys): for good.
                if let refusal = answer[0].errorMessage, !Self.isPassing(refusal) {
                    transactionsRefused.store(true, ordering: .relaxed)
                } else if answer[1...3].contains(where: { $0.errorMessage.map(Self.refusesACommand) == true }) {
                    transactionsRefused.store(true, ordering: .relaxed)
                }
                if answer[0] == .status("OK"), let refusal = answer[3].errorMessage, !refusal.hasPrefix("EXECABORT"),
                    answer[4] != .status("OK")
                {
                    // EXEC refused without ending the transaction (Redis 6), and DISCARD refused
                    // too: the connection would queue every later command sent on it. Requests
                    // already pipelined behind this one were queued in it, not run: they answer
                    // QUEUED, which no call takes for done, and fail.
                    transactionsRefused.store(true, ordering: .relaxed)
                    lane.abandonConnection(unexpected(keys.first, "EXEC and DISCARD were refused after MULTI: \(refusal)"))
                }
                return try await gets(keys, at: Array(keys.indices))
            }
            guard results.count == 2, case .array(var values) = results[0], values.count == keys.count,
                case .integer(let present) = results[1]
            else {
                throw unexpected(keys.first, "MULTI, MGET, EXISTS and EXEC answered \(results.map(\.typeName))")
            }
            var found = 0
            for value in values { if case .bulk = value { found += 1 } }
            guard found < present else { return values }
            // A key MGET did not find exists: it holds another Redis type.
            let missing = values.indices.filter { values[$0] == .null }
            let again = try await gets(keys, at: missing.map { keys.startIndex + $0 })
            for (index, reply) in zip(missing, again) { values[index] = reply }
            return values
        }
    }

    /// Whether a refusal is of a state the server passes through (loading its data, a
    /// script running, a replica without its primary), after which it takes the command.
    private static func isPassing(_ refusal: String) -> Bool {
        ["LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"].contains { refusal.hasPrefix($0) }
    }

    /// Whether a refusal is of a command as such (an ACL without it: "NOPERM … to run the
    /// 'exec' command"; a server or proxy without it), not of one of its keys.
    private static func refusesACommand(_ refusal: String) -> Bool {
        (refusal.contains("NOPERM") && refusal.contains("command")) || refusal.contains("unknown command")
    }

    /// `GET` of `keys[indices]`, pipelined; one reply each, in turn.
    private func gets(_ keys: ArraySlice<String>, at indices: [Int]) async throws -> [RedisReply] {
        let replies = try await sendUnchecked(indices.map { command("GET", names.key(keys[$0])) }, routing: nil, key: keys.first)
        guard replies.count == indices.count else {
            throw unexpected(keys.first, "\(indices.count) GET commands answered \(replies.count) replies")
        }
        return replies
    }

    /// The entry a `GET` reply holds, without a lifetime; `nil` when the key is gone.
    private func valueEntry(_ key: String, _ value: RedisReply) throws -> StoredEntry? {
        switch value {
        case .null: return nil
        case .bulk(let bytes): return StoredEntry(bytes: bytes, expiresAt: nil)
        case .error(let message): throw refusal(message, to: command("GET", names.key(key)), key: key)
        default: throw unexpected(key, "GET answered \(value.typeName)")
        }
    }
}
