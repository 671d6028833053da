import Strata

/// What the primaries said about the slots at one moment (each one's own line of
/// `CLUSTER NODES`, ``RedisClusterNodeLine``): who claims each slot, and which migrate from
/// where to where. A listing orders its scans by it (``RedisStore/scanOrder(of:in:)``).
struct RedisClusterLayout {
    /// The primaries asked, in the order asked.
    let nodes: [RedisCluster.Node]
    /// For each slot, the index in `nodes` of the one node that claims it; -1 when none
    /// does, -2 when several do.
    private(set) var claimants = [Int32](repeating: -1, count: RedisClusterSlot.count)
    /// The slots in a migration: the indexes of source and target in `nodes` (-1 for a
    /// node not among them; -2 for both when the two nodes' lines disagree).
    private(set) var migrations: [Int: (source: Int32, target: Int32)] = [:]

    /// The layout that `lines` (each node's own line, `nil` when it did not answer) describe.
    init(nodes: [RedisCluster.Node], lines: [RedisClusterNodeLine?]) {
        self.nodes = nodes
        var indexes: [String: Int32] = [:]
        for (index, line) in lines.enumerated() { if let id = line?.id { indexes[id] = Int32(index) } }
        for (index, line) in lines.enumerated() {
            guard let line else { continue }
            for range in line.ranges {
                for slot in range { claimants[slot] = claimants[slot] == -1 ? Int32(index) : -2 }
            }
            let ways =
                line.outgoing.map { ($0.key, (source: Int32(index), target: indexes[$0.value] ?? -1)) }
                + line.incoming.map { ($0.key, (source: indexes[$0.value] ?? -1, target: Int32(index))) }
            for (slot, migration) in ways {
                if let known = migrations[slot], known != migration {
                    migrations[slot] = (-2, -2)
                } else {
                    migrations[slot] = migration
                }
            }
        }
    }

    /// The node that claims `slot`, if exactly one does.
    func claimant(of slot: Int) -> RedisCluster.Node? {
        node(claimants[slot])
    }

    /// The source and target of `slot`'s migration, if it migrates between nodes asked.
    func migration(of slot: Int) -> (source: RedisCluster.Node, target: RedisCluster.Node)? {
        guard let migration = migrations[slot], let source = node(migration.source), let target = node(migration.target) else { return nil }
        return (source, target)
    }

    private func node(_ index: Int32) -> RedisCluster.Node? {
        index < 0 ? nil : nodes[Int(index)]
    }
}

extension RedisCluster {
    /// Every primary's own line of `CLUSTER NODES`, asked of all at once. A node that does
    /// not answer claims nothing in it.
    func layout() async -> RedisClusterLayout {
        let nodes = primaries
        let command: [[UInt8]] = [Array("CLUSTER".utf8), Array("NODES".utf8)]
        let lines = await withTaskGroup(of: (Int, RedisClusterNodeLine?).self) { group in
            for (index, node) in nodes.enumerated() {
                group.addTask {
                    guard case .bulk(let text)? = try? await node.lane().send([command]).first else { return (index, nil) }
                    return (index, RedisClusterNodeLine(text))
                }
            }
            var lines = [RedisClusterNodeLine?](repeating: nil, count: nodes.count)
            for await (index, line) in group { lines[index] = line }
            return lines
        }
        return RedisClusterLayout(nodes: nodes, lines: lines)
    }
}
