import Strata

/// Records, under names of Strata's own (`\xFFstrata:record:<namespace><name>`, see
/// ``RedisKeyNames``): apart from the keys, so no listing shows them and no `clear`
/// removes them. Each is its value as decimal text, with no lifetime (but a tag's record set
/// because a read found it missing, see below).
///
/// Under an `allkeys-*` eviction policy Redis may evict a record like any key. A tag's
/// record that is missing may therefore have held an invalidation: it is read as
/// invalidated in the millisecond before the one it was found missing in (and recorded so,
/// for ``missingTagRecordLifetime``, after which a read sets it again), never as never
/// invalidated, so the entries it invalidated stay unreadable. (The millisecond before: an
/// entry written in the same millisecond as the read that set it stays readable, and an
/// invalidation in that millisecond still ties with it, T4.) What is written after that is readable; entries of the tag
/// written before it are computed again. A server that refuses to record it (at
/// `maxmemory` with `noeviction`, a replica, an ACL without `EVALSHA`) still gets it read
/// so: the read does not fail.
extension RedisStore {
    /// One pipelined round trip of `GET`s; on a cluster, one batch per node, sent at once.
    /// A tag's record that is missing is set, if it still is, to the millisecond before the
    /// current one, which is its value (one more script for each).
    public func records(named names: [String]) async throws -> [Int64] {
        try checkOpen()
        guard !names.isEmpty else { return [] }
        let redisNames = names.map(self.names.record)
        let commands = redisNames.map { command("GET", $0) }
        let replies: [RedisReply]
        if let cluster {
            replies = try await readAcross(cluster, commands, names: redisNames) { names[$0] }
        } else {
            replies = try await send(commands, routing: nil) { names[$0] }
        }
        var values: [Int64] = []
        values.reserveCapacity(names.count)
        for (name, reply) in zip(names, replies) {
            if reply == .null, KeyRules.key(name, hasPrefix: "tag:") {
                values.append(try await recordFoundMissing(name))
            } else {
                values.append(try recordValue(reply, of: name))
            }
        }
        return values
    }

    /// How long a tag's record set because a read found it missing is kept: a tag no longer
    /// used leaves no key behind for ever. (A record an invalidation raised has no lifetime.)
    /// When it ends, the next read sets it again, and the entries of the tag written before
    /// that are computed again.
    static let missingTagRecordLifetime: Duration = .seconds(30 * 24 * 3_600)

    /// The value of a tag's record that a read found missing: the millisecond before the
    /// current one, set unless another process set or raised the record meanwhile (then
    /// that value). When the script fails (the server refuses writes, the connection is
    /// lost), the same instant, unrecorded: taking the tag as invalidated then is always safe.
    private func recordFoundMissing(_ name: String) async throws -> Int64 {
        let now = clock.now().millisecondsSince1970 - 1
        let reply: RedisReply
        do {
            reply = try await evaluate(
                Self.setIfMissingScript, keys: [names.record(name)],
                arguments: [
                    Array(String(now).utf8), Array(String(Self.missingTagRecordLifetime.wholeMilliseconds(roundingUp: true)).utf8),
                ],
                key: nil)
        } catch let error as StrataError where error.code == .closed {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return now
        }
        return try recordValue(reply, of: name)
    }

    private func recordValue(_ reply: RedisReply, of name: String) throws -> Int64 {
        switch reply {
        case .null:
            return 0
        case .bulk(let bytes):
            guard let text = String(validating: bytes, as: UTF8.self), let value = Int64(text) else {
                throw StrataError(
                    code: .corruptEntry, message: "the record \"\(name)\" is not a decimal number",
                    backend: backendName)
            }
            return value
        default:
            throw unexpected(nil, "reading the record \"\(name)\" answered \(reply.typeName)")
        }
    }

    /// KEYS: the record. ARGV: the value to set when it is missing, its lifetime in
    /// milliseconds. The record's value.
    static let setIfMissingScript = RedisScript(
        """
        local current = redis.call('GET', KEYS[1])
        if current then return current end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return ARGV[1]
        """)

    /// One script: `SET` of the record unless it holds a greater value already.
    public func raiseRecord(named name: String, to value: Int64) async throws {
        let reply = try await evaluate(Self.raiseScript, keys: [names.record(name)], arguments: [Array(String(value).utf8)], key: nil)
        guard case .integer = reply else { throw unexpected(nil, "raising the record \"\(name)\" answered \(reply.typeName)") }
    }

    /// KEYS: the record. ARGV: the value. Compares decimal text, not Lua's numbers (doubles,
    /// exact only to 2^53), so every `Int64` compares exactly; a missing record is 0, and a
    /// value that is no number is replaced.
    static let raiseScript = RedisScript(
        """
        local function greater(a, b)
          local negativeA, negativeB = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
          if negativeA ~= negativeB then return negativeB end
          if negativeA then a, b = b:sub(2), a:sub(2) end
          if #a ~= #b then return #a > #b end
          return a > b
        end
        local current = redis.call('GET', KEYS[1]) or '0'
        if not string.match(current, '^%-?%d+$') or greater(ARGV[1], current) then
          redis.call('SET', KEYS[1], ARGV[1])
          return 1
        end
        return 0
        """)

    /// Reads (`GET`s of any keys) on a cluster: one batch per node that owns some of the
    /// keys, the batches sent at once. A read whose slot moved meanwhile (a redirection, or
    /// a node that cannot be reached) is sent again on its own, through the cluster's
    /// routing: reads may be repeated.
    func readAcross(
        _ cluster: RedisCluster, _ commands: [[[UInt8]]], names: [[UInt8]], keyOfCommand: @escaping @Sendable (Int) -> String?
    ) async throws -> [RedisReply] {
        let slots = names.map(RedisClusterSlot.of)
        var byNode: [ObjectIdentifier: (node: RedisCluster.Node?, indexes: [Int])] = [:]
        var unowned: [Int] = []
        for (index, slot) in slots.enumerated() {
            if let node = cluster.owner(of: slot) {
                byNode[ObjectIdentifier(node), default: (node, [])].indexes.append(index)
            } else {
                unowned.append(index)
            }
        }
        let groups = byNode.values.map { ($0.node, $0.indexes) } + unowned.map { (nil, [$0]) }
        var replies = [RedisReply](repeating: .null, count: commands.count)
        try await withThrowingTaskGroup(of: [(Int, RedisReply)].self) { group in
            for (node, indexes) in groups {
                group.addTask {
                    let batch = indexes.map { commands[$0] }
                    let answered = try? await node?.lane().send(batch)
                    var results: [(Int, RedisReply)] = []
                    for (position, index) in indexes.enumerated() {
                        if let reply = answered?[position], !Self.isRedirection(reply) {
                            results.append((index, reply))
                        } else {
                            let reply = try await cluster.send(
                                [commands[index]], slot: slots[index], key: keyOfCommand(index), store: self)[0]
                            results.append((index, reply))
                        }
                    }
                    return results
                }
            }
            for try await results in group {
                for (index, reply) in results { replies[index] = reply }
            }
        }
        try check(replies, to: commands, keyOfCommand: keyOfCommand)
        return replies
    }

    /// Whether `reply` sends the command elsewhere or asks to wait (a slot moving, a
    /// failover): the cluster's routing handles those.
    static func isRedirection(_ reply: RedisReply) -> Bool {
        guard case .error(let message) = reply else { return false }
        return message.hasPrefix("MOVED ") || message.hasPrefix("ASK ") || message.hasPrefix("TRYAGAIN")
            || message.hasPrefix("CLUSTERDOWN")
    }
}
