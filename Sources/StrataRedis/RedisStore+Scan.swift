import Strata

/// Listing and clearing: `SCAN MATCH`, never `KEYS`.
///
/// On one server, `SCAN` returns every name that is present for the whole scan. On a
/// cluster every primary is scanned, and a key that moves between two primaries during
/// the pass (its slot resharded) can be behind the cursor on both. So a pass reads the
/// slots' layout (``RedisClusterLayout``) before and after it, and the primaries of every
/// slot that was not stable over the pass are scanned again, until each slot has been
/// covered by a pass over which it was stable: a key that exists for the whole call is
/// listed (or removed) whatever moves. Rescans may begin until `clusterRetryTime` after the
/// first pass; past it the call throws `backendUnavailable` naming the prefix. A primary
/// whose connection fails (it failed over, or left the cluster) has the map read again
/// until the map no longer names it, and the pass started over, within the same
/// `clusterRetryTime`; past it the call throws that node's error.
extension RedisStore {
    /// `SCAN MATCH` over every key of the store with `prefix` (Strata's own names are not
    /// keys), calling `visit` with each page's Redis names, each name once.
    func scan(prefix: String, _ visit: ([[UInt8]]) async throws -> Void) async throws {
        let wanted = names.namespace + Array(prefix.utf8)
        try await scan(
            matching: names.keyPattern(prefix), of: prefix, unique: true, accept: { self.names.isKey($0, prefix: wanted) }, visit)
    }

    /// `SCAN MATCH pattern` over every primary, calling `visit` with each page's Redis names
    /// that `accept` takes. With `unique`, each name comes once, which takes a set of every
    /// name found; without, a name may come again (`SCAN` may return one twice, a rescan
    /// does) and the memory used does not grow with the keyspace. `prefix` names the call
    /// in an error.
    func scan(
        matching pattern: [UInt8], of prefix: String, unique: Bool, accept: ([UInt8]) -> Bool,
        _ visit: ([[UInt8]]) async throws -> Void
    ) async throws {
        var seen: Set<[UInt8]>? = unique ? [] : nil
        defer { largestScanSet.store(max(largestScanSet.load(ordering: .relaxed), seen?.count ?? 0), ordering: .relaxed) }
        guard let cluster else {
            try await scan(pattern, accept: accept, seen: &seen, visit) { commands in try await self.send(nil, commands) }
            return
        }
        try checkOpen()
        var pending = [Bool](repeating: true, count: RedisClusterSlot.count)  // not yet covered by a pass
        var everySlot = true
        var order = cluster.primaries
        var deadline: ContinuousClock.Instant?
        var pause = Duration.milliseconds(5)
        while true {
            // Each node's own line of CLUSTER NODES is read in the pipeline of its first
            // page, and again once its scan is done, while the next node is scanned: only
            // the last node's second reading costs a round trip (see RedisClusterPass).
            var before: [[UInt8]?] = []
            var after: [Task<[UInt8]?, Never>] = []
            var unreachable: NodeUnreachable?
            for node in order {
                do {
                    before.append(
                        try await scan(
                            pattern, accept: { accept($0) && (everySlot || pending[RedisClusterSlot.of($0)]) },
                            seen: &seen, readingLayout: true, visit
                        ) { commands in
                            do {
                                return try await node.lane().send(commands)
                            } catch let error as CancellationError {
                                throw error
                            } catch {
                                throw NodeUnreachable(node: node.name, error: self.mapped(error, key: nil, node: node.name))
                            }
                        })
                } catch let failure as NodeUnreachable {
                    unreachable = failure
                    break
                }
                after.append(
                    Task {
                        guard case .bulk(let text)? = try? await node.lane().send([self.command("CLUSTER", "NODES")]).first else {
                            return nil
                        }
                        return text
                    })
            }
            if let unreachable {
                // A primary of the map does not answer (it failed over, or left): the map is
                // read again until it no longer names that node, and the pass starts over,
                // within the retry time. A node the map still names (down, frozen, not yet
                // failed over) is not scanned again meanwhile: that would wait out its command
                // timeout each time. What was visited is not visited again (`seen`), or may be
                // (a clear).
                for task in after { task.cancel() }
                if unreachable.error.code == .closed { throw unreachable.error }
                let end = deadline ?? ContinuousClock.now + configuration.clusterRetryTime
                deadline = end
                repeat {
                    guard ContinuousClock.now + pause < end else { throw unreachable.error }
                    try await Task.sleep(for: pause)
                    pause = min(pause * 2, .milliseconds(200))
                    try? await cluster.refresh(store: self, before: end)
                } while cluster.primaries.contains(where: { $0.name == unreachable.node })
                order = everySlot ? cluster.primaries : Self.scanOrder(of: pending, in: await cluster.layout())
                rescans.add(1, ordering: .relaxed)
                continue
            }
            var pass = RedisClusterPass()
            for (index, node) in order.enumerated() {
                pass.scanned.append(
                    .init(
                        node: node, before: before[index].flatMap(RedisClusterNodeLine.init),
                        after: await after[index].value.flatMap(RedisClusterNodeLine.init)))
            }
            let unstable = pass.cover(&pending)
            if unstable == 0 { return }
            everySlot = false
            let end = deadline ?? ContinuousClock.now + configuration.clusterRetryTime
            deadline = end
            guard ContinuousClock.now + pause < end else {
                throw StrataError(
                    code: .backendUnavailable,
                    message: """
                        the cluster's slots kept changing: \(unstable) slots could not be scanned while stable (one primary \
                        serving them, no migration) within \(configuration.clusterRetryTime) of the first pass, so a listing \
                        or clear of the prefix "\(prefix)" could miss keys
                        """,
                    backend: backendName)
            }
            // A slot in migration usually settles within milliseconds. The next pass scans
            // the nodes of the slots left, each migration's source before its target.
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(200))
            var layout = await cluster.layout()
            if pending.indices.contains(where: { pending[$0] && layout.claimant(of: $0) == nil }) {
                try? await cluster.refresh(store: self, before: end)  // a primary the map does not know yet
                layout = await cluster.layout()
            }
            order = Self.scanOrder(of: pending, in: layout)
            rescans.add(1, ordering: .relaxed)
        }
    }

    /// A node's connection failed during a listing's pass (not a reply of its server).
    private struct NodeUnreachable: Error {
        let node: String
        let error: StrataError
    }

    /// The primaries to scan for the `pending` slots: each one's claimant, and each one's
    /// target if it migrates, a migration's source before its target (see
    /// ``RedisClusterLayout``); in the layout's order otherwise.
    static func scanOrder(of pending: [Bool], in layout: RedisClusterLayout) -> [RedisCluster.Node] {
        var nodes: [RedisCluster.Node] = []
        var migrations: [(source: RedisCluster.Node, target: RedisCluster.Node)] = []
        for slot in pending.indices where pending[slot] {
            if let claimant = layout.claimant(of: slot), !nodes.contains(where: { $0 === claimant }) { nodes.append(claimant) }
            guard let migration = layout.migration(of: slot) else { continue }
            if !nodes.contains(where: { $0 === migration.target }) { nodes.append(migration.target) }
            if !nodes.contains(where: { $0 === migration.source }) { nodes.append(migration.source) }
            if !migrations.contains(where: { $0.source === migration.source && $0.target === migration.target }) {
                migrations.append(migration)
            }
        }
        // Sources first: each round takes the nodes no remaining node migrates slots to (all
        // that remain, if migrations run both ways between them).
        var ordered: [RedisCluster.Node] = []
        while !nodes.isEmpty {
            let free = nodes.filter { node in
                !migrations.contains { migration in
                    migration.target === node && migration.source !== node && nodes.contains { $0 === migration.source }
                }
            }
            let next = free.isEmpty ? nodes : free
            ordered += next
            nodes.removeAll { node in next.contains { $0 === node } }
        }
        return ordered
    }

    /// One node's `SCAN`, page by page, from cursor 0 back to 0; with `readingLayout`, a
    /// `CLUSTER NODES` goes before the first page, in its pipeline, and its text is returned.
    @discardableResult
    private func scan(
        _ match: [UInt8], accept: ([UInt8]) -> Bool, seen: inout Set<[UInt8]>?, readingLayout: Bool = false,
        _ visit: ([[UInt8]]) async throws -> Void, sending: ([[[UInt8]]]) async throws -> [RedisReply]
    ) async throws -> [UInt8]? {
        var layout: [UInt8]?
        var cursor: [UInt8] = Array("0".utf8)
        repeat {
            let scan = command("SCAN", cursor, "MATCH", match, "COUNT", String(configuration.scanBatchSize))
            var reply: RedisReply
            if readingLayout && layout == nil {
                let replies = try await sending([command("CLUSTER", "NODES"), scan])
                if case .bulk(let text) = replies[0] { layout = text } else { layout = [] }
                reply = replies[1]
            } else {
                reply = try await sending([scan])[0]
            }
            if case .error(let message) = reply { throw refusal(message, to: [Array("SCAN".utf8)], key: nil) }
            guard case .array(let parts) = reply, parts.count == 2, case .bulk(let next) = parts[0], case .array(let found) = parts[1]
            else { throw unexpected(nil, "SCAN answered \(reply.typeName)") }
            var batch: [[UInt8]] = []
            for item in found {
                guard case .bulk(let name) = item, accept(name) else { continue }
                if seen == nil || seen!.insert(name).inserted { batch.append(name) }
            }
            try await visit(batch)
            cursor = next
        } while cursor != Array("0".utf8)
        return layout
    }
}
