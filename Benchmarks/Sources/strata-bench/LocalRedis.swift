import CHiredisBaseline
import Foundation

/// A private redis-server on a loopback port, started for a benchmark and killed after.
final class LocalRedis {
    let port: Int
    private let process: Process
    private let directory: String

    /// Starts a server on a free port (a cluster node's bus port, port + 10,000, free too);
    /// a port taken between the check and the start is another try, up to five.
    init(extraArguments: [String] = []) async throws {
        directory = try temporaryDirectory("redis")
        for _ in 0..<5 {
            // The port and the one a cluster node's bus takes (+10,000) both below the
            // kernel's range for outgoing connections' ports (from 32,768 on Linux).
            var candidate = Int.random(in: 20_000..<22_768)
            while !Self.isFree(candidate) || !Self.isFree(candidate + 10_000) { candidate = Int.random(in: 20_000..<22_768) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
            process.arguments =
                ["--port", String(candidate), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory]
                + extraArguments
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            for _ in 0..<200 where process.isRunning {
                if let context = redisConnect("127.0.0.1", Int32(candidate)), context.pointee.err == 0 {
                    redisFree(context)
                    self.port = candidate
                    self.process = process
                    return
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        throw BenchmarkError(message: "redis-server did not start on a free port in five tries")
    }

    /// Whether nothing listens on `port` (a bind to it succeeds).
    static func isFree(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    var processIdentifier: pid_t { process.processIdentifier }

    func stop() {
        kill(process.processIdentifier, SIGKILL)  // nothing to save
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Raw blocking hiredis on one connection: the baseline for RedisStore.
final class RawRedis: @unchecked Sendable {  // used from one task at a time
    let context: UnsafeMutablePointer<redisContext>

    init(port: Int) {
        context = redisConnect("127.0.0.1", Int32(port))!
    }

    deinit { redisFree(context) }

    /// Runs one command and returns its reply (the caller frees it).
    func run(_ arguments: [String]) -> UnsafeMutablePointer<redisReply>? {
        var pointers = arguments.map { UnsafePointer(strdup($0)) }
        var lengths = arguments.map { $0.utf8.count }
        defer { pointers.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        return pointers.withUnsafeMutableBufferPointer { argv in
            argv.withMemoryRebound(to: UnsafePointer<CChar>?.self) { argv in
                redisCommandArgv(context, Int32(arguments.count), argv.baseAddress, &lengths)?
                    .assumingMemoryBound(to: redisReply.self)
            }
        }
    }

    func command(_ arguments: [String]) {
        freeReplyObject(run(arguments))
    }

    /// Sends commands in batches of 1,000 without waiting between them (setup only).
    func pipeline(_ commands: [[String]]) {
        for batch in stride(from: 0, to: commands.count, by: 1_000) {
            let slice = commands[batch..<min(batch + 1_000, commands.count)]
            for arguments in slice {
                var pointers = arguments.map { UnsafePointer(strdup($0)) }
                var lengths = arguments.map { $0.utf8.count }
                _ = pointers.withUnsafeMutableBufferPointer { argv in
                    argv.withMemoryRebound(to: UnsafePointer<CChar>?.self) { argv in
                        redisAppendCommandArgv(context, Int32(arguments.count), argv.baseAddress, &lengths)
                    }
                }
                pointers.forEach { free(UnsafeMutablePointer(mutating: $0)) }
            }
            for _ in slice {
                var reply: UnsafeMutableRawPointer?
                redisGetReply(context, &reply)
                freeReplyObject(reply)
            }
        }
    }

    /// SCAN MATCH prefix* and UNLINK what it finds, the way a script would clear a prefix.
    func clear(prefix: String) {
        var cursor = "0"
        repeat {
            guard let reply = run(["SCAN", cursor, "MATCH", prefix + "*", "COUNT", "1000"]) else { return }
            let parts = reply.pointee.element!
            cursor = String(cString: parts[0]!.pointee.str)
            let found = parts[1]!.pointee
            let keys = (0..<found.elements).map { String(cString: found.element[$0]!.pointee.str) }
            freeReplyObject(reply)
            if !keys.isEmpty { command(["UNLINK"] + keys) }
        } while cursor != "0"
    }
}

/// A benchmark that could not set itself up.
struct BenchmarkError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
