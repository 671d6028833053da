import Foundation
import Strata

/// The servers started and not yet killed: the process kills them when it exits, so no
/// server outlives the test run even if a test keeps its server alive to the end.
private let liveServers = Lock<Set<Int32>>([])
private let killLiveServersAtExit: Void = {
    atexit {
        for pid in liveServers.withLock({ $0 }) { kill(pid, SIGKILL) }
    }
}()

/// Kills `pid`, a server this process started (a sentinel, say), when the process exits,
/// unless ``forgetAtExit(_:)`` says it is gone: a fixture shared by a whole suite (a `static`)
/// is never deinitialized, and its processes outlived every test run.
package func killAtExit(_ pid: Int32) {
    _ = killLiveServersAtExit
    liveServers.withLock { _ = $0.insert(pid) }
}

/// `pid` was killed and reaped: not to be killed at exit (its number may be another's by then).
package func forgetAtExit(_ pid: Int32) {
    liveServers.withLock { _ = $0.remove(pid) }
}

/// A real redis-server process for the tests, in a temporary directory.
package final class RedisTestServer: Sendable {
    package let directory: String
    package let port: Int
    package let extraArguments: [String]
    private let process = Lock<ChildProcess?>(nil)

    package var socket: String { directory + "/redis.sock" }
    package var tcpURL: String { "redis://127.0.0.1:\(port)" }
    package var unixURL: String { "redis+unix://\(socket)" }

    /// The server every conformance test shares: the one the test command started
    /// (`REDIS_URL`), or one started here.
    package static var shared: String {
        get async throws {
            if let url = ProcessInfo.processInfo.environment["REDIS_URL"], !url.isEmpty { return url }
            return try await sharedServer.url()
        }
    }

    /// Started once, on first use, when the test command did not start one.
    /// One start shared by every caller: the actor is reentrant at the `await`, so
    /// storing the server after starting it let two first callers start one each, and the
    /// replaced one was killed (its deinit) under the tests using it.
    private actor SharedServer {
        private var starting: Task<RedisTestServer, any Error>?
        func url() async throws -> String {
            if starting == nil { starting = Task { try await RedisTestServer() } }
            return try await starting!.value.tcpURL
        }
    }
    private static let sharedServer = SharedServer()

    /// A server with `extraArguments`, and those `argumentsForPort` gives for its port
    /// (a TLS-only node listens for TLS there: `--port 0 --tls-port <port>`).
    package init(extraArguments: [String] = [], argumentsForPort: (Int) -> [String] = { _ in [] }) async throws {
        directory = try createdTemporaryDirectory("redis")
        // A cluster node also listens on its port + 10,000 (the cluster bus).
        port = extraArguments.contains("--cluster-enabled") ? try Self.freeClusterPort() : try Self.freePort()
        self.extraArguments = extraArguments + argumentsForPort(port)
        try await start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts the server and waits (suspending, never blocking a thread) until its socket appears.
    package func start() async throws {
        _ = killLiveServersAtExit
        let process = try ChildProcess(
            try Self.executable("redis-server"),
            [
                "--port", String(port), "--bind", "127.0.0.1", "--unixsocket", socket, "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--dir", directory, "--daemonize", "no",
                // Its log, for a test that must tell why a connection ended (see `logTail`).
                "--logfile", directory + "/redis.log", "--loglevel", "verbose",
            ] + extraArguments,
            output: .discarded, errors: .discarded)
        liveServers.withLock { _ = $0.insert(process.pid) }
        self.process.withLock { $0 = process }
        // The socket file appears at bind(), a moment before listen(): wait until a
        // connection is accepted, or the first store's connect is refused.
        let deadline = ContinuousClock.now + .seconds(30)  // a loaded CI machine can be slow to start a process
        while ContinuousClock.now < deadline {
            if Self.accepts(socket) { return }
            if !process.isRunning {
                throw TestServerError(message: "redis-server on port \(port) exited as it started (the port taken?)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestServerError(message: "redis-server on port \(port) did not start in 30 s")
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    package func kill() {
        process.withLock { process in
            if let process, process.isRunning {
                process.send(SIGKILL)
                while process.isRunning { usleep(1_000) }  // reaped at once after SIGKILL
            }
            if let process { liveServers.withLock { _ = $0.remove(process.pid) } }
            process = nil
        }
        try? FileManager.default.removeItem(atPath: socket)
    }

    package func stop() { kill() }

    /// The last `lines` lines of the server's log (verbose: connections accepted and
    /// closed, signals, crashes), and whether it still runs: for a test's failure message.
    package func logTail(lines: Int = 20) -> String {
        let log = (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8)) ?? "(no log)"
        let tail = log.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
        return "redis-server \(isRunning ? "running" : "not running"); its log ends:\n\(tail)"
    }

    /// Whether the server's process runs (it was not killed).
    package var isRunning: Bool {
        process.withLock { $0?.isRunning ?? false }
    }

    /// Sends `signal` to the server: SIGSTOP freezes it (it keeps its connections and
    /// answers nothing), SIGCONT lets it go on.
    package func send(_ signal: Int32) {
        process.withLock { $0?.send(signal) }
    }

    /// Runs redis-cli against this server (for what the store does not do, like LPUSH).
    @discardableResult
    package func cli(_ arguments: String...) async throws -> String {
        try await cli(arguments: arguments)
    }

    /// `cli` with the arguments in an array.
    @discardableResult
    package func cli(arguments: [String]) async throws -> String {
        try await Self.cli(arguments: ["-s", socket] + arguments)
    }

    /// Runs redis-cli with `arguments` (the server named among them); its output.
    @discardableResult
    package static func cli(arguments: [String]) async throws -> String {
        try await ChildProcess.run(try Self.executable("redis-cli"), arguments, checkingStatus: false)
    }

    /// The path of an installed tool (`redis-server`, `redis-cli`); throws when it is not installed.
    package static func executable(_ name: String) throws -> String {
        for directory in ["/usr/bin", "/usr/local/bin", "/usr/sbin"]
        where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        throw TestServerError(message: "\(name) is not installed: run the test command in README.md, which installs it")
    }

    /// Whether a server listens on the unix socket at `path` (a connect succeeds).
    package static func accepts(_ path: String) -> Bool {
        let descriptor = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    /// `body` given a new TCP socket (closed after) and the address of `port` on 127.0.0.1.
    private static func onLoopback(_ port: Int, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Bool) -> Bool {
        let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// A port that is free, and free 10,000 above it (a cluster node's bus), both below the
    /// kernel's range for outgoing connections' ports (from 32,768 on Linux). The bus port
    /// was taken from 30,000–40,000 before: above 32,768, a test's new connection could take
    /// it as its local port between this check and the node's bind, and the node exited as
    /// it started (a cluster test failed so, run with the whole suite).
    package static func freeClusterPort() throws -> Int {
        for _ in 0..<100_000 {
            // Reserved before the probe: a probe bind of a port another test just handed out
            // could make that server's own bind fail.
            let port = Int.random(in: 20_000..<22_768)
            if handOut(port) && isFree(port) && isFree(port + 10_000) { return port }
        }
        throw TestServerError(message: "no free pair of ports in 20,000–22,767 and 30,000–32,767 on 127.0.0.1")
    }

    /// The last ports `freePort()` and `freeClusterPort()` gave in this process. A port
    /// handed out is free until its server binds it, a moment later (longer on a loaded
    /// machine): another test's pick meanwhile could take the same one, and one of the two
    /// servers (or sentinels) would exit as it started. None of the last 512 is given again;
    /// older ones may be, once their tests are done with them, so the ranges never run out.
    private static let handedOut = Lock<[Int]>([])

    /// Records `port` as handed out; false when it is among the last handed out.
    private static func handOut(_ port: Int) -> Bool {
        handedOut.withLock { ports in
            if ports.contains(port) { return false }
            if ports.count == 512 { ports.removeFirst() }
            ports.append(port)
            return true
        }
    }

    /// Whether `port` on 127.0.0.1 can be bound now.
    package static func isFree(_ port: Int) -> Bool {
        onLoopback(port) { descriptor, address, length in bind(descriptor, address, length) == 0 }
    }

    /// A port nobody listens on now, below the kernel's range for outgoing connections'
    /// ports (32768–60999 on Linux): a port the kernel chose by `bind(0)` comes from that
    /// range, and the local end of any test's new connection could take it before the
    /// server binds it (CI saw a Sentinel fixture's server fail to start, all its checks
    /// with it). Cluster nodes take theirs from 20,000–22,767, their buses 30,000–32,767
    /// (`freeClusterPort()`).
    package static func freePort() throws -> Int {
        for _ in 0..<100_000 {
            let port = Int.random(in: 10_000..<20_000)
            if handOut(port) && isFree(port) { return port }  // reserved before the probe, as above
        }
        throw TestServerError(message: "no free port in 10,000–19,999 on 127.0.0.1")
    }
}

/// A test server that could not be started or set up.
package struct TestServerError: Error, CustomStringConvertible {
    package let message: String
    package init(message: String) { self.message = message }
    package var description: String { message }
}
