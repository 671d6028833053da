import Foundation
import Glibc
import StrataTestSupport
import StrataTesting
import Synchronization

/// A primary, a replica and three sentinels (Debian's `redis-sentinel`) watching it as
/// `mymaster-…` (a name of the set's own), each a process of its own on loopback, killed with the fixture. Sentinels
/// take a primary as down after 1 s without an answer (`down-after-milliseconds`), so a
/// failover after a crash takes a few seconds.
final class RedisTestSentinels: Sendable {
    /// The name the sentinels know the primary by: `mymaster-` and 8 random hex digits, a
    /// name of this set's own. Sentinels send their hellos to every sentinel they ever
    /// met, at its address, forever; a dead set's sentinel's port taken by a sentinel of a
    /// new set got the hellos of a live set, which it took (the same name) as three more
    /// peers of its primary: "OK 6 usable Sentinels", and the fixture's 60 s wait failed in
    /// the all-traits suite (2 runs of 2 here). How the first two sets met is not known (a
    /// live set hellos only sentinels it once adopted); a hello for a name a sentinel does
    /// not watch is dropped, so with names of their own no set can adopt another's
    /// sentinels, nor its primary, and no such link can form.
    let primaryName: String

    let primary: RedisTestServer
    let replica: RedisTestServer
    let sentinelPorts: [Int]
    private let sentinels: [ChildProcess]
    private let directory: String
    /// redis-cli's TLS options for the sentinels.
    private let cliTLS: [String]

    /// `redis-sentinel://127.0.0.1:p1,…/mymaster-…` (with `query`, when given).
    func url(query: String = "") -> String {
        "redis-sentinel://" + sentinelPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",") + "/\(primaryName)" + query
    }

    /// Starts the servers and the sentinels, and waits until the replica is in sync and the
    /// sentinels know it and each other (`SENTINEL CKQUORUM` answers OK), so a failover can
    /// be made.
    ///
    /// With `certificates`, every server and sentinel listens for TLS only on its port (and
    /// replicates and watches over TLS); the servers' unix sockets stay plain.
    init(certificates: RedisTestCertificates? = nil) async throws {
        let primaryName = "mymaster-" + String(format: "%08x", UInt32.random(in: .min ... .max))
        self.primaryName = primaryName
        // A replica's first sync waits 5 s by default (for more replicas to share it): not here.
        let replication = ["--repl-diskless-sync-delay", "0"]
        let tlsOnly: (Int) -> [String] = { port in
            certificates.map { ["--port", "0", "--tls-replication", "yes"] + $0.serverArguments(port: port) } ?? []
        }
        primary = try await RedisTestServer(extraArguments: replication, argumentsForPort: tlsOnly)
        replica = try await RedisTestServer(
            extraArguments: replication + ["--replicaof", "127.0.0.1", String(primary.port)], argumentsForPort: tlsOnly)
        cliTLS = certificates.map { ["--tls", "--cacert", $0.ca] } ?? []
        directory = try createdTemporaryDirectory("sentinels")
        var ports: [Int] = []
        var processes: [ChildProcess] = []
        let primaryPort = primary.port
        let directory = directory
        do {
            for index in 0..<3 {
                let (port, process) = try await Self.startSentinel(index, directory: directory) { port, socket in
                    Self.configuration(
                        port: port, socket: socket, primaryName: primaryName, primaryPort: primaryPort, directory: directory,
                        certificates: certificates)
                }
                killAtExit(process.pid)  // a suite's shared set is never deinitialized
                processes.append(process)
                ports.append(port)
            }
        } catch {
            // The fixture never finishes its init, so its deinit will not kill these.
            for process in processes where process.isRunning {
                process.send(SIGKILL)
                while process.isRunning { try await Task.sleep(for: .milliseconds(1)) }
            }
            for process in processes { forgetAtExit(process.pid) }
            throw error
        }
        sentinelPorts = ports
        sentinels = processes
        // What the last poll saw, for the error: which sentinel lacked which peer or the
        // replica. (This wait failed in CI when the replies of redis-cli were read on
        // Dispatch's shared pool: behind blocked work there, a poll's replies, written
        // in the first second, were read after the 60 s, and said "not yet".)
        var seen: [String] = []
        let ready = try await eventually(within: .seconds(60), poll: .milliseconds(200)) {
            var ready = true
            seen = []
            for port in ports {
                let quorum = (try? await sentinel(port, "SENTINEL", "CKQUORUM", primaryName)) ?? ""
                let replicas = (try? await sentinel(port, "SENTINEL", "REPLICAS", primaryName)) ?? ""
                let knowsReplica = replicas.contains(String(replica.port))
                ready = ready && quorum.hasPrefix("OK 3 usable") && knowsReplica
                seen.append(
                    "\(port): \(quorum.trimmingCharacters(in: .whitespacesAndNewlines)), replica \(knowsReplica ? "known" : "unknown")")
            }
            let link = (try? await replica.cli("INFO", "replication")) ?? ""
            seen.append("replica link " + (link.contains("master_link_status:up") ? "up" : "not up"))
            return ready && link.contains("master_link_status:up")
        }
        if ready { return }
        let dead = zip(ports, processes).filter { !$0.1.isRunning }.map { String($0.0) }
        var states: [String] = []
        for port in ports {
            let info = (try? await sentinel(port, "INFO", "sentinel")) ?? ""
            let tilt = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("sentinel_tilt:") } ?? "no INFO"
            let peers = (try? await sentinel(port, "SENTINEL", "SENTINELS", primaryName)) ?? ""
            let lines = peers.split(whereSeparator: \.isNewline)
            let field = { (name: String) in zip(lines, lines.dropFirst()).filter { $0.0 == name }.map { String($0.1) } }
            let primary = (try? await sentinel(port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", primaryName)) ?? ""
            states.append(
                "\(port): \(tilt), primary \(primary.split(whereSeparator: \.isNewline).joined(separator: ":")), peers on ports \(field("port")) flagged \(field("flags"))"
            )
        }
        throw TestServerError(
            message: "the sentinels did not see the primary, the replica and each other in 60 s"
                + (dead.isEmpty ? "" : " (the sentinels on ports \(dead.joined(separator: ", ")) exited)")
                + "; last seen: \(seen.joined(separator: "; ")); then \(states.joined(separator: "; "))"
                + "; this set's primary \(primary.port), replica \(replica.port), sentinels \(ports)")
    }

    /// Starts sentinel `index` on a free port and waits until it listens there, known by a
    /// unix socket of its own: Redis binds its TCP port first and exits when it cannot, so
    /// a connect to the socket means this sentinel holds the port (a connect to the port
    /// could reach another test's server on it, and a command could hang on a frozen one).
    /// A sentinel that exits as it starts is started again on another port, twice at most:
    /// the fixture waited 60 s for a sentinel that was not running before, and failed a
    /// Sentinel test under ThreadSanitizer.
    private static func startSentinel(
        _ index: Int, directory: String, configuration: (_ port: Int, _ socket: String) -> String
    ) async throws -> (Int, ChildProcess) {
        var exits = 0
        for attempt in 0..<3 {
            let port = try RedisTestServer.freePort()
            let socket = "\(directory)/sentinel-\(index)-\(attempt).sock"
            let file = "\(directory)/sentinel-\(index).conf"  // a sentinel rewrites its file: one each
            try configuration(port, socket).write(toFile: file, atomically: true, encoding: .utf8)
            let process = try ChildProcess(
                try RedisTestServer.executable("redis-sentinel"), [file], output: .discarded, errors: .discarded)
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline, process.isRunning, !RedisTestServer.accepts(socket) {
                try await Task.sleep(for: .milliseconds(10))
            }
            if process.isRunning && RedisTestServer.accepts(socket) { return (port, process) }
            if process.isRunning {
                process.send(SIGKILL)
                while process.isRunning { try await Task.sleep(for: .milliseconds(1)) }
                throw TestServerError(message: "sentinel \(index) did not listen on port \(port) in 30 s")
            }
            exits += 1
        }
        throw TestServerError(message: "sentinel \(index) exited as it started, on \(exits) ports")
    }

    /// Sentinel's configuration file: listening on `port` (TLS only, with `certificates`)
    /// and on the unix socket `socket`, watching the primary on `primaryPort` as `primaryName`.
    private static func configuration(
        port: Int, socket: String, primaryName: String, primaryPort: Int, directory: String, certificates: RedisTestCertificates?
    ) -> String {
        let listening =
            certificates.map { certificates in
                """
                port 0
                tls-port \(port)
                tls-cert-file \(certificates.serverCertificate)
                tls-key-file \(certificates.serverKey)
                tls-ca-cert-file \(certificates.ca)
                tls-auth-clients no
                tls-replication yes
                """
            } ?? "port \(port)"
        return """
            \(listening)
            bind 127.0.0.1
            unixsocket \(socket)
            unixsocketperm 700
            dir \(directory)
            sentinel monitor \(primaryName) 127.0.0.1 \(primaryPort) 2
            sentinel down-after-milliseconds \(primaryName) 1000
            sentinel failover-timeout \(primaryName) 10000
            sentinel parallel-syncs \(primaryName) 1

            """
    }

    deinit {
        for process in sentinels where process.isRunning {
            process.send(SIGKILL)
            while process.isRunning { usleep(1_000) }
        }
        for process in sentinels { forgetAtExit(process.pid) }
        heldPorts.withLock { $0.forEach { _ = Glibc.close($0) } }  // after the sentinels: nobody watches these ports now
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Ports of servers killed here, held (bound, not listening) until the sentinels die: a
    /// sentinel keeps dialling a dead primary's address to make it a replica when it comes
    /// back, and would do that to another test's server that took the port (CI saw a
    /// sentinel's hellos published on another test's server).
    private let heldPorts = Lock<[Int32]>([])

    /// Kills the primary (SIGKILL, as a crash) and holds its port.
    func killPrimary() {
        primary.kill()
        let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(primary.port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var reuse: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 { heldPorts.withLock { $0.append(descriptor) } } else { _ = Glibc.close(descriptor) }
    }

    /// Runs a sentinel command on the sentinel at `port`.
    @discardableResult
    func sentinel(_ port: Int, _ arguments: String...) async throws -> String {
        try await RedisTestServer.cli(arguments: cliTLS + ["-h", "127.0.0.1", "-p", String(port)] + arguments)
    }

    /// The port the sentinels give for the primary now.
    func primaryPort() async throws -> Int? {
        let reply = try await sentinel(sentinelPorts[0], "SENTINEL", "GET-MASTER-ADDR-BY-NAME", primaryName)
        return reply.split(separator: "\n").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }
}
