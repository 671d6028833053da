import Strata

/// Bulk reads, writes and removals. A write's and a removal's commands are the single-key
/// call's, byte for byte (`DEL <lease>` and `SET [PX]`, or `DEL` for an entry already
/// expired; `DEL <lease>` and `DEL`), so a key's lease breaks as it does for one key: its
/// `DEL` goes first, in the same pipeline as the change. A read on one server asks for what
/// a single read's `GET` and `PTTL` answer with one script per chunk (``readScript``); on a
/// cluster it sends them per key. All the keys' commands go in one
/// pipelined round trip (on a cluster, one per node, the nodes in parallel; see
/// `RedisCluster+Bulk.swift`), cut into pipelines of at most ``bulkPipelineCommands``
/// commands (and a quarter of ``Configuration/maxQueuedBytes``), at most
/// ``Configuration/poolSize`` of them in flight, so a large call never fills a connection's
/// queue by itself. Every reply is checked.
extension RedisStore {
    /// Commands in one pipeline of a bulk call, at most (unless
    /// ``Configuration/maxQueuedCommands`` is lower): 256 keys' `GET` and `PTTL`.
    static let bulkPipelineCommands = 512

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
        var outcomes: [Result<[RedisReply], any Error>]
        if chunks.count == 1 {
            // One chunk (the usual case): sent from this task, with no child task to wait for.
            outcomes = [await readChunk(keys[...])]
        } else {
            var answered = [Result<[RedisReply], any Error>?](repeating: nil, count: chunks.count)
            await withTaskGroup(of: (Int, Result<[RedisReply], any Error>).self) { group in
                var waiting = chunks.indices.makeIterator()
                for _ in 0..<max(1, configuration.poolSize) {
                    guard let index = waiting.next() else { break }
                    let range = chunks[index]
                    group.addTask { (index, await self.readChunk(keys[range])) }
                }
                for await (index, outcome) in group {
                    answered[index] = outcome
                    if let next = waiting.next() {
                        let range = chunks[next]
                        group.addTask { (next, await self.readChunk(keys[range])) }
                    }
                }
            }
            outcomes = answered.map { $0! }
        }
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
        let namespace = names.namespace
        var bytes: [UInt8] = []
        bytes.reserveCapacity(
            64 + (whole ? script.source.count : script.sha.count) + keys.reduce(0) { $0 + 16 + namespace.count + $1.utf8.count })
        RedisProtocol.appendHeader(UInt8(ascii: "*"), 3 + keys.count, into: &bytes)
        if whole {
            RedisProtocol.appendArgument("EVAL".utf8, into: &bytes)
            RedisProtocol.appendArgument(script.source, into: &bytes)
        } else {
            RedisProtocol.appendArgument("EVALSHA".utf8, into: &bytes)
            RedisProtocol.appendArgument(script.sha, into: &bytes)
        }
        RedisProtocol.appendArgument(String(keys.count).utf8, into: &bytes)
        for key in keys {
            RedisProtocol.appendHeader(UInt8(ascii: "$"), namespace.count + key.utf8.count, into: &bytes)
            bytes.append(contentsOf: namespace)
            bytes.append(contentsOf: key.utf8)
            bytes.append(13)
            bytes.append(10)
        }
        return bytes
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

    /// `DEL <lease>` and `SET key value [PX ms]` (`DEL` for an entry already expired) for
    /// every entry, in the keys' byte order, pipelined as ``entries(forKeys:)`` is. Every
    /// reply is checked: a refusal part-way (`OOM`, `NOPERM`, `READONLY`…) throws the error
    /// ``setEntry(_:forKey:)`` throws for it, for the first key refused in byte order,
    /// with `StrataError.writtenKeys` listing the keys whose write the server answered
    /// `OK`. A connection lost with a pipeline out leaves its keys out of `writtenKeys`
    /// (they may or may not have been written).
    public func setEntries(_ entries: [String: StoredEntry]) async throws {
        let keys = BulkKeys.byteOrdered(entries.keys)
        let commands = try keys.map { key in try writeCommands(entries[key]!, forKeyNamed: names.key(key)) }
        let outcomes: [Result<[RedisReply], any Error>]
        do {
            outcomes = try await sendBulk(keys, commands)
        } catch {
            guard let first = keys.first else { throw error }
            throw BulkKeys.partialWrite(error, written: [], key: first, backend: backendName)
        }
        var written: [String] = []
        var failure: (error: any Error, key: String)?
        for (index, key) in keys.enumerated() {
            switch outcomes[index] {
            case .failure(let error):
                failure = failure ?? (error, key)
            case .success(let replies):
                do {
                    try accept(replies[1], to: commands[index][1], key: key)
                    written.append(key)
                    try check(replies, to: commands[index]) { _ in key }  // the lease's DEL too
                } catch {
                    failure = failure ?? (error, key)
                }
            }
        }
        if let failure { throw BulkKeys.partialWrite(failure.error, written: written, key: failure.key, backend: backendName) }
    }

    /// `DEL <lease>` and `DEL key` for every key, pipelined as ``entries(forKeys:)`` is;
    /// how many keys `DEL` removed (an expired key is no longer there to remove), as
    /// ``removeEntry(forKey:)`` counts.
    @discardableResult
    public func removeEntries(forKeys keys: [String]) async throws -> Int {
        let keys = Self.distinct(keys)
        let commands = keys.map { key in
            let name = names.key(key)
            return [command("DEL", names.lease(ofKeyNamed: name)), command("DEL", name)]
        }
        let outcomes = try await sendBulk(keys, commands)
        var removed = 0
        for (index, key) in keys.enumerated() {
            let replies = try outcomes[index].get()
            try check(replies, to: commands[index]) { _ in key }
            guard case .integer(let count) = replies[1], case .integer = replies[0] else {
                throw unexpected(key, "DEL answered \(replies[0].typeName), \(replies[1].typeName)")
            }
            if count == 1 { removed += 1 }
        }
        return removed
    }

    /// The commands of a write of `entry` to the key named `name`: `DEL` of its lease, then
    /// `SET` (with `PX` when it expires) or, for an entry already expired, `DEL`.
    func writeCommands(_ entry: StoredEntry, forKeyNamed name: [UInt8]) throws -> [[[UInt8]]] {
        let breakLease = command("DEL", names.lease(ofKeyNamed: name))
        guard let milliseconds = try lifetime(entry.expiresAt) else { return [breakLease, command("SET", name, entry.bytes)] }
        guard milliseconds > 0 else { return [breakLease, command("DEL", name)] }
        return [breakLease, command("SET", name, entry.bytes, "PX", String(milliseconds))]
    }

    /// Throws unless `reply` says the write `command` (of ``writeCommands(_:forKeyNamed:)``)
    /// was done: `OK` to a `SET`, a count to a `DEL`; an error reply throws its refusal.
    func accept(_ reply: RedisReply, to command: [[UInt8]], key: String) throws {
        if case .error(let message) = reply { throw refusal(message, to: command, key: key) }
        if command[0] == Array("DEL".utf8) {
            guard case .integer = reply else { throw unexpected(key, "DEL answered \(reply.typeName)") }
            return
        }
        try expectOK(key, "SET", reply)
    }

    /// `keys` without repeats (by their bytes), in their order.
    static func distinct(_ keys: [String]) -> [String] {
        // Keys equal by their bytes are equal as Swift strings: without those, none repeats.
        if Set(keys).count == keys.count { return keys }
        var seen = Set<[UInt8]>()
        seen.reserveCapacity(keys.count)
        return keys.filter { seen.insert(Array($0.utf8)).inserted }
    }

    /// Sends each key's `commands` (all of one key's in one pipeline, in order), pipelined
    /// in chunks; each key's replies (error replies included), or the failure that lost
    /// them. Throws only when the store is closed.
    func sendBulk(_ keys: [String], _ commands: [[[[UInt8]]]]) async throws -> [Result<[RedisReply], any Error>] {
        try checkOpen()
        let chunks = chunked(commands)
        // One pipeline (the usual case): sent from this task, with no child task to wait for.
        if chunks.count == 1 { return await sendChunk(keys[...], commands[...]) }
        var outcomes = [Result<[RedisReply], any Error>?](repeating: nil, count: keys.count)
        await withTaskGroup(of: (Range<Int>, [Result<[RedisReply], any Error>]).self) { group in
            var waiting = chunks.makeIterator()
            for _ in 0..<max(1, configuration.poolSize) {
                guard let range = waiting.next() else { break }
                group.addTask { (range, await self.sendChunk(keys[range], commands[range])) }
            }
            for await (range, answered) in group {
                for (offset, outcome) in answered.enumerated() { outcomes[range.lowerBound + offset] = outcome }
                if let range = waiting.next() { group.addTask { (range, await self.sendChunk(keys[range], commands[range])) } }
            }
        }
        return outcomes.map { $0! }
    }

    /// The ranges of `commands` (each key's) that make pipelines within the bounds.
    func chunked(_ commands: [[[[UInt8]]]]) -> [Range<Int>] {
        let maxCommands = max(1, min(Self.bulkPipelineCommands, configuration.maxQueuedCommands))
        let maxBytes = max(1, configuration.maxQueuedBytes / 4)
        var chunks: [Range<Int>] = []
        var start = 0
        var (count, bytes) = (0, 0)
        for (index, keyCommands) in commands.enumerated() {
            let size = keyCommands.reduce(0) { $0 + $1.reduce(16) { $0 + $1.count + 16 } }
            if index > start && (count + keyCommands.count > maxCommands || bytes + size > maxBytes) {
                chunks.append(start..<index)
                (start, count, bytes) = (index, 0, 0)
            }
            count += keyCommands.count
            bytes += size
        }
        if start < commands.count { chunks.append(start..<commands.count) }
        return chunks
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

    /// One chunk: one pipeline on a pooled connection, or on a cluster the keys grouped by
    /// slot and sent one pipeline per node.
    private func sendChunk(_ keys: ArraySlice<String>, _ commands: ArraySlice<[[[UInt8]]]>) async -> [Result<[RedisReply], any Error>] {
        if let cluster {
            var slots: [Int: [Int]] = [:]
            for index in keys.indices { slots[RedisClusterSlot.of(names.key(keys[index])), default: []].append(index) }
            let groups = Array(slots)
            let answered = await cluster.send(
                groups.map { slot, indexes in
                    RedisCluster.SlotBatch(slot: slot, commands: indexes.flatMap { commands[$0] }, key: keys[indexes[0]])
                }, store: self)
            var outcomes = [Result<[RedisReply], any Error>?](repeating: nil, count: keys.count)
            for ((_, indexes), outcome) in zip(groups, answered) {
                for (index, replies) in zip(indexes, Self.split(outcome, by: indexes.map { commands[$0].count })) {
                    outcomes[index - keys.startIndex] = replies
                }
            }
            return outcomes.map { $0! }
        }
        let outcome = await Result.of { try await sendUnchecked(commands.flatMap { $0 }, routing: nil, key: keys.first) }
        return Self.split(outcome, by: commands.map(\.count))
    }

    /// `outcome`'s replies cut into runs of `counts`; its failure for each run.
    static func split(_ outcome: Result<[RedisReply], any Error>, by counts: [Int]) -> [Result<[RedisReply], any Error>] {
        switch outcome {
        case .failure(let error):
            return counts.map { _ in .failure(error) }
        case .success(let replies):
            var start = 0
            return counts.map { count in
                defer { start += count }
                return .success(Array(replies[start..<start + count]))
            }
        }
    }
}
