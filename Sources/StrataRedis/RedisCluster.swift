import Strata
import Synchronization

/// A Redis Cluster as a ``RedisStore`` sees it: which primary owns each of the 16,384
/// slots, and a pool of pipelined connections per node.
///
/// Routing follows the cluster's own answers, command by command (a batch may be
/// answered in part, see `RedisCluster+Routing.swift`):
/// - `MOVED <slot> <node>`: the slot has a new owner. The map is updated for that slot at
///   once, a full refresh (`CLUSTER SLOTS`) follows, and the commands that got it are sent
///   again.
/// - `ASK <slot> <node>`: the slot is migrating and this name has moved already (or does
///   not exist). The commands that got it go to the target once, each after `ASKING` on
///   the same connection; the map is left alone. The commands answered keep their answers.
/// - `TRYAGAIN`, `CLUSTERDOWN`, a node that cannot be reached: wait (5 ms, doubling up to
///   200 ms), refresh the map, and send again.
/// - A connection lost with the command written: the call fails with
///   `backendUnavailable` (it may have run; sending it again could run it twice), and the
///   map is refreshed for the calls after it.
///
/// All within ``RedisStore/Configuration/clusterRetryTime``, refreshes of the map included
/// (see `RedisCluster+Refresh.swift`); past it, the call fails with `backendUnavailable`
/// naming the key and the node.
final class RedisCluster: Sendable {
    /// The connections to one node.
    final class Node: Sendable {
        let endpoint: RedisEndpoint
        let lanes: [RedisLane]
        private let nextLane = Atomic<Int>(0)

        init(endpoint: RedisEndpoint, lanes: [RedisLane]) {
            self.endpoint = endpoint
            self.lanes = lanes
        }

        /// `host:port`, the way the cluster names it.
        var name: String { Self.name(endpoint) }

        func lane() -> RedisLane {
            lanes[nextLane.add(1, ordering: .relaxed).oldValue % lanes.count]
        }

        static func name(_ endpoint: RedisEndpoint) -> String {
            switch endpoint.address {
            case .tcp(let host, let port): "\(host):\(port)"
            case .unix(let path): path
            }
        }
    }

    private struct Map {
        /// The owner of each slot: an index into `primaries`, or -1.
        var owners = [Int32](repeating: -1, count: RedisClusterSlot.count)
        var primaries: [Node] = []
        /// Every node connected to so far, by name: primaries, and targets of redirections.
        var nodes: [String: Node] = [:]
    }

    let seeds: [RedisEndpoint]
    let retryTime: Duration
    /// How long one attempt to read the map may take (a node that does not answer in
    /// time is passed over, and asked last next time).
    let refreshAttemptTime: Duration
    private let map = Lock(Map())
    private let makeLanes: @Sendable (RedisEndpoint) -> [RedisLane]
    /// The refresh under way, which every caller that needs one waits for (each for its
    /// own time at most).
    let refreshing = Lock<Task<Void, any Error>?>(nil)
    /// Nodes that did not answer the last time they were asked for the map, by name.
    let unanswering = Lock<Set<String>>([])
    /// Set by ``close()``: a node found after it gets closed lanes.
    private let closed = Atomic<Bool>(false)

    /// Reads the slot map from the first seed that answers, through `ask` (which waits, like
    /// connecting to one server: at most the connect and command timeouts per seed).
    init(
        seeds: [RedisEndpoint], retryTime: Duration, commandTimeout: Duration, ask: (RedisEndpoint, [[[UInt8]]]) throws -> [RedisReply],
        makeLanes: @escaping @Sendable (RedisEndpoint) -> [RedisLane]
    ) throws {
        self.seeds = seeds
        self.retryTime = retryTime
        refreshAttemptTime = min(commandTimeout, max(retryTime / 4, .milliseconds(50)))
        self.makeLanes = makeLanes
        var failures: [String] = []
        var emptyAnswer: (reply: RedisReply, seed: RedisEndpoint)?
        for seed in seeds {
            do {
                let reply = try ask(seed, [[Array("CLUSTER".utf8), Array("SLOTS".utf8)]])[0]
                if case .array(let ranges) = reply, ranges.isEmpty {
                    emptyAnswer = emptyAnswer ?? (reply, seed)  // another seed may serve the slots
                    continue
                }
                try apply(reply, from: seed)
                return
            } catch {
                failures.append("\(Node.name(seed)): \(error)")
            }
        }
        if let emptyAnswer {
            // No seed serves a slot yet: a cluster still forming. Its calls wait for the slots
            // and read the map again (a refresh takes no empty map), as they do for a slot
            // without an owner.
            try apply(emptyAnswer.reply, from: emptyAnswer.seed, allowingEmpty: true)
            return
        }
        throw RedisConnectionError(description: "no seed node answered CLUSTER SLOTS (\(failures.joined(separator: "; ")))")
    }

    /// Every node's lanes, for statistics and closing.
    var allLanes: [RedisLane] { map.withLock { $0.nodes.values.flatMap(\.lanes) } }

    /// The primaries, each once.
    var primaries: [Node] { map.withLock { $0.primaries } }

    /// The owner of `slot`, if the map knows one.
    func owner(of slot: Int) -> Node? {
        map.withLock { map in
            let owner = map.owners[slot]
            return owner < 0 ? nil : map.primaries[Int(owner)]
        }
    }

    /// The node called `name` (`host:port`), connected with the seeds' credentials.
    func node(named name: String) -> Node? {
        guard let colon = name.lastIndex(of: ":"), let port = Int(name[name.index(after: colon)...]) else { return nil }
        var host = String(name[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var endpoint = seeds[0]
        endpoint.address = .tcp(host: host, port: port)
        return node(endpoint)
    }

    func node(_ endpoint: RedisEndpoint) -> Node {
        let name = Node.name(endpoint)
        if let known = map.withLock({ $0.nodes[name] }) { return known }
        let made = Node(endpoint: endpoint, lanes: makeLanes(endpoint))
        return map.withLock { map in
            if let known = map.nodes[name] {
                made.lanes.forEach { $0.close() }
                return known
            }
            map.nodes[name] = made
            if closed.load(ordering: .acquiring) { made.lanes.forEach { $0.close() } }
            return made
        }
    }

    /// Applies a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id…], replicas…]…]`.
    /// An empty reply (a node that serves no slots) throws unless `allowingEmpty`.
    func apply(_ reply: RedisReply, from source: RedisEndpoint, allowingEmpty: Bool = false) throws {
        guard case .array(let ranges) = reply else {
            throw RedisConnectionError(description: "CLUSTER SLOTS answered \(reply.typeName): is this a cluster node?")
        }
        // A node not joined to a cluster yet (or reset, or restarted without its nodes.conf)
        // serves no slots: its map would route nothing, and a bus subscribed by it would hear
        // nothing yet look live. Not an answer: the next node is asked (only a store opened
        // while no seed serves any slot starts from it).
        guard !ranges.isEmpty || allowingEmpty else {
            throw RedisConnectionError(
                description: "CLUSTER SLOTS answered no slots: the node serves none (not joined to a cluster, or reset)")
        }
        var owners = [Int32](repeating: -1, count: RedisClusterSlot.count)
        var primaries: [Node] = []
        var indexes: [String: Int32] = [:]
        for range in ranges {
            guard case .array(let parts) = range, parts.count >= 3,
                case .integer(let start) = parts[0], case .integer(let end) = parts[1],
                case .array(let primary) = parts[2], primary.count >= 2, case .integer(let port) = primary[1],
                start >= 0, end < RedisClusterSlot.count, start <= end
            else { throw RedisConnectionError(description: "CLUSTER SLOTS answered a range it should not") }
            var endpoint = seeds[0]
            var host = ""
            if case .bulk(let bytes) = primary[0] { host = String(decoding: bytes, as: UTF8.self) }
            if host.isEmpty || host == "?" {  // the node does not know its own address: the one we reached
                if case .tcp(let sourceHost, _) = source.address { host = sourceHost }
            }
            endpoint.address = .tcp(host: host, port: Int(port))
            let owner = node(endpoint)
            let index =
                indexes[owner.name]
                ?? {
                    primaries.append(owner)
                    indexes[owner.name] = Int32(primaries.count - 1)
                    return Int32(primaries.count - 1)
                }()
            for slot in Int(start)...Int(end) { owners[slot] = index }
        }
        map.withLock { map in
            map.owners = owners
            map.primaries = primaries
        }
    }

    /// Points `slot` at `name` at once, after a `MOVED` (a full refresh follows).
    func move(_ slot: Int, to name: String) {
        guard let target = node(named: name) else { return }
        map.withLock { map in
            if let index = map.primaries.firstIndex(where: { $0 === target }) {
                map.owners[slot] = Int32(index)
            } else {
                map.primaries.append(target)
                map.owners[slot] = Int32(map.primaries.count - 1)
            }
        }
    }

    func close() {
        closed.store(true, ordering: .releasing)
        refreshing.withLock { $0?.cancel() }  // a refresh in flight ends with the lanes
        allLanes.forEach { $0.close() }
    }
}
