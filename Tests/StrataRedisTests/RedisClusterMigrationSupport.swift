import Foundation
import Strata
import StrataTestSupport
import Testing

@testable import StrataRedis

/// Moving a slot by hand, the way `redis-cli --cluster reshard` does it, one step at a time:
/// `CLUSTER SETSLOT <slot> IMPORTING` on the target, `MIGRATING` on the source, `MIGRATE` of
/// some keys, and `SETSLOT <slot> NODE` on every primary to finish.
extension RedisTestCluster {
    /// A configuration of a store over this cluster, every node a seed.
    func configuration() throws -> RedisStore.Configuration {
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: seeds[0]))
        configuration.clusterSeeds = try seeds.map { try RedisEndpoint(url: $0) }
        return configuration
    }

    /// The node's id (`CLUSTER MYID`).
    func id(of server: RedisTestServer) async throws -> String {
        try await server.cli("CLUSTER", "MYID").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The server whose port a store's node name (`host:port`) ends with.
    func server(named name: String) throws -> RedisTestServer {
        try #require(servers.first { name.hasSuffix(":\($0.port)") }, "no test server is \(name)")
    }

    /// The primary that owns `slot`, as `store`'s slot map says.
    func owner(of slot: Int, in store: RedisStore) throws -> RedisTestServer {
        try server(named: try #require(store.cluster?.owner(of: slot)).name)
    }

    /// Puts `slot` in the middle of a migration from `source` to `target`.
    func beginMigration(of slot: Int, from source: RedisTestServer, to target: RedisTestServer) async throws {
        let importing = try await target.cli("CLUSTER", "SETSLOT", String(slot), "IMPORTING", try await id(of: source))
        let migrating = try await source.cli("CLUSTER", "SETSLOT", String(slot), "MIGRATING", try await id(of: target))
        #expect(importing.hasPrefix("OK") && migrating.hasPrefix("OK"), "\(importing) \(migrating)")
    }

    /// `MIGRATE` of `keys` (Redis names) from `source` to `target`.
    func migrate(_ keys: [String], from source: RedisTestServer, to target: RedisTestServer) async throws {
        let reply = try await source.cli(arguments: ["MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS"] + keys)
        try #require(reply.hasPrefix("OK"), "MIGRATE answered \(reply)")
    }

    /// Every key left in `slot` on `source` moved, and the slot given to `target` on every primary.
    func finishMigration(of slot: Int, from source: RedisTestServer, to target: RedisTestServer) async throws {
        while true {
            let left = try await source.cli("CLUSTER", "GETKEYSINSLOT", String(slot), "100")
                .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
            if left.isEmpty { break }
            try await migrate(left, from: source, to: target)
        }
        let targetID = try await id(of: target)
        for server in [target, source] + (try await primaries()).filter({ $0 !== target && $0 !== source }) {
            let reply = try await server.cli("CLUSTER", "SETSLOT", String(slot), "NODE", targetID)
            #expect(reply.hasPrefix("OK"), "SETSLOT NODE answered \(reply)")
        }
    }

    /// The slots `server` says it owns (its own line of `CLUSTER NODES`).
    func slotCount(of server: RedisTestServer) async throws -> Int {
        let nodes = try await server.cli("CLUSTER", "NODES")
        guard let line = nodes.split(separator: "\n").first(where: { $0.contains("myself") }) else { return 0 }
        return line.split(separator: " ").dropFirst(8).reduce(0) { count, field in
            if field.hasPrefix("[") { return count }
            let bounds = field.split(separator: "-").compactMap { Int($0) }
            return count + (bounds.count == 2 ? bounds[1] - bounds[0] + 1 : 1)
        }
    }

    /// The names matching `pattern` on every running node (a direct `SCAN`, not through a store).
    func namesOnEveryNode(matching pattern: String) async throws -> [String: [String]] {
        var found: [String: [String]] = [:]
        for server in servers where server.isRunning {
            found[server.tcpURL] = try await server.cli("--scan", "--pattern", pattern)
                .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        }
        return found
    }
}
