import Strata

/// A bulk read of values alone, what a typed bulk `get` of this store asks: `MGET`, with no
/// lifetimes (an envelope carries its own expiry, and the server drops a key whose lifetime
/// ended), so the server does the least a batch of reads can cost it.
extension RedisStore: BulkValueSource {
    /// Every key's value without its lifetime, in `keys`' order (`nil` for a key missing or
    /// expired): on one server (or behind Sentinel) one `MGET` per 256 keys, then `GET` of the
    /// keys it did not find; on a cluster, `GET` per key, one pipeline per node. A key holding
    /// another Redis type throws `corruptEntry` naming it, as ``entry(forKey:)`` does.
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

    /// One chunk's `GET` replies, in its keys' order: `MGET` of all, then `GET` of each key
    /// `MGET` did not find (one round trip more, only when a key is missing). `MGET` answers
    /// nil for a key holding another type, which `GET` refuses (`WRONGTYPE`); and when `MGET`
    /// is refused as a whole (an ACL's key patterns), `GET` per key says which key.
    private func valuesChunk(_ keys: ArraySlice<String>) async -> Result<[RedisReply], any Error> {
        await Result.of {
            var replies: [RedisReply]
            if case .array(let values) = try await sendUnchecked(encoded: multiGetCommand(keys), commands: 1, key: keys.first)[0],
                values.count == keys.count
            {
                replies = values
            } else {
                replies = Array(repeating: .null, count: keys.count)
            }
            let unanswered = replies.indices.filter { replies[$0] == .null }
            guard !unanswered.isEmpty else { return replies }
            let commands = unanswered.map { command("GET", names.key(keys[keys.startIndex + $0])) }
            for (index, reply) in zip(unanswered, try await sendUnchecked(commands, routing: nil, key: keys.first)) {
                replies[index] = reply
            }
            return replies
        }
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
