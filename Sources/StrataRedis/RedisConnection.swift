#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CHiredis
import Strata

/// Why a connection failed: a message for the error, and the server's refusal when the
/// server itself said no (a wrong password, an unknown database).
struct RedisConnectionError: Error, CustomStringConvertible {
    let description: String
    var refusal: RedisServerError? = nil
}

/// Writing to a connection whose server has gone raises SIGPIPE, which ends the process
/// by default; hiredis 0.14 writes with `write()`, so it cannot ask the kernel not to.
/// The first store ignores SIGPIPE, unless the application installed a handler of its
/// own: the write then fails with EPIPE, which becomes a `backendUnavailable` error.
let ignoreBrokenPipes: Void = {
    var current = sigaction()
    guard sigaction(SIGPIPE, nil, &current) == 0 else { return }
    #if canImport(Darwin)
    let handler = current.__sigaction_u.__sa_handler
    #else
    let handler = current.__sigaction_handler.sa_handler
    #endif
    if handler == nil { signal(SIGPIPE, SIG_IGN) }
}()

/// One blocking hiredis connection, for what must wait in a store's initializer: its first
/// connection (whose descriptor goes to a ``RedisSocket``), or a cluster store's first
/// read of its slot map. Every other connection is dialled without waiting (``RedisDialer``).
final class RedisConnection {
    private var context: UnsafeMutablePointer<redisContext>?

    init(endpoint: RedisEndpoint, connectTimeout: Duration, commandTimeout: Duration) throws {
        _ = ignoreBrokenPipes
        let connectLimit = Self.timeLimit(connectTimeout)
        switch endpoint.address {
        case .tcp(let host, let port):
            context = redisConnectWithTimeout(host, Int32(port), connectLimit)
        case .unix(let path):
            context = redisConnectUnixWithTimeout(path, connectLimit)
        }
        guard let context else { throw RedisConnectionError(description: "out of memory") }
        if context.pointee.err != 0 {
            let message = Self.errorText(context)
            redisFree(context)
            self.context = nil
            throw RedisConnectionError(description: message)
        }
        redisSetTimeout(context, Self.timeLimit(commandTimeout))
        let login = RedisDialer.login(endpoint)
        guard !login.isEmpty else { return }
        let replies = try execute(login)
        for (reply, command) in zip(replies, login) {
            if case .error(let message) = reply {
                close()
                throw RedisConnectionError(
                    description: "the server refused the login or database: \(message)",
                    refusal: RedisServerError(message: message, command: String(decoding: command[0], as: UTF8.self)))
            }
        }
    }

    deinit { close() }

    func close() {
        if let context { redisFree(context) }
        context = nil
    }

    /// Hands the socket over (to a ``RedisSocket``) and frees the rest of the connection.
    func releaseDescriptor() throws -> Int32 {
        guard let context else { throw RedisConnectionError(description: "the connection is closed") }
        self.context = nil
        return redisFreeKeepFd(context)
    }

    /// Writes every command, then reads one reply for each, in order (a pipeline).
    /// Throws when the connection fails.
    func execute(_ commands: [[[UInt8]]]) throws -> [RedisReply] {
        guard let context else { throw RedisConnectionError(description: "the connection is closed") }
        for command in commands {
            guard Self.append(command, to: context) == REDIS_OK else {
                throw RedisConnectionError(description: Self.errorText(context))
            }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw RedisConnectionError(description: Self.errorText(context))
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(RedisReply(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Appends one command as argv: every argument is sent with its length, so keys and
    /// values with spaces, CR/LF, NUL or any bytes cannot change the command.
    private static func append(_ arguments: [[UInt8]], to context: UnsafeMutablePointer<redisContext>) -> Int32 {
        let total = arguments.reduce(0) { $0 + $1.count }
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1), alignment: 1)
        defer { storage.deallocate() }
        var pointers = [UnsafePointer<CChar>?](repeating: nil, count: arguments.count)
        var lengths = [Int](repeating: 0, count: arguments.count)
        var offset = 0
        for (index, argument) in arguments.enumerated() {
            argument.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress { (storage + offset).copyMemory(from: base, byteCount: bytes.count) }
            }
            pointers[index] = UnsafePointer((storage + offset).assumingMemoryBound(to: CChar.self))
            lengths[index] = argument.count
            offset += argument.count
        }
        return pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { argvlen in
                redisAppendCommandArgv(context, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
            }
        }
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafePointer(to: &context.pointee.errstr) {
            $0.withMemoryRebound(to: CChar.self, capacity: 128) { String(cString: $0) }
        }
    }

    private static func timeLimit(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        // tv_usec is Int on glibc, Int32 on Darwin.
        return timeval(tv_sec: .init(seconds), tv_usec: .init(attoseconds / 1_000_000_000_000))
    }
}
