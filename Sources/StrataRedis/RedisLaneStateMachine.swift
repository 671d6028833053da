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
    /// A caller's commands, queued or out.
    struct Request {
        let caller: Caller
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
    }

    /// Bytes to write to `socket` from `offset`, outside the lock; what happened goes back
    /// through ``wrote(_:_:)``. Only one write is handed out at a time.
    struct Write {
        let socket: Socket
        let bytes: [UInt8]
        let offset: Int
    }

    /// What the caller of an event does once the lock is released, in this order: shut the
    /// retired socket down, report, resume, connect, write.
    struct Actions {
        /// The connection failed: report it (once per loss).
        var lost: (any Error)?
        /// A connection works again after a loss.
        var regained = false
        /// Requests answered, with their replies.
        var completed: [Request] = []
        /// Requests that failed, each group with its error.
        var failed: [(requests: [Request], error: any Error)] = []
        /// A socket taken out of use: shut it down, so the event loop sees it end and closes it.
        var retired: Socket?
        /// Make a new connection (the queue has requests and there is none).
        var connect = false
        /// Ask the event loop for "writable" events on this socket, or stop asking.
        var watchWritable: (socket: Socket, on: Bool)?
        /// The event loop must look again: requests queued with nothing out to time out.
        var wakeLoop = false
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

    let limits: RedisLane.Limits

    /// The open connection, if any.
    private(set) var socket: Socket?
    private(set) var connecting = false
    /// A thread is writing to the socket (outside the lock).
    private(set) var writing = false
    /// The batches out, written or being written, waiting for replies, in order.
    private var inFlight: [Request] = []
    private var inFlightHead = 0
    private(set) var batchesOut = 0
    /// The last batch out, while the socket has not taken all of it.
    private var unwritten: [UInt8] = []
    private var unwrittenOffset = 0
    /// When the batch out last made progress (written, or a reply read).
    private var lastProgress = ContinuousClock.now
    /// The next batch, in the order the requests came: waiting for the batch out to be
    /// answered, or for a connection. Each request holds its own bytes, so one can leave.
    private(set) var next: [Request] = []
    private(set) var queuedCommands = 0
    private(set) var queuedBytes = 0
    private(set) var closed = false
    /// The connection was lost (or never made) since it last worked.
    private(set) var isDown = false
    /// Batches written (each one round trip) and commands in them.
    private(set) var roundTrips = 0
    private(set) var commandsSent = 0

    init(limits: RedisLane.Limits) {
        self.limits = limits
    }

    var isIdle: Bool { inFlightHead == inFlight.count }

    /// A new batch may be written now: nobody is writing, the last batch is all written,
    /// and fewer than ``RedisLane/batchesOutAtMost`` wait for replies.
    private var canWrite: Bool {
        socket != nil && !writing && unwrittenOffset == unwritten.count && batchesOut < RedisLane.batchesOutAtMost
    }

    // MARK: Events

    /// A connection made before the lane's first request.
    mutating func start(with socket: Socket) {
        self.socket = socket
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
                  queuedCommands + request.expected > limits.maxQueuedCommands || queuedBytes + bytes.count > limits.maxQueuedBytes {
            actions.fail([request], RedisUnsent(description: """
                the connection's queue is full (\(queuedCommands) commands, \(queuedBytes) bytes wait to be \
                written; at most \(limits.maxQueuedCommands) and \(limits.maxQueuedBytes)): the server is not keeping up
                """))
        } else {
            var request = request
            request.deadline = now + limits.commandTimeout
            request.bytes = bytes
            next.append(request)
            queuedCommands += request.expected
            queuedBytes += bytes.count
            actions.wakeLoop = socket == nil  // no batch out whose timeout wakes the event loop
            connectIfNeeded(&actions)
            sendNextBatch(now: now, &actions)
        }
        return actions
    }

    /// Takes request `id` out of the queue, if it is still there: it fails with
    /// `CancellationError` and will never be written.
    mutating func cancel(_ id: UInt64) -> Actions {
        var actions = Actions()
        if let index = next.firstIndex(where: { $0.id == id }) {
            actions.fail([dequeue(at: index)], CancellationError())
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
            lastProgress = now
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
        for reply in replies {
            guard !isIdle else {
                failure = failure ?? RedisConnectionError(description: "the server sent a reply nobody asked for")
                break
            }
            inFlight[inFlightHead].replies.append(reply)
            if inFlight[inFlightHead].replies.count == inFlight[inFlightHead].expected {
                let request = inFlight[inFlightHead]
                actions.completed.append(request)
                inFlightHead += 1
                if request.endsBatch { batchesOut -= 1 }
            }
        }
        if !replies.isEmpty { lastProgress = now }
        if let failure {
            connectionFailed(failure, &actions)
        } else if closed, isIdle, !writing {
            retire(&actions)  // closed, and the last batch is answered
        } else {
            sendNextBatch(now: now, &actions)
        }
        return actions
    }

    /// Checks the batch out of `socket` against the command timeout.
    mutating func checkTimeout(_ socket: Socket, now: ContinuousClock.Instant) -> (TimeoutCheck, Actions) {
        var actions = Actions()
        guard self.socket === socket else { return (.close, actions) }
        guard !isIdle else { return (.idle(limits.commandTimeout), actions) }
        let deadline = lastProgress + limits.commandTimeout
        guard now >= deadline else { return (.due(deadline), actions) }
        connectionFailed(RedisConnectionError(description: "no reply within the command timeout (\(limits.commandTimeout))"), &actions)
        return (.close, actions)
    }

    /// Fails the queued requests that waited past the command timeout; also returns the
    /// earliest deadline of those left.
    mutating func expireQueued(now: ContinuousClock.Instant) -> (Actions, next: ContinuousClock.Instant?) {
        var actions = Actions()
        let expired = takeExpired(now: now)
        if !expired.isEmpty {
            let failure = Self.queueTimeout(limits.commandTimeout)
            // Without a connection for a whole command timeout, the server is down: say so
            // once (a connection that comes back is then reported as regained).
            if socket == nil { reportLoss(failure.error, &actions) }
            actions.fail(expired, failure)
        }
        return (actions, next.first?.deadline)
    }

    /// A new connection for the queue (or its failure, which fails the queue: those
    /// requests were never written, so on a cluster they can go to another node).
    mutating func connected(_ outcome: Result<Socket, any Error>, now: ContinuousClock.Instant) -> Actions {
        var actions = Actions()
        connecting = false
        switch outcome {
        case .failure(let error):
            let failed = next
            next = []
            queuedCommands = 0
            queuedBytes = 0
            reportLoss(error, &actions)
            actions.fail(failed, RedisNotSent(error: error))
        case .success(let socket):
            guard !closed else { return actions }  // not adopted: the lane closes it
            self.socket = socket
            actions.regained = isDown
            isDown = false
            sendNextBatch(now: now, &actions)
        }
        return actions
    }

    /// Fails what has not been written; the connection is retired once the batch out is
    /// answered (or times out).
    mutating func close() -> Actions {
        var actions = Actions()
        closed = true
        actions.fail(next, RedisLaneClosed())
        next = []
        queuedCommands = 0
        queuedBytes = 0
        if socket != nil, isIdle, !writing { retire(&actions) }
        return actions
    }

    // MARK: Steps (within one event)

    /// Puts `batch` out, its bytes already in `unwritten`: hands the write out.
    private mutating func startBatch(_ batch: [Request], on socket: Socket, now: ContinuousClock.Instant, _ actions: inout Actions) {
        roundTrips += 1
        commandsSent += batch.reduce(0) { $0 + $1.expected }
        if isIdle {
            inFlight = []
            inFlightHead = 0
            lastProgress = now
        } else if inFlightHead >= 1_024 {
            inFlight.removeFirst(inFlightHead)
            inFlightHead = 0
        }
        inFlight += batch
        inFlight[inFlight.count - 1].endsBatch = true
        batchesOut += 1
        unwrittenOffset = 0
        writing = true
        actions.write = Write(socket: socket, bytes: unwritten, offset: 0)
    }

    /// Puts the next batch out, if one waits and the connection may take it. Requests past
    /// their deadline are failed first, never written.
    private mutating func sendNextBatch(now: ContinuousClock.Instant, _ actions: inout Actions) {
        guard let socket, canWrite, !next.isEmpty else { return }
        actions.fail(takeExpired(now: now), Self.queueTimeout(limits.commandTimeout))
        guard !next.isEmpty else { return }
        var batch = next
        var bytes: [UInt8] = []
        bytes.reserveCapacity(queuedBytes)
        for index in batch.indices {
            bytes += batch[index].bytes
            batch[index].bytes = []
        }
        unwritten = bytes
        next = []
        queuedCommands = 0
        queuedBytes = 0
        startBatch(batch, on: socket, now: now, &actions)
    }

    /// The current connection failed: it is retired (the event loop closes it), its batches
    /// out fail, the loss is reported, and a new connection is made for the queue.
    private mutating func connectionFailed(_ error: any Error, _ actions: inout Actions) {
        let failed = retire(&actions)
        reportLoss(error, &actions)
        actions.fail(failed, error)
        connectIfNeeded(&actions)
    }

    /// Detaches the socket and takes its batches out, to be failed; the queue stays, for
    /// a new connection.
    @discardableResult
    private mutating func retire(_ actions: inout Actions) -> [Request] {
        actions.retired = socket
        socket = nil
        writing = false
        let failed = Array(inFlight[inFlightHead...])
        inFlight = []
        inFlightHead = 0
        batchesOut = 0
        unwritten = []
        unwrittenOffset = 0
        return failed
    }

    private mutating func reportLoss(_ error: any Error, _ actions: inout Actions) {
        if !isDown { actions.lost = error }
        isDown = true
    }

    private mutating func connectIfNeeded(_ actions: inout Actions) {
        guard socket == nil, !connecting, !next.isEmpty, !closed else { return }
        connecting = true
        actions.connect = true
    }

    private mutating func dequeue(at index: Int) -> Request {
        let request = next.remove(at: index)
        queuedCommands -= request.expected
        queuedBytes -= request.bytes.count
        return request
    }

    /// The queued requests whose deadline passed, taken out of the queue (in order, so they
    /// are the first ones).
    private mutating func takeExpired(now: ContinuousClock.Instant) -> [Request] {
        let count = next.prefix { $0.deadline.map { $0 <= now } ?? false }.count
        guard count > 0 else { return [] }
        let expired = Array(next.prefix(count))
        next.removeFirst(count)
        for request in expired {
            queuedCommands -= request.expected
            queuedBytes -= request.bytes.count
        }
        return expired
    }

    /// The failure of a request that waited past the command timeout to be written.
    static func queueTimeout(_ commandTimeout: Duration) -> RedisNotSent {
        RedisNotSent(error: RedisUnsent(
            description: "not written within the command timeout (\(commandTimeout)): the connection was busy or down"))
    }
}
