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

/// One blocking hiredis connection, used by one thread at a time: a connecting thread
/// (which hands its descriptor to a ``RedisSocket``), the bus's subscriber thread, or a
/// cluster store's first read of its slot map.
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
    /// Throws when the connection fails; the replies read before that are in the error.
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
                throw PartialReplies(replies: replies, error: RedisConnectionError(description: Self.errorText(context)))
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(RedisReply(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Sends one command without reading its reply (a `PING` on a subscribed connection,
    /// whose replies arrive among its messages). Blocks at most the command timeout.
    func send(_ command: [[UInt8]]) throws {
        guard let context else { throw RedisConnectionError(description: "the connection is closed") }
        guard Self.append(command, to: context) == REDIS_OK else { throw RedisConnectionError(description: Self.errorText(context)) }
        var done: Int32 = 0
        repeat {
            guard redisBufferWrite(context, &done) == REDIS_OK else { throw RedisConnectionError(description: Self.errorText(context)) }
        } while done == 0
    }

    /// The next reply, or `nil` when none arrived within `limit`: for a subscribed
    /// connection, whose thread wakes to check the connection's health. Waits in `poll`,
    /// and reads only what has arrived, so a reply cut short by a dead path never blocks
    /// it past `limit` (hiredis's own timeout would leave the context failed for good).
    /// Throws when the connection ended or failed.
    func readReply(within limit: Duration) throws -> RedisReply? {
        guard let context else { throw RedisConnectionError(description: "the connection is closed") }
        let deadline = ContinuousClock.now + limit
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReplyFromReader(context, &raw) == REDIS_OK else {
                throw RedisConnectionError(description: Self.errorText(context))
            }
            if let raw {
                defer { freeReplyObject(raw) }
                return RedisReply(raw.assumingMemoryBound(to: redisReply.self))
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            var watched = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&watched, 1, Self.milliseconds(left))
            if ready < 0 && errno != EINTR {
                throw RedisConnectionError(description: "waiting for the server failed: \(String(cString: strerror(errno)))")
            }
            // Readable (or ended: the read says which) — one read of what is there, never a wait.
            if ready > 0, redisBufferRead(context) != REDIS_OK {
                throw RedisConnectionError(description: Self.errorText(context))
            }
        }
    }

    /// Shuts the socket down from another thread, so a waiting `readReply(within:)` returns at once.
    func interrupt() {
        if let context { shutdown(context.pointee.fd, Int32(SHUT_RDWR)) }
    }

    /// The replies read before a connection failed, and the failure.
    struct PartialReplies: Error {
        let replies: [RedisReply]
        let error: RedisConnectionError
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

    /// `duration` in whole milliseconds for `poll`, rounded up (a wait never ends early).
    private static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        return Int32(clamping: seconds * 1_000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }

    private static func timeLimit(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        // tv_usec is Int on glibc, Int32 on Darwin.
        return timeval(tv_sec: .init(seconds), tv_usec: .init(attoseconds / 1_000_000_000_000))
    }
}
