import Strata

/// A bulk read of values alone, what a typed bulk `get` of this store asks: `MGET` in a
/// transaction, with no lifetimes (an envelope carries its own expiry, and the server drops
/// a key whose lifetime ended), so the server does about the least a batch of reads costs it.
extension RedisStore: BulkValueSource {
    /// Every key's value without its lifetime, in `keys`' order (`nil` for a key missing or
    /// expired): on one server (or behind Sentinel) one round trip per chunk of up to 256 keys
    /// (`MULTI`, `MGET`, `EXISTS`, `EXEC`); on a cluster, `GET` per key, one pipeline per node.
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
    /// the keys, `EXISTS` of the same keys, `EXEC`. `MGET` answers nil for a key missing and
    /// for one holding another Redis type alike; `EXISTS` counts the keys present, so when it
    /// counts more than `MGET` found, the keys it answered nil for are read again with `GET`,
    /// whose `WRONGTYPE` names the key (a round trip more, only then). A transaction refused
    /// (an ACL's key patterns: `EXECABORT`; a server or proxy without `MULTI`) reads the chunk
    /// with `GET` per key, whose replies say which key.
    private func valuesChunk(_ keys: ArraySlice<String>) async -> Result<[RedisReply], any Error> {
        await Result.of {
            guard !transactionsRefused.load(ordering: .relaxed) else { return try await gets(keys, at: Array(keys.indices)) }
            let answer = try await sendUnchecked(encoded: multiGetTransaction(keys), commands: 4, key: keys.first)
            guard case .array(let results) = answer[3] else {
                // Refused: EXECABORT (a queued command refused, its own error in its place), or
                // MULTI itself refused, for good (an ACL without it, a proxy without transactions).
                if case .error(let message) = answer[0],
                    (message.hasPrefix("NOPERM") && message.contains("command")) || message.contains("unknown command")
                {
                    transactionsRefused.store(true, ordering: .relaxed)
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
