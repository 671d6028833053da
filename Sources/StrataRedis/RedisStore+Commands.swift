import Strata
import Synchronization

/// Sending commands: argument vectors, lanes, and every error reply turned into a `StrataError`.
extension RedisStore {
    /// `PUBLISH channel message` on a pooled connection; the number of subscribers reached.
    @discardableResult
    func publish(channel: [UInt8], message: [UInt8]) async throws -> Int {
        Int(try await integer(nil, [command("PUBLISH", channel, message)]))
    }

    /// The servers a subscription may be made on, in the order to try them: the store's
    /// endpoint, or a cluster's primaries then its seeds (every node delivers a channel).
    var subscriptionEndpoints: [RedisEndpoint] {
        if let sentinelMonitor { return [sentinelMonitor.target.endpoint] }
        let endpoints = cluster.map { $0.primaries.map(\.endpoint) + $0.seeds } ?? [configuration.endpoint]
        return endpoints.isEmpty ? [configuration.endpoint] : endpoints
    }

    /// The servers that hold keys, where tracking is turned on: the one server, the primary
    /// behind Sentinel, or every primary of a cluster.
    var trackingEndpoints: [RedisEndpoint] {
        if let sentinelMonitor { return [sentinelMonitor.target.endpoint] }
        if let cluster { return cluster.primaries.map(\.endpoint) }
        return [configuration.endpoint]
    }

    func redisKey(_ key: String) -> [UInt8] { names.key(key) }

    func command(_ name: String, _ arguments: any RedisArgument...) -> [[UInt8]] {
        [Array(name.utf8)] + arguments.map(\.redisBytes)
    }

    /// Milliseconds from now until `expiresAt`; `nil` for no expiry. A lifetime longer
    /// than 10,000 years (the longest `Expiry`; a saturated far-future `Timestamp`, say)
    /// is sent as 10,000 years: Redis refuses an expire time that overflows its clock.
    func lifetime(_ expiresAt: Timestamp?) throws -> Int64? {
        expiresAt.map { min(clock.now().milliseconds(until: $0), Self.longestLifetime) }
    }

    /// 10,000 years in milliseconds.
    static let longestLifetime: Int64 = 10_000 * 31_557_600_000

    func integer(_ key: String?, _ commands: [[[UInt8]]]) async throws -> Int64 {
        let reply = try await send(key, commands)[0]
        if case .integer(let value) = reply { return value }
        throw unexpected(key, "expected an integer, got \(reply.typeName)")
    }

    /// Throws unless `reply` is the `+OK` status that means a write was done.
    func expectOK(_ key: String, _ name: String, _ reply: RedisReply) throws {
        guard reply == .status("OK") else { throw unexpected(key, "\(name) answered \(reply.typeName)") }
    }

    func checkOpen() throws {
        if closed.load(ordering: .acquiring) {
            throw StrataError(code: .closed, message: "the store is closed", backend: backendName)
        }
    }

    /// Sends commands on the next lane (on a cluster, of the node that owns `key`'s slot);
    /// every failure becomes a `StrataError` naming the key and server.
    ///
    /// An error reply to any of the commands throws here, so no caller can mistake a
    /// refusal (`OOM`, `READONLY`, `NOPERM`, `BUSY`…) for an answer: the error's code says
    /// what can cure it (``RedisServerError/code``) and its `underlying` is the refusal.
    func send(_ key: String?, _ commands: [[[UInt8]]]) async throws -> [RedisReply] {
        try await send(commands, routing: key.map(redisKey)) { _ in key }
    }

    /// `send`, naming in an error the key `keyOfCommand` gives for the command's index (a
    /// batch of commands over many keys). `routing` is the Redis key whose slot chooses the
    /// node on a cluster (any node when `nil`).
    func send(_ commands: [[[UInt8]]], routing: [UInt8]?, keyOfCommand: (Int) -> String?) async throws -> [RedisReply] {
        let replies = try await sendUnchecked(commands, routing: routing, key: keyOfCommand(0))
        try check(replies, to: commands, keyOfCommand: keyOfCommand)
        return replies
    }

    /// Sends `commands` and returns their replies, error replies included.
    func sendUnchecked(_ commands: [[[UInt8]]], routing: [UInt8]?, key: String?) async throws -> [RedisReply] {
        try checkOpen()
        if let cluster {
            return try await cluster.send(commands, slot: routing.map(RedisClusterSlot.of), key: key, store: self)
        }
        do {
            let lane = nextLaneInTurn()
            let replies = try await lane.send(commands)
            guard let sentinelMonitor, replies.contains(where: { $0.errorMessage?.hasPrefix("READONLY") == true }) else { return replies }
            // A demoted primary, which ran no write of these (a replica refuses every write;
            // a `PUBLISH` among them ran, and runs again: one message more):
            // the primary is looked up again (for a command timeout at most; the move drops
            // every connection to the old one) and they are sent once more, to the primary.
            guard (try? await sentinelMonitor.lookUp(before: .now + configuration.commandTimeout)) != nil else { return replies }
            return try await lane.send(commands)
        } catch let error as CancellationError {
            throw error  // the task was cancelled before the commands were written
        } catch {
            throw mapped(error, key: key)
        }
    }

    /// The next of the pool's connections, in turn.
    func nextLaneInTurn() -> RedisLane {
        lanes[nextLane.add(1, ordering: .relaxed).oldValue % lanes.count]
    }

    /// ``sendUnchecked(_:routing:key:)`` of `commands` commands already encoded
    /// (``RedisProtocol``) in `bytes`, on one server (or behind Sentinel): not on a cluster; on
    /// `chosen` when given, else on the next connection in turn.
    func sendUnchecked(encoded bytes: [UInt8], commands: Int, key: String?, on chosen: RedisLane? = nil) async throws -> [RedisReply] {
        try checkOpen()
        do {
            let lane = chosen ?? nextLaneInTurn()
            let replies = try await lane.send(encoded: bytes, commands: commands)
            guard let sentinelMonitor, replies.contains(where: { $0.errorMessage?.hasPrefix("READONLY") == true }) else { return replies }
            // As sendUnchecked: a demoted primary ran none of them; sent once more, to the primary.
            guard (try? await sentinelMonitor.lookUp(before: .now + configuration.commandTimeout)) != nil else { return replies }
            return try await lane.send(encoded: bytes, commands: commands)
        } catch let error as CancellationError {
            throw error
        } catch {
            throw mapped(error, key: key)
        }
    }

    /// Throws the refusal of the first error reply among `replies`.
    func check(_ replies: [RedisReply], to commands: [[[UInt8]]], keyOfCommand: (Int) -> String?) throws {
        for (index, reply) in replies.enumerated() {
            if case .error(let message) = reply { throw refusal(message, to: commands[index], key: keyOfCommand(index)) }
        }
    }

    /// Runs `script` on `keys` (the first chooses the node on a cluster; all share its slot)
    /// by `EVALSHA`, or by `EVAL` when the server does not have it cached; its reply.
    /// `preceding`: commands of the same slot sent just before it, in the same batch (sent
    /// once: they are not sent again with an `EVAL`); a refusal of any of them throws.
    func evaluate(
        _ script: RedisScript, keys: [[UInt8]], arguments: [[UInt8]], key: String?, after preceding: [[[UInt8]]] = []
    ) async throws -> RedisReply {
        var command = script.evalSHA(keys: keys, arguments: arguments)
        var replies = try await sendUnchecked(preceding + [command], routing: keys.first, key: key)
        if RedisScript.isMissing(replies[preceding.count]) {
            // A refused preceding command (the lease's DEL, say) fails the call before the
            // script runs: a caller that tries again must not find it run once already.
            try check(Array(replies[..<preceding.count]), to: preceding) { _ in key }
            command = script.eval(keys: keys, arguments: arguments)
            replies[preceding.count] = try await sendUnchecked([command], routing: keys.first, key: key)[0]
        }
        try check(replies, to: preceding + [command]) { _ in key }
        return replies[preceding.count]
    }

    /// A lane's failure as the error a caller sees; `node` names a cluster's node.
    func mapped(_ error: any Error, key: String?, node: String? = nil) -> StrataError {
        let onNode = node.map { " (node \($0))" } ?? ""
        switch error {
        case let error as RedisNotSent:
            return mapped(error.error, key: key, node: node)
        case let error as RedisUnsent:
            return StrataError(code: .backendUnavailable, message: error.description + onNode, key: key, backend: backendName)
        case let error as StrataError:
            return StrataError(
                code: error.code, message: error.message + onNode, key: key, backend: backendName, underlying: error.underlying)
        case is RedisLaneClosed:
            return StrataError(code: .closed, message: "the store is closed", key: key, backend: backendName)
        default:
            return StrataError(
                code: .backendUnavailable, message: "the connection to the server failed" + onNode, key: key,
                backend: backendName, underlying: error)
        }
    }

    /// The error for a server's error reply to `command`.
    func refusal(_ message: String, to command: [[UInt8]], key: String?) -> StrataError {
        let refusal = RedisServerError(message: message, command: String(decoding: command[0], as: UTF8.self))
        let explanation =
            switch refusal.code {
            case .corruptEntry: "the key holds a Redis value that is not a string (a list, hash, set…): \(message)"
            case .notAnInteger: "the value is not a decimal integer or would overflow (\(message))"
            case .storageFull: "the server is out of memory and refused \(refusal.command), nothing was stored: \(message)"
            case .accessDenied: "the server does not allow \(refusal.command) for this user: \(message)"
            default: "the server refused \(refusal.command): \(message)"
            }
        return StrataError(code: refusal.code, message: explanation, key: key, backend: backendName, underlying: refusal)
    }

    /// An answer that is no error reply but not what the command answers either.
    func unexpected(_ key: String?, _ message: String) -> StrataError {
        StrataError(code: .corruptEntry, message: "unexpected reply: \(message)", key: key, backend: backendName)
    }
}

/// What a command argument can be: raw bytes, or text sent as its UTF-8 bytes.
protocol RedisArgument {
    var redisBytes: [UInt8] { get }
}

extension [UInt8]: RedisArgument {
    var redisBytes: [UInt8] { self }
}

extension String: RedisArgument {
    var redisBytes: [UInt8] { Array(utf8) }
}
