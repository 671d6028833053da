import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Testing

/// A real Redis Cluster on loopback: six `redis-server` processes with `cluster-enabled
/// yes` (three primaries, three replicas, a one-second node timeout), joined with
/// `redis-cli --cluster create … --cluster-replicas 1`; killed when released.
final class RedisTestCluster: Sendable {
    let servers: [RedisTestServer]

    /// The nodes' URLs, to give `RedisStore(cluster:)` as seeds (`rediss://` trusting the
    /// test CA on a TLS cluster).
    var seeds: [String] {
        guard let certificates else { return servers.map(\.tcpURL) }
        return servers.map { "rediss://127.0.0.1:\($0.port)?ca=\(certificates.ca)" }
    }

    /// One cluster for the tests that only read and write (each in a namespace of its own).
    static var shared: RedisTestCluster {
        get async throws { try await sharedCluster.cluster() }
    }

    private actor SharedCluster {
        private var starting: Task<RedisTestCluster, any Error>?
        func cluster() async throws -> RedisTestCluster {
            if starting == nil { starting = Task { try await RedisTestCluster() } }
            return try await starting!.value
        }
    }
    private static let sharedCluster = SharedCluster()

    /// The TLS cluster's certificates, when its nodes speak only TLS.
    let certificates: RedisTestCertificates?

    /// Three primaries with `replicas` each; with `certificates`, every node listens only
    /// for TLS (`--port 0 --tls-port`), and talks TLS to the others (`tls-cluster yes`).
    init(replicas: Int = 1, certificates: RedisTestCertificates? = nil) async throws {
        self.certificates = certificates
        var servers: [RedisTestServer] = []
        for _ in 0..<(3 * (1 + replicas)) {
            servers.append(
                try await RedisTestServer(
                    extraArguments: [
                        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
                        // A replica syncs at once (not after 5 s), and may take over however old its data.
                        "--repl-diskless-sync-delay", "0", "--cluster-replica-validity-factor", "0",
                    ],
                    argumentsForPort: { port in
                        guard let certificates else { return [] }
                        return ["--port", "0", "--tls-cluster", "yes", "--tls-replication", "yes"]
                            + certificates.serverArguments(port: port)
                    }))
        }
        self.servers = servers
        let tlsArguments = certificates.map { ["--tls", "--cacert", $0.ca] } ?? []
        let output = try await servers[0].cli(
            arguments: tlsArguments + ["--cluster", "create"] + servers.map { "127.0.0.1:\($0.port)" }
                + ["--cluster-replicas", String(replicas), "--cluster-yes"])
        guard output.contains("All 16384 slots covered") else {
            throw TestServerError(message: "redis-cli --cluster create failed: \(output.suffix(500))")
        }
        try await waitUntilHealthy(nodes: servers.count)
        // Replicas in sync: a primary killed later has a replica ready to take over.
        let synced = try await eventually(within: .seconds(30), poll: .milliseconds(50)) {
            for server in servers where !(try await server.cli("ROLE").hasPrefix("master")) {
                guard try await server.cli("INFO", "replication").contains("master_link_status:up") else { return false }
            }
            return true
        }
        guard synced else { throw TestServerError(message: "a replica did not sync within 30 s") }
    }

    /// Waits until three of the running nodes are primaries (after a primary was killed:
    /// its replica was promoted), and every running node says the cluster is up and knows
    /// all the nodes.
    func waitUntilHealthy(nodes expected: Int = 6, within limit: Duration = .seconds(30)) async throws {
        let healthy = try await eventually(within: limit, poll: .milliseconds(100)) {
            guard (try? await primaries().count) == 3 else { return false }
            for server in servers where server.isRunning {
                let info = (try? await server.cli("CLUSTER", "INFO")) ?? ""
                if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_ok:16384")
                    || !info.contains("cluster_known_nodes:\(expected)")
                {
                    return false
                }
            }
            return true
        }
        if healthy { return }
        throw TestServerError(message: "the cluster did not become healthy within \(limit)")
    }

    /// The servers that are primaries now, by `ROLE`.
    func primaries() async throws -> [RedisTestServer] {
        var primaries: [RedisTestServer] = []
        for server in servers where server.isRunning {
            if try await server.cli("ROLE").hasPrefix("master") { primaries.append(server) }
        }
        return primaries
    }
}
