import CHiredis
import Strata
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A non-blocking socket to Redis (being connected, in its TLS handshake, logging in, or
/// ready), and the parser
/// of its replies.
///
/// The lane dials it without waiting (``RedisDialer``), takes it through its TLS handshake
/// when the server speaks TLS (``tls``), and sends the login as its first batch; the lane
/// writes RESP itself and the event loop reads, with hiredis's reply parser.
///
/// Who touches what: one thread at a time writes (the one its lane's machine handed the
/// write to), outside any lock; the event loop's thread reads, and owns `parser`.
/// `writeArmed` is set under the lane's lock and read by the event loop when it builds its
/// `poll` array. The descriptor is closed once: by the event loop when it drops the socket,
/// or, if a write or shutdown is under way then, by that call when it ends, so its number
/// is never reused while another thread may still use it.
final class RedisSocket: @unchecked Sendable {
    let descriptor: Int32
    /// The event loop's handle for this socket.
    let token: UInt64
    private let parser: UnsafeMutablePointer<redisReader>
    /// Whether the server ever sent a byte (event loop's thread).
    private var answered = false
    /// Registered for "writable" events (a batch did not fit in the socket's buffer).
    let writeArmed = Atomic<Bool>(false)
    /// Calls using the descriptor now, and whether it was closed (or is to be, when they end).
    private let use = Lock<(users: Int, closeRequested: Bool, closed: Bool)>((0, false, false))

    private static let nextToken = Lock<UInt64>(1)

    /// The connection's TLS, when it speaks it: every byte goes through it.
    let tls: RedisTLSSession?

    /// Takes a non-blocking descriptor (``RedisDialer/dial(_:)``'s, connecting or
    /// connected), with a TLS session from `tls` for `host` when the server speaks TLS.
    init(connecting descriptor: Int32, tls: RedisTLSContext? = nil, host: String = "") throws {
        do {
            self.tls = try tls?.session(descriptor: descriptor, host: host)
        } catch {
            closeDescriptor(descriptor)
            throw error
        }
        guard let parser = redisReaderCreate() else {
            closeDescriptor(descriptor)
            throw RedisConnectionError(description: "out of memory")
        }
        self.descriptor = descriptor
        self.parser = parser
        token = Self.nextToken.withLock { token in
            defer { token += 1 }
            return token
        }
    }

    deinit {
        close()
        redisReaderFree(parser)
    }

    /// Ends the connection both ways, so the event loop sees it end; the descriptor stays
    /// open (and its number unused) until the event loop closes it.
    func shutDown() {
        guard enter() else { return }
        defer { leave() }
        shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Closes the descriptor, now or when the calls using it end (event loop's thread, or
    /// before the socket was registered).
    func close() {
        let now = use.withLock { use -> Bool in
            guard !use.closed, !use.closeRequested else { return false }
            guard use.users == 0 else {
                use.closeRequested = true
                return false
            }
            use.closed = true
            return true
        }
        if now { closeDescriptor(descriptor) }
    }

    /// Gives the descriptor up without closing it: something else in the process closed it
    /// (the event loop's `poll` said `POLLNVAL`), and its number may already name another
    /// file, which a close here would take from its owner.
    func forget() {
        use.withLock { $0.closed = true }
    }

    /// Starts a call on the descriptor; `false` once it is closed (or about to be).
    private func enter() -> Bool {
        use.withLock { use in
            guard !use.closed, !use.closeRequested else { return false }
            use.users += 1
            return true
        }
    }

    private func leave() {
        let closeNow = use.withLock { use -> Bool in
            use.users -= 1
            guard use.users == 0, use.closeRequested, !use.closed else { return false }
            use.closed = true
            return true
        }
        if closeNow { closeDescriptor(descriptor) }
    }

    /// Writes as much of `bytes[offset...]` as the socket takes now, without waiting.
    /// Returns the new offset; throws when the connection failed.
    func write(_ bytes: [UInt8], from offset: Int) throws -> Int {
        guard enter() else { throw RedisConnectionError(description: "writing to the server failed: the connection is closed") }
        defer { leave() }
        var offset = offset
        if let tls {
            while offset < bytes.count {
                let written = try bytes.withUnsafeBytes { try tls.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                if written == 0 { return offset }
                offset += written
            }
            return offset
        }
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                send(descriptor, buffer.baseAddress! + offset, buffer.count - offset, Self.sendFlags)
            }
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return offset
            } else {
                throw RedisConnectionError(
                    description: "writing to the server failed: \(Self.describe(errno: written < 0 ? errno : EPIPE))")
            }
        }
        return offset
    }

    /// What reading found: replies parsed from the bytes that were waiting, and whether
    /// the connection ended or failed (after those replies).
    struct ReadResult {
        var replies: [RedisReply] = []
        var failure: RedisConnectionError?
    }

    /// Reads what the socket holds now and parses every complete reply (event loop's thread).
    func readReplies(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        var result = ReadResult()
        // TLS: records are decrypted until OpenSSL holds none (it may hold one the socket no
        // longer shows as readable).
        while let tls {
            switch tls.read(into: buffer) {
            case .bytes(let count, let more):
                answered = true
                guard redisReaderFeed(parser, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), count) == REDIS_OK else {
                    result.failure = parserFailure()
                    return result
                }
                // Nothing held by OpenSSL and room left in the buffer: the socket is likely
                // empty, and `poll` (level-triggered) says so if it is not.
                if more || count == buffer.count { continue }
            case .drained:
                break
            case .failed(let error):
                result.failure = error
            }
            break
        }
        while tls == nil {
            let count = recv(descriptor, buffer.baseAddress, buffer.count, 0)
            if count > 0 {
                answered = true
                guard redisReaderFeed(parser, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), count) == REDIS_OK else {
                    result.failure = parserFailure()
                    return result
                }
                if count < buffer.count { break }
            } else if count == 0 {
                result.failure = RedisConnectionError(
                    description: answered
                        ? "the server closed the connection"
                        : "the server closed the connection before answering (if the port expects TLS, use rediss://)")
                break
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                break
            } else {
                let hint = answered ? "" : " (if the port expects TLS, use rediss://)"
                result.failure = RedisConnectionError(description: "reading from the server failed: \(Self.describe(errno: errno))\(hint)")
                break
            }
        }
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisReaderGetReply(parser, &raw) == REDIS_OK else {
                result.failure = parserFailure()
                break
            }
            guard let raw else { break }
            result.replies.append(RedisReply(raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
        return result
    }

    private func parserFailure() -> RedisConnectionError {
        let text = withUnsafePointer(to: &parser.pointee.errstr) {
            $0.withMemoryRebound(to: CChar.self, capacity: 128) { String(cString: $0) }
        }
        return RedisConnectionError(description: "the server sent a reply that is not RESP: \(text)")
    }

    #if canImport(Darwin)
    private static let sendFlags: Int32 = 0
    #else
    /// A server that went away is an EPIPE error, never a SIGPIPE.
    private static let sendFlags = Int32(MSG_NOSIGNAL)
    #endif

    static func describe(errno code: Int32) -> String {
        String(cString: strerror(code))
    }
}

/// `close(2)`, by a name no method hides.
func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}
