import Strata

/// A bulk read: on one server (or behind Sentinel) one script per chunk of keys (`MGET`,
/// then `PTTL` of each key found), `GET` and `PTTL` per key when the server refuses it; on
/// a cluster, `GET` and `PTTL` per key, one pipeline per node (see `RedisStore+Bulk.swift`).
extension RedisStore {
    /// Every key's value and remaining lifetime, one round trip for up to 256 keys: on one
    /// server (or behind Sentinel) one script per 256 keys (`readScript`: `MGET`, then
    /// `PTTL` of each key found, atomically), `GET` and `PTTL` per key pipelined when the
    /// server refuses the script; on a cluster, `GET` and `PTTL` per key, one pipeline per
    /// node, in parallel. A key missing or expired is absent; one holding another Redis
    /// type, or an answer that is not an entry's, throws `corruptEntry` naming it, as
    /// ``entry(forKey:)`` does.
    public func entries(forKeys keys: [String]) async throws -> [String: StoredEntry] {
        guard cluster == nil else { return try await pipelinedEntries(Self.distinct(keys)) }
        try checkOpen()
        // Repeats are read again: the answer is the same, and the result holds each key once.
        guard !keys.isEmpty else { return [:] }
        let chunks = readChunks(keys)
        let outcomes = await answers(of: chunks) { range in await self.readChunk(keys[range]) }
        let now = clock.now()
        var found: [String: StoredEntry] = [:]
        found.reserveCapacity(keys.count)
        for (chunk, range) in chunks.enumerated() {
            let replies = try outcomes[chunk].get()
            var offset = 0
            for key in keys[range] {
                let (value, lifetime) = (replies[offset], replies[offset + 1])
                offset += 2
                if case .error(let message) = value { throw refusal(message, to: command("GET", names.key(key)), key: key) }
                if case .error(let message) = lifetime { throw refusal(message, to: command("PTTL", names.key(key)), key: key) }
                if let entry = try entry(key, value: value, lifetime: lifetime, now: now) { found[key] = entry }
            }
        }
        return found
    }

    /// Each chunk's replies, or the failure that lost them: the first chunk (the usual case,
    /// the only one) sent from this task, with no child task to wait for; more in parallel, on
    /// up to ``Configuration/poolSize`` connections.
    func answers(
        of chunks: [Range<Int>], _ read: @escaping @Sendable (Range<Int>) async -> Result<[RedisReply], any Error>
    ) async -> [Result<[RedisReply], any Error>] {
        if chunks.count == 1 { return [await read(chunks[0])] }
        var answered = [Result<[RedisReply], any Error>?](repeating: nil, count: chunks.count)
        await withTaskGroup(of: (Int, Result<[RedisReply], any Error>).self) { group in
            var waiting = chunks.indices.makeIterator()
            for _ in 0..<max(1, configuration.poolSize) {
                guard let index = waiting.next() else { break }
                let range = chunks[index]
                group.addTask { (index, await read(range)) }
            }
            for await (index, outcome) in group {
                answered[index] = outcome
                if let next = waiting.next() {
                    let range = chunks[next]
                    group.addTask { (next, await read(range)) }
                }
            }
        }
        return answered.map { $0! }
    }

    /// KEYS: the keys read. Answers each key's value and remaining lifetime, in turn (nil
    /// and -2 for a missing key), read at one instant: `MGET` of all, then `PTTL` of each
    /// key found. `MGET` answers nil for a key holding another Redis type: `GET` of each key
    /// it did not find tells the two apart, its error reply (`WRONGTYPE`) in the value's place.
    /// It only reads, so it runs when the server is out of memory as `GET` does.
    static let readScript = RedisScript(
        """
        local values = redis.call('MGET', unpack(KEYS))
        local answer = {}
        for i, key in ipairs(KEYS) do
          local value = values[i]
          if value then
            answer[2 * i - 1] = value
            answer[2 * i] = redis.call('PTTL', key)
          else
            answer[2 * i - 1] = redis.pcall('GET', key)
            answer[2 * i] = -2
          end
        end
        return answer
        """)

    /// One chunk of a bulk read on one server: its keys' value and lifetime replies, in
    /// turn, from ``readScript`` or, when the server refuses the script, from `GET` and
    /// `PTTL` per key pipelined; or the failure that lost them.
    private func readChunk(_ keys: ArraySlice<String>) async -> Result<[RedisReply], any Error> {
        if !scriptedReadsRefused.load(ordering: .relaxed) {
            let sent = readScriptSent.load(ordering: .relaxed)
            do {
                var reply = try await sendUnchecked(encoded: readCommand(keys, whole: !sent), commands: 1, key: keys.first)[0]
                if sent, RedisScript.isMissing(reply) {
                    reply = try await sendUnchecked(encoded: readCommand(keys, whole: true), commands: 1, key: keys.first)[0]
                }
                if case .array(let replies) = reply, replies.count == 2 * keys.count {
                    if !sent { readScriptSent.store(true, ordering: .relaxed) }
                    return .success(replies)
                }
                // Refused as a whole: this chunk is read with the commands of a single read,
                // whose replies say which key. Only a refusal of the command itself (an ACL
                // without scripts: "NOPERM … run the 'evalsha' command"; scripting turned
                // off) stops scripted reads for good; one of a key (NOPERM "… access one of
                // the keys"), or a busy server, concerns this chunk only.
                if case .error(let message) = reply,
                    (message.hasPrefix("NOPERM") && message.contains("command")) || message.contains("unknown command")
                {
                    scriptedReadsRefused.store(true, ordering: .relaxed)
                }
            } catch {
                return .failure(error)
            }
        }
        var commands: [[[UInt8]]] = []
        commands.reserveCapacity(2 * keys.count)
        for key in keys {
            let name = names.key(key)
            commands.append(command("GET", name))
            commands.append(command("PTTL", name))
        }
        return await Result.of { try await sendUnchecked(commands, routing: nil, key: keys.first) }
    }

    /// ``readScript`` on `keys`, encoded: `EVALSHA` (`EVAL` with the source when `whole`),
    /// each key's name written straight from its bytes.
    func readCommand(_ keys: ArraySlice<String>, whole: Bool) -> [UInt8] {
        let script = Self.readScript
        let (verb, body) = whole ? ("EVAL".utf8, script.source) : ("EVALSHA".utf8, script.sha)
        let count = String(keys.count).utf8
        let size =
            RedisProtocol.headerSize(3 + keys.count) + RedisProtocol.argumentSize(verb.count)
            + RedisProtocol.argumentSize(body.count) + RedisProtocol.argumentSize(count.count) + namesSize(of: keys)
        return RedisProtocol.write(size: size) { writer in
            writer.header(RedisProtocol.arrayMark, 3 + keys.count)
            writer.argument(verb)
            writer.argument(body)
            writer.argument(count)
            writeNames(of: keys, into: &writer)
        }
    }

    /// `MULTI`, `MGET` of `keys`' names, `EXISTS` of the same, `EXEC`, `DISCARD`, encoded as
    /// one request: the lane writes a request's bytes whole and in order, so no other caller's
    /// command falls inside the transaction.
    func multiGetTransaction(_ keys: ArraySlice<String>) -> [UInt8] {
        let names = namesSize(of: keys)
        var size = 2 * RedisProtocol.headerSize(1 + keys.count) + 2 * names
        for verb in ["MGET", "EXISTS"] { size += RedisProtocol.argumentSize(verb.utf8.count) }
        for verb in ["MULTI", "EXEC", "DISCARD"] { size += RedisProtocol.headerSize(1) + RedisProtocol.argumentSize(verb.utf8.count) }
        return RedisProtocol.write(size: size) { writer in
            writer.header(RedisProtocol.arrayMark, 1)
            writer.argument("MULTI".utf8)
            for verb in ["MGET", "EXISTS"] {
                writer.header(RedisProtocol.arrayMark, 1 + keys.count)
                writer.argument(verb.utf8)
                writeNames(of: keys, into: &writer)
            }
            for verb in ["EXEC", "DISCARD"] {
                writer.header(RedisProtocol.arrayMark, 1)
                writer.argument(verb.utf8)
            }
        }
    }

    /// The bytes `keys`' names take as arguments.
    private func namesSize(of keys: ArraySlice<String>) -> Int {
        let namespace = names.namespace.count
        return keys.reduce(0) { $0 + RedisProtocol.argumentSize(namespace + $1.utf8.count) }
    }

    /// Each key's name as an argument, written straight from its bytes.
    private func writeNames(of keys: ArraySlice<String>, into writer: inout RedisProtocol.Writer) {
        let namespace = names.namespace
        for key in keys { writer.argument(namespace, key) }
    }

    /// ``entries(forKeys:)`` on a cluster: `GET` and `PTTL` of every key, one pipeline per
    /// node (a script's keys must share a slot).
    private func pipelinedEntries(_ keys: [String]) async throws -> [String: StoredEntry] {
        let commands = keys.map { key in
            let name = names.key(key)
            return [command("GET", name), command("PTTL", name)]
        }
        let outcomes = try await sendBulk(keys, commands)
        let now = clock.now()
        var found: [String: StoredEntry] = [:]
        found.reserveCapacity(keys.count)
        for (index, key) in keys.enumerated() {
            let replies = try outcomes[index].get()
            try check(replies, to: commands[index]) { _ in key }
            if let entry = try entry(key, value: replies[0], lifetime: replies[1], now: now) { found[key] = entry }
        }
        return found
    }

    /// The ranges of `keys` that make the chunks of a bulk read: those ``chunked(_:)``
    /// makes of each key's `GET` and `PTTL`, so the pipeline a chunk falls back on fits too.
    func readChunks(_ keys: [String]) -> [Range<Int>] {
        let maxKeys = max(1, min(Self.bulkPipelineCommands, configuration.maxQueuedCommands) / 2)
        let maxBytes = max(1, configuration.maxQueuedBytes / 4)
        let namespace = names.namespace.count
        var chunks: [Range<Int>] = []
        var start = 0
        var bytes = 0
        for (index, key) in keys.enumerated() {
            let size = 103 + 2 * (namespace + key.utf8.count)  // as chunked(_:) counts `GET name` and `PTTL name`
            if index > start && (index - start + 1 > maxKeys || bytes + size > maxBytes) {
                chunks.append(start..<index)
                (start, bytes) = (index, 0)
            }
            bytes += size
        }
        if start < keys.count { chunks.append(start..<keys.count) }
        return chunks
    }
}
