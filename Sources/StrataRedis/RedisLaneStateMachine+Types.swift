import Strata

/// The values a lane's state machine takes and returns, and the replies it recognizes.
extension RedisLaneStateMachine {
    /// A caller's commands, queued or out.
    struct Request {
        /// Who waits for the replies; `nil` for the lane's own requests (a new connection's
        /// login, a health check's `PING`).
        let caller: Caller?
        /// How many replies it waits for.
        let expected: Int
        /// Which request it is, for its cancellation.
        let id: UInt64
        /// Its commands, while it is queued.
        var bytes: [UInt8] = []
        /// When it gives up if not written by then.
        var deadline: ContinuousClock.Instant? = nil
        var replies: [RedisReply] = []
        /// The last request of its batch.
        var endsBatch = false
        /// The lane's own `PING` (``RedisLane/Limits/healthCheckInterval``).
        var isHealthCheck = false
    }

    /// Bytes to write to `socket` from `offset`, outside the lock; what happened goes back
    /// through ``wrote(_:_:)``. Only one write is handed out at a time.
    struct Write {
        let socket: Socket
        let bytes: [UInt8]
        let offset: Int
    }

    /// What the caller of an event does once the lock is released, in this order: shut the
    /// retired socket down, report, resume, connect, take a TLS handshake step, write.
    struct Actions {
        /// The connection failed: report it (once per loss).
        var lost: (any Error)?
        /// A connection works again after a loss.
        var regained = false
        /// Requests answered, with their replies.
        var completed: [Request] = []
        /// Messages the server pushed on a subscribed connection (answering no request), in order.
        var pushed: [RedisReply] = []
        /// Requests that failed, each group with its error.
        var failed: [(requests: [Request], error: any Error)] = []
        /// A socket taken out of use: shut it down, so the event loop sees it end and closes it.
        var retired: Socket?
        /// Make a new connection (the queue has requests and there is none).
        var connect = false
        /// The dialled socket did not connect in time: dial these other addresses in its place.
        var redial: (socket: Socket, addresses: [RedisDialer.Address])?
        /// Ask the event loop for "writable" events on this socket, or stop asking.
        var watchWritable: (socket: Socket, on: Bool)?
        /// The event loop must look again: requests queued with nothing out to time out.
        var wakeLoop = false
        /// Take the next step of this socket's TLS handshake (its outcome is
        /// ``RedisLaneStateMachine/handshakeStepped(_:_:login:loginCommands:now:)``).
        var handshake: Socket?
        var write: Write?

        mutating func fail(_ requests: [Request], _ error: any Error) {
            if !requests.isEmpty { failed.append((requests, error)) }
        }
    }

    /// What the event loop does about a socket after a timeout check.
    enum TimeoutCheck {
        /// Close it (retired, or its batch timed out).
        case close
        /// A batch is out; check again at this instant.
        case due(ContinuousClock.Instant)
        /// Nothing is out; a batch written later may wait this long.
        case idle(Duration)
    }

    /// Where a connection is: dialled and not yet made (until `deadline`), made and in its
    /// TLS handshake (which must end by the same deadline), logging in (its login is the
    /// batch out), or ready for requests.
    enum Phase {
        case connecting(deadline: ContinuousClock.Instant)
        case handshaking(deadline: ContinuousClock.Instant)
        case loggingIn
        case ready
    }

    /// Where a step of a TLS handshake left it (the socket's answer, told to the machine).
    enum HandshakeProgress {
        case done
        case wantsRead
        case wantsWrite
        case failed(any Error)
    }

    /// `PING`, RESP-encoded.
    static var ping: [UInt8] { Array("*1\r\n$4\r\nPING\r\n".utf8) }

    /// Whether `reply` is a message the server pushed on a subscribed connection (RESP2:
    /// an array whose first element is `message`, `pmessage` or `smessage`, or `sunsubscribe`,
    /// which the server sends by itself when a sharded channel's slot moves), not a reply.
    static func isPushed(_ reply: RedisReply) -> Bool {
        guard case .array(let parts) = reply, case .bulk(let kind)? = parts.first else { return false }
        return kind.elementsEqual("message".utf8) || kind.elementsEqual("pmessage".utf8) || kind.elementsEqual("smessage".utf8)
            || kind.elementsEqual("sunsubscribe".utf8)  // sent by the server when a sharded channel's slot moves
    }

    /// The failure of a request that waited past the command timeout to be written.
    static func queueTimeout(_ commandTimeout: Duration) -> RedisNotSent {
        RedisNotSent(
            error: RedisUnsent(
                description: "not written within the command timeout (\(commandTimeout)): the connection was busy or down"))
    }
}
