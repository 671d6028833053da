import Strata

/// What one pooled connection does, as a value: each event (a caller's request, bytes
/// written, replies read, a deadline passed, a connection made or lost) changes the state
/// and returns the ``Actions`` that its caller performs after it releases the lane's lock:
/// the socket writes, the callers to resume, a loss or a recovery to report, a connection
/// to make. Nothing here does I/O, so every rule is tested without a socket
/// (`RedisLaneStateMachineTests`), and no lock is ever held across a system call that
/// moves data.
///
/// The rules:
/// - At most ``RedisLane/batchesOutAtMost`` batches wait for replies, and one thread at a
///   time writes (``Actions/write``); whatever comes meanwhile joins the next batch, which
///   whoever finishes a write or reads a batch's last reply puts out (auto-pipelining).
/// - A failure of the current connection, whoever finds it (a caller's write, the event
///   loop's read, a timeout), retires it once: the batches out fail, what was not written
///   goes out on a new connection, and the loss is reported once until a connection works
///   again, which is then reported as regained. Events of a retired socket change nothing.
/// - A request that is not written yet can leave: cancelled, or past its deadline; it is
///   never written after.
struct RedisLaneStateMachine<Socket: AnyObject, Caller> {
    // The state below is changed only by the machine's own methods (here and in its
    // `+Connecting`, `+Queue`, `+Steps` and `+Timeouts` extensions, hence not `private`); the lane and the tests
    // only read it.

    let limits: RedisLane.Limits
    /// A subscribed connection: replies that are pushed messages (``isPushed(_:)``) answer
    /// no request, and go to ``Actions/pushed``.
    let receivesPushes: Bool
    /// What a failure to connect becomes for the requests it fails (and the report).
    let describeConnectFailure: @Sendable (any Error) -> any Error

    /// The connection, if any: ready, or on its way (``phase``).
    var socket: Socket?
    var phase = Phase.ready
    /// A connection is being made for the queue (resolved, dialled, in its TLS handshake,
    /// or logging in).
    var connecting = false
    /// A connection abandoned while it was being made (the server moved while its name
    /// was resolved or dialled): dropped as soon as it is ready, with this error.
    var abandonWhenReady: (any Error)?
    /// The addresses to dial next if the one being dialled fails.
    var otherAddresses: [RedisDialer.Address] = []
    /// The names of the login's commands, while it is out (for the error that refuses it).
    var loginCommands: [String] = []
    /// A thread is writing to the socket (outside the lock).
    var writing = false
    /// The batches out, written or being written, waiting for replies, in order.
    var inFlight: [Request] = []
    var inFlightHead = 0
    var batchesOut = 0
    /// The last batch out, while the socket has not taken all of it.
    var unwritten: [UInt8] = []
    var unwrittenOffset = 0
    /// When the batch out last made progress (written, or a reply read).
    var lastProgress = ContinuousClock.now
    /// The next batch, in the order the requests came: waiting for the batch out to be
    /// answered, or for a connection. Each request holds its own bytes, so one can leave.
    var next: [Request] = []
    var queuedCommands = 0
    var queuedBytes = 0
    var closed = false
    /// The connection was lost (or never made) since it last worked.
    var isDown = false
    /// Batches written (each one round trip) and commands in them.
    var roundTrips = 0
    var commandsSent = 0

    init(
        limits: RedisLane.Limits, receivesPushes: Bool = false,
        describeConnectFailure: @escaping @Sendable (any Error) -> any Error = { $0 }
    ) {
        self.limits = limits
        self.receivesPushes = receivesPushes
        self.describeConnectFailure = describeConnectFailure
    }

    var isReady: Bool {
        guard socket != nil, case .ready = phase else { return false }
        return true
    }

    var isIdle: Bool { inFlightHead == inFlight.count }

    /// A new batch may be written now: nobody is writing, the last batch is all written,
    /// and fewer than ``RedisLane/batchesOutAtMost`` wait for replies.
    var canWrite: Bool {
        isReady && !writing && unwrittenOffset == unwritten.count && batchesOut < RedisLane.batchesOutAtMost
    }

    // MARK: Events

    /// A connection made and logged in already (the machine's tests start with one).
    mutating func start(with socket: Socket) {
        self.socket = socket
        phase = .ready
    }

    /// A caller's request: written now if the connection is idle, else queued (or refused
    /// when the lane is closed, the task cancelled or the queue full).
    mutating func enqueue(_ request: Request, bytes: [UInt8], now: ContinuousClock.Instant, isCancelled: Bool) -> Actions {
        var actions = Actions()
        if closed {
            actions.fail([request], RedisLaneClosed())
        } else if isCancelled {  // checked under the lock: `cancel` found nothing to remove
            actions.fail([request], CancellationError())
        } else if let socket, canWrite, next.isEmpty {
            unwritten = bytes
            startBatch([request], on: socket, now: now, &actions)
        } else if !next.isEmpty,
            queuedCommands + request.expected > limits.maxQueuedCommands || queuedBytes + bytes.count > limits.maxQueuedBytes
        {
            actions.fail(
                [request],
                RedisUnsent(
                    description: """
                        the connection's queue is full (\(queuedCommands) commands, \(queuedBytes) bytes wait to be \
                        written; at most \(limits.maxQueuedCommands) and \(limits.maxQueuedBytes)): the server is not keeping up
                        """))
        } else {
            var request = request
            request.deadline = request.deadline ?? now + limits.commandTimeout  // a first contact brings its own
            request.bytes = bytes
            next.append(request)
            queuedCommands += request.expected
            queuedBytes += bytes.count
            actions.wakeLoop = !isReady  // no batch out whose timeout wakes the event loop
            connectIfNeeded(&actions)
            sendNextBatch(now: now, &actions)
        }
        return actions
    }

    /// The outcome of a ``Write``: how far the socket took the bytes, or its failure.
    mutating func wrote(_ socket: Socket, _ outcome: Result<Int, any Error>, now: ContinuousClock.Instant) -> Actions {
        var actions = Actions()
        guard self.socket === socket else { return actions }  // retired while it was written to
        writing = false
        switch outcome {
        case .failure(let error):
            connectionFailed(error, &actions)
        case .success(let offset):
            // Progress of the batch whose reply is awaited first, not of a later one: a batch
            // written behind an unanswered one must not extend that one's deadline.
            if batchesOut == 1 { lastProgress = now }
            unwrittenOffset = offset
            if offset < unwritten.count {
                actions.watchWritable = (socket, true)
            } else {
                unwritten = []
                unwrittenOffset = 0
                sendNextBatch(now: now, &actions)
                if closed, isIdle, !writing { retire(&actions) }
            }
        }
        return actions
    }

    /// The socket has room again: the rest of the batch goes out.
    mutating func writable(_ socket: Socket) -> Actions {
        var actions = Actions()
        guard self.socket === socket, !writing else { return actions }
        actions.watchWritable = (socket, false)
        if unwrittenOffset < unwritten.count {
            writing = true
            actions.write = Write(socket: socket, bytes: unwritten, offset: unwrittenOffset)
        }
        return actions
    }

    /// Replies read from `socket` (in order), then its failure if it ended or failed.
    mutating func read(_ socket: Socket, replies: [RedisReply], failure: (any Error)?, now: ContinuousClock.Instant) -> Actions {
        var actions = Actions()
        guard self.socket === socket else { return actions }
        var failure = failure
        var login: [RedisReply]?
        for reply in replies {
            if receivesPushes, Self.isPushed(reply) {
                actions.pushed.append(reply)
                continue
            }
            guard !isIdle else {
                if receivesPushes, let message = reply.errorMessage {
                    failure =
                        failure
                        ?? RedisConnectionError(
                            description: "the server ended the subscription: \(message)",
                            refusal: RedisServerError(message: message, command: "SUBSCRIBE"))
                } else {
                    failure = failure ?? RedisConnectionError(description: "the server sent a reply nobody asked for")
                }
                break
            }
            inFlight[inFlightHead].replies.append(reply)
            if inFlight[inFlightHead].replies.count == inFlight[inFlightHead].expected {
                let request = inFlight[inFlightHead]
                if request.isHealthCheck {
                    if let refusal = request.replies.first?.errorMessage {
                        failure = failure ?? RedisConnectionError(description: "the server refused PING: \(refusal)")
                    }
                } else if request.caller == nil {
                    login = request.replies
                } else {
                    actions.completed.append(request)
                }
                inFlightHead += 1
                if request.endsBatch { batchesOut -= 1 }
            }
        }
        if !replies.isEmpty { lastProgress = now }
        if let failure {
            connectionFailed(failure, &actions)
            return actions
        }
        if let login {
            if let index = login.firstIndex(where: { $0.errorMessage != nil }), let refusal = login[index].errorMessage {
                let command = index < loginCommands.count ? loginCommands[index] : "AUTH"
                connectFailed(
                    RedisConnectionError(
                        description: "the server refused the login or database: \(refusal)",
                        refusal: RedisServerError(message: refusal, command: command)), &actions)
                return actions
            }
            becomeReady(now: now, &actions)
        } else {
            sendNextBatch(now: now, &actions)
        }
        if closed, isIdle, !writing { retire(&actions) }  // closed, and the last batch is answered
        // A checked connection that goes quiet owes a PING an interval from now, which may be
        // sooner than the event loop's next timeout check: it looks again.
        if limits.healthCheckInterval != nil, isReady, isIdle { actions.wakeLoop = true }
        return actions
    }

    /// Fails what has not been written; the connection is retired once the batch out is
    /// answered (or times out), or at once when `abandoningRepliesOut` (the batches out
    /// then fail too: a subscribed connection's health check, say, that nobody needs).
    mutating func close(abandoningRepliesOut: Bool = false) -> Actions {
        var actions = Actions()
        closed = true
        if socket == nil { connecting = false }  // a dial under way is not adopted
        actions.fail(next, RedisLaneClosed())
        next = []
        queuedCommands = 0
        queuedBytes = 0
        if socket != nil, abandoningRepliesOut || (isIdle && !writing) {
            actions.fail(retire(&actions).filter { $0.caller != nil }, RedisLaneClosed())
        }
        return actions
    }

    /// The connection is to be dropped as lost with `error` (the server moved): at once,
    /// or, for one still being resolved or dialled, as soon as it is made.
    mutating func abandonConnection(_ error: any Error) -> Actions {
        var actions = Actions()
        guard !closed else { return actions }
        if isReady {
            connectionFailed(error, &actions)
        } else if socket != nil {
            // Being made (connecting, in its TLS handshake, logging in) to where the lane
            // pointed before: given up, and made again; the queue waits for the new one.
            retire(&actions)  // the login is the only batch out: no caller waits
            connecting = false
            otherAddresses = []
            abandonWhenReady = nil
            connectIfNeeded(&actions)
        } else if connecting {
            abandonWhenReady = error  // its name being resolved: dropped once made
        }
        return actions
    }
}
