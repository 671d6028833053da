import Strata

/// Bulk reads, writes and removals. A write's and a removal's commands are the single-key
/// call's, byte for byte (`DEL <lease>` and `SET [PX]`, or `DEL` for an entry already
/// expired; `DEL <lease>` and `DEL`), so a key's lease breaks as it does for one key: its
/// `DEL` goes first, in the same pipeline as the change. A read on one server asks for what
/// `entry(forKey:)`'s `GET` and `PTTL` answer with one script per chunk (see
/// `RedisStore+BulkRead.swift`); on a cluster it sends them per key. All the keys' commands go in one
/// pipelined round trip (on a cluster, one per node, the nodes in parallel; see
/// `RedisCluster+Bulk.swift`), cut into pipelines of at most ``bulkPipelineCommands``
/// commands (and a quarter of ``Configuration/maxQueuedBytes``), at most
/// ``Configuration/poolSize`` of them in flight, so a large call never fills a connection's
/// queue by itself. Every reply is checked.
extension RedisStore {
    /// Commands in one pipeline of a bulk call, at most (unless
    /// ``Configuration/maxQueuedCommands`` is lower): 256 keys' `GET` and `PTTL`.
    static let bulkPipelineCommands = 512

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
