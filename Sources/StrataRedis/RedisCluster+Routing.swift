import Strata

/// Sending a call's commands to the node that serves them, following the cluster's
/// answers command by command.
///
/// A pipelined batch (a read of many keys of one slot, a write and the `DEL` of its
/// lease) can be answered partly: while a slot migrates, a command on a name still on
/// the source is answered there, and a command on a name that has moved (or that does not
/// exist: the source cannot tell) gets `ASK`. So each command keeps its own answer: the
/// ones answered normally are done (a write that ran is never sent again), and only the
/// ones redirected go on, each where its redirection says.
extension RedisCluster {
    /// What a reply says about where a command must go.
    enum Redirection {
        case moved(slot: Int, node: String)
        case ask(node: String)
        case wait(String)

        init?(_ reply: RedisReply) {
            guard case .error(let message) = reply else { return nil }
            let words = message.split(separator: " ")
            switch words.first {
            case "MOVED" where words.count >= 3:
                // A slot no cluster has (from a proxy, or a server that is no Redis) is no
                // redirection: the command fails with the reply, and no table is indexed by it.
                guard let slot = Int(words[1]), (0..<RedisClusterSlot.count).contains(slot) else { return nil }
                self = .moved(slot: slot, node: String(words[2]))
            case "ASK" where words.count >= 3:
                self = .ask(node: String(words[2]))
            case "TRYAGAIN", "CLUSTERDOWN":
                self = .wait(message)
            default:
                return nil
            }
        }
    }

    /// Where a command goes next: the slot's owner, or a migration's target (`ASK`).
    private struct Route {
        var asking: Node?

        func same(as other: Route) -> Bool { asking === other.asking }
    }

    /// A call answered in part: which commands are done, where the others go next.
    private struct Progress {
        var lastNode: Node?
        var lastProblem = "no node owns the slot"
        /// Whether this round met a redirection, or something to wait out.
        var rerouted = false
        var mustWait = false

        /// Empty (no allocation) until ``track(_:)``: most calls never need it.
        var replies: [RedisReply] = []
        var done: [Bool] = []
        var routes: [Route] = []

        /// Tracks `count` commands, none answered yet.
        mutating func track(_ count: Int) {
            guard done.count != count else { return }
            replies = [RedisReply](repeating: .null, count: count)
            done = [Bool](repeating: false, count: count)
            routes = [Route](repeating: Route(), count: count)
        }
    }

    /// Commands whose answer depends on what the commands before them in the batch did:
    /// read again when one of those had to go elsewhere (a lease set on a migration's
    /// target must be in place before its key is read, wherever the key is).
    private static let reads: Set<[UInt8]> = [Array("GET".utf8), Array("PTTL".utf8), Array("EXISTS".utf8)]

    /// Sends `commands` (all on names of `slot`, or keyless when `slot` is `nil`) to the
    /// node that owns the slot, following redirections; see the type's description.
    ///
    /// Commands are sent in order: a round sends the first pending command and those after
    /// it that go to the same node; when only reads are pending, every node's share goes
    /// in the same round. A read answered after a write that had to go elsewhere is read
    /// again after that write.
    ///
    /// `answered` is the slot's owner's replies to the whole batch when the caller sent it
    /// already (a bulk call's pipeline to a node, see `RedisCluster+Bulk.swift`): the call
    /// goes on from them, sending only what was redirected.
    func send(
        _ commands: [[[UInt8]]], slot: Int?, key: String?, store: RedisStore, answered firstReplies: [RedisReply]? = nil
    ) async throws -> [RedisReply] {
        let deadline = ContinuousClock.now + retryTime
        var progress = Progress()
        if let firstReplies {
            if !firstReplies.contains(where: { Redirection($0) != nil }) { return firstReplies }
            progress.track(commands.count)
            take(firstReplies, to: Array(commands.indices), of: commands, store: store, &progress)
        } else if let node = slot.map(owner(of:)) ?? primaries.first {
            // The common case: the whole batch goes to the slot's owner and is answered there.
            if let answered = try await send(commands, to: node, asking: false, key: key, store: store, &progress) {
                if !answered.contains(where: { Redirection($0) != nil }) { return answered }
                progress.track(commands.count)
                take(answered, to: Array(commands.indices), of: commands, store: store, &progress)
            }
        } else {
            progress.mustWait = true
        }
        progress.track(commands.count)
        var pause = Duration.milliseconds(5)
        var redirected = 0
        while true {
            if !progress.done.contains(false) { return progress.replies }
            if progress.rerouted { redirected += 1 }
            // A redirection is followed at once; nodes that keep sending a call back and
            // forth (views that disagree mid-migration) are waited out.
            if progress.mustWait || redirected > 3 {
                guard ContinuousClock.now + pause < deadline else {
                    throw StrataError(
                        code: .backendUnavailable,
                        message:
                            "the cluster did not serve the call within \(retryTime) (node \(progress.lastNode?.name ?? "?"): \(progress.lastProblem))",
                        key: key, backend: store.backendName)
                }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(200))
                try? await refresh(store: store, before: deadline)
            }
            progress.rerouted = false
            progress.mustWait = false
            for batch in batches(commands.indices.filter { !progress.done[$0] }, progress.routes, commands) {
                let asking = progress.routes[batch[0]].asking
                guard let node = asking ?? (slot.map(owner(of:)) ?? primaries.first) else {
                    progress.mustWait = true
                    progress.lastProblem = "no node owns the slot"
                    continue
                }
                let sent = batch.map { commands[$0] }
                if let answered = try await send(sent, to: node, asking: asking != nil, key: key, store: store, &progress) {
                    take(answered, to: batch, of: commands, store: store, &progress)
                }
            }
        }
    }

    /// Sends one batch to `node` (each command after `ASKING` when `asking`); `nil` when it
    /// could not be written (the call tries again later). Written and then lost, it throws:
    /// it may have run, so it is not sent again.
    private func send(
        _ batch: [[[UInt8]]], to node: Node, asking: Bool, key: String?, store: RedisStore, _ progress: inout Progress
    ) async throws -> [RedisReply]? {
        progress.lastNode = node
        do {
            if !asking { return try await node.lane().send(batch) }
            let answered = try await node.lane().send(batch.flatMap { [[Array("ASKING".utf8)], $0] })
            return stride(from: 1, to: answered.count, by: 2).map { answered[$0] }
        } catch let error as RedisNotSent {
            progress.lastProblem = "\(error.error)"
            progress.mustWait = true
            return nil
        } catch is RedisLaneClosed {
            throw store.mapped(RedisLaneClosed(), key: key)
        } catch let error as CancellationError {
            throw error  // cancelled before it was written
        } catch let error as RedisUnsent {
            throw store.mapped(error, key: key, node: node.name)  // the node's queue is full: nothing was written
        } catch {
            Task { try? await refresh(store: store) }  // for the calls after this one
            throw store.mapped(error, key: key, node: node.name)
        }
    }

    /// Keeps the answers to the commands at `indexes` of a batch, and routes the ones
    /// redirected where their redirection says.
    private func take(
        _ answered: [RedisReply], to indexes: [Int], of commands: [[[UInt8]]], store: RedisStore, _ progress: inout Progress
    ) {
        var firstRedirectedWrite: Int?
        for (position, index) in indexes.enumerated() {
            guard let redirection = Redirection(answered[position]) else {
                progress.replies[index] = answered[position]
                progress.done[index] = true
                continue
            }
            progress.rerouted = true
            if firstRedirectedWrite == nil && !Self.reads.contains(commands[index][0]) { firstRedirectedWrite = position }
            switch redirection {
            case .moved(let slot, let name):
                move(slot, to: name)
                Task { try? await refresh(store: store) }
                progress.routes[index] = Route()
                progress.lastProblem = "MOVED to \(name)"
            case .ask(let name):
                progress.routes[index] = Route(asking: node(named: name))
                progress.lastProblem = "ASK \(name)"
            case .wait(let message):
                progress.routes[index] = Route()
                progress.mustWait = true
                progress.lastProblem = message
            }
        }
        guard let first = firstRedirectedWrite else { return }
        // Reads answered after it are read again, after it, where their names are.
        for index in indexes[(first + 1)...] where progress.done[index] && Self.reads.contains(commands[index][0]) {
            progress.done[index] = false
            progress.routes[index] = Route()
        }
    }

    /// The batches of a round, each the pending commands (indexes) for one node, in order:
    /// every node's share when only reads are pending, else the first pending command and
    /// those right after it that go where it goes.
    private func batches(_ pending: [Int], _ routes: [Route], _ commands: [[[UInt8]]]) -> [[Int]] {
        if pending.allSatisfy({ Self.reads.contains(commands[$0][0]) }) {
            var batches: [[Int]] = []
            for index in pending {
                if let batch = batches.firstIndex(where: { routes[$0[0]].same(as: routes[index]) }) {
                    batches[batch].append(index)
                } else {
                    batches.append([index])
                }
            }
            return batches
        }
        return [Array(pending.prefix { routes[$0].same(as: routes[pending[0]]) })]
    }
}
