import Dispatch
import Strata
import Synchronization

/// One pooled connection, pipelined: at most one batch of commands is out on it at a time,
/// and whatever comes meanwhile goes out together when that batch's last reply arrives.
///
/// - **Idle connection:** the caller writes its commands itself (a non-blocking write of a
///   few hundred bytes, which the socket's buffer takes at once) and suspends; the
///   ``RedisEventLoop`` thread reads the replies and resumes it. One thread switch per
///   call, where a lane thread took two (to the lane, back to the caller).
/// - **Busy connection:** the caller's commands join the next batch and it suspends; the
///   event loop writes the batch when the current one is answered, so concurrent callers
///   share round trips (the depth grows with the load).
/// - **Failure** (a write or read error, a reply that is not RESP, no reply within the
///   command timeout): the batch out gets its replies read so far and the failure for
///   the rest, and the socket is retired, so no late reply can reach a later request.
///   Requests not yet written are not lost: they go out on a new connection, which is made
///   on a connecting thread, never on Swift's cooperative pool.
/// - **The queue** (requests not yet written) is bounded (``Limits``): past the bound a
///   request fails at once. A request still queued when its task is cancelled leaves the
///   queue and fails with `CancellationError` at once; one that waits longer than the
///   command timeout fails then (the event loop checks). Either way it is never written.
///   A request already written stays: its caller waits for its reply, so it learns what
///   the server did.
final class RedisLane: Sendable {
    /// A caller waiting for the replies to its commands.
    struct Waiter {
        let continuation: CheckedContinuation<[RedisReply], any Error>
        let expected: Int
        /// Which request it is, for its cancellation.
        var id: UInt64 = 0
        /// Its commands, while it is queued.
        var bytes: [UInt8] = []
        /// When it gives up if not written by then.
        var deadline: ContinuousClock.Instant? = nil
        var replies: [RedisReply] = []
        /// The last waiter of its batch.
        var endsBatch = false
    }

    /// How long and how much a connection's queue may hold.
    struct Limits: Sendable {
        /// How long a request may wait to be written, and a batch out for its next reply.
        var commandTimeout: Duration
        /// Commands and bytes that may wait to be written (a request is always taken when
        /// none waits).
        var maxQueuedCommands = Int.max
        var maxQueuedBytes = Int.max
    }

    struct State {
        /// The open connection, if any.
        var socket: RedisSocket?
        var connecting = false
        /// The batches out: written (or being written), waiting for replies, in order.
        var inFlight: [Waiter] = []
        var inFlightHead = 0
        var batchesOut = 0
        /// The part of the last batch out that the socket has not taken yet.
        var unwritten: [UInt8] = []
        var unwrittenOffset = 0
        /// When the batch out last made progress (written, or a reply read).
        var lastProgress = ContinuousClock.now
        /// The next batch, in the order the requests came: waiting for the batch out to be
        /// answered, or for a connection. Each waiter holds its own bytes, so one can leave.
        var next: [Waiter] = []
        var queuedCommands = 0
        var queuedBytes = 0
        var closed = false
        /// Whether the connection was lost (or never made) since it last worked.
        var isDown = false

        var isIdle: Bool { inFlightHead == inFlight.count }

        /// Whether a new batch may be written now: the last one is all written, and fewer
        /// than ``RedisLane/batchesOutAtMost`` wait for replies.
        var canWrite: Bool {
            socket != nil && batchesOut < RedisLane.batchesOutAtMost && unwrittenOffset == unwritten.count
        }
    }

    /// What happened to a lane's connection, for the store's logger.
    enum ConnectionChange: Sendable {
        /// The connection failed (or could not be made) with this error.
        case lost(any Error)
        /// A new connection works again after a loss.
        case regained
    }

    /// What the event loop should do about a socket after a timeout check.
    enum TimeoutCheck {
        /// Close it (retired, or its batch timed out).
        case close
        /// A batch is out; check again at this instant.
        case due(ContinuousClock.Instant)
        /// Nothing is out; a batch written later may wait this long.
        case idle(Duration)
    }

    /// Batches a connection may have out at once. One would leave the connection silent
    /// for a round trip after each batch; more than a few only makes batches smaller.
    static let batchesOutAtMost = 2

    let state = Lock(State())
    /// Batches written (each one round trip) and commands sent, since the lane was made.
    let roundTrips = Atomic<Int>(0)
    let commandsSent = Atomic<Int>(0)
    let limits: Limits
    var commandTimeout: Duration { limits.commandTimeout }
    /// The next request's id.
    let nextID = Atomic<UInt64>(1)
    let loop = RedisEventLoop.shared
    let connect: @Sendable () throws -> RedisConnection
    let onChange: (@Sendable (ConnectionChange) -> Void)?

    init(
        connection: sending RedisConnection?, limits: Limits,
        connect: @escaping @Sendable () throws -> RedisConnection,
        onChange: (@Sendable (ConnectionChange) -> Void)? = nil
    ) {
        self.limits = limits
        self.connect = connect
        self.onChange = onChange
        loop.register(lane: self)
        if let connection, let socket = try? RedisSocket(taking: connection) {
            state.withLock { state in
                loop.register(socket, for: self)
                state.socket = socket
            }
        }
    }

    /// Sends `commands` (pipelined with whatever else is waiting) and returns their replies.
    ///
    /// Throws `CancellationError` when the task is cancelled before any of the commands is
    /// written (they never will be); once written, the call waits for the replies.
    func send(_ commands: [[[UInt8]]]) async throws -> [RedisReply] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(commands.reduce(16) { $0 + $1.reduce(16) { $0 + $1.count + 16 } })
        RedisProtocol.encode(commands, into: &bytes)
        let id = nextID.add(1, ordering: .relaxed).oldValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                enqueue(Waiter(continuation: continuation, expected: commands.count, id: id), bytes)
            }
        } onCancel: {
            cancel(id)
        }
    }

    /// Writes the waiter's commands now if the connection is idle, else queues them.
    private func enqueue(_ waiter: Waiter, _ bytes: [UInt8]) {
        var waiter = waiter
        var failed: [Waiter] = []
        var failure: (any Error)?
        var startConnecting = false
        var wake = false
        state.withLock { state in
            if state.closed {
                failed = [waiter]
                failure = RedisLaneClosed()
            } else if Task.isCancelled {  // checked under the lock: `cancel` found nothing to remove
                failed = [waiter]
                failure = CancellationError()
            } else if let socket = state.socket, state.canWrite, state.next.isEmpty {
                state.unwritten = bytes
                if let error = startBatch([waiter], on: socket, &state) {
                    failed = retire(&state, socket: socket)
                    failure = error
                    startConnecting = connectIfNeeded(&state)
                }
            } else if !state.next.isEmpty, state.queuedCommands + waiter.expected > limits.maxQueuedCommands
                        || state.queuedBytes + bytes.count > limits.maxQueuedBytes {
                failed = [waiter]
                failure = RedisUnsent(description: """
                    the connection's queue is full (\(state.queuedCommands) commands, \(state.queuedBytes) bytes wait to be \
                    written; at most \(limits.maxQueuedCommands) and \(limits.maxQueuedBytes)): the server is not keeping up
                    """)
            } else {
                waiter.deadline = .now + commandTimeout
                waiter.bytes = bytes
                state.next.append(waiter)
                state.queuedCommands += waiter.expected
                state.queuedBytes += bytes.count
                wake = state.socket == nil  // no batch out whose timeout wakes the event loop
                startConnecting = connectIfNeeded(&state)
                if let socket = state.socket, let error = sendNextBatch(&state, on: socket) {
                    failed = retire(&state, socket: socket)
                    failure = error
                    startConnecting = connectIfNeeded(&state)
                }
            }
        }
        if let failure { fail(failed, with: failure) }
        if wake { loop.wake() }
        if startConnecting { reconnect() }
    }

    // MARK: Writing (with the lock held)

    /// Puts `batch` out, with its bytes in `state.unwritten`, and writes what the socket
    /// takes now; the rest goes when the socket says it has room. An error is the
    /// connection's failure.
    func startBatch(_ batch: [Waiter], on socket: RedisSocket, _ state: inout State) -> (any Error)? {
        roundTrips.add(1, ordering: .relaxed)
        commandsSent.add(batch.reduce(0) { $0 + $1.expected }, ordering: .relaxed)
        if state.isIdle {
            state.inFlight = []
            state.inFlightHead = 0
            state.lastProgress = .now
        } else if state.inFlightHead >= 1_024 {
            state.inFlight.removeFirst(state.inFlightHead)
            state.inFlightHead = 0
        }
        state.inFlight += batch
        state.inFlight[state.inFlight.count - 1].endsBatch = true
        state.batchesOut += 1
        state.unwrittenOffset = 0
        return flush(&state, on: socket)
    }

    func flush(_ state: inout State, on socket: RedisSocket) -> (any Error)? {
        do {
            state.unwrittenOffset = try socket.write(state.unwritten, from: state.unwrittenOffset)
        } catch {
            return error
        }
        let done = state.unwrittenOffset == state.unwritten.count
        if done {
            state.unwritten = []
            state.unwrittenOffset = 0
        }
        loop.watchWritable(socket, !done)
        return nil
    }

    /// Puts the next batch out, if one waits and the connection may take it. Requests past
    /// their deadline are failed first, never written.
    func sendNextBatch(_ state: inout State, on socket: RedisSocket) -> (any Error)? {
        guard state.canWrite, !state.next.isEmpty else { return nil }
        let expired = takeExpired(now: .now, &state)
        if !expired.isEmpty {
            let error = queueTimeout
            DispatchQueue.global().async { [self] in fail(expired, with: error) }  // not under the lock
        }
        guard !state.next.isEmpty else { return nil }
        var batch = state.next
        var bytes: [UInt8] = []
        bytes.reserveCapacity(state.queuedBytes)
        for index in batch.indices {
            bytes += batch[index].bytes
            batch[index].bytes = []
        }
        state.unwritten = bytes
        state.next = []
        state.queuedCommands = 0
        state.queuedBytes = 0
        return startBatch(batch, on: socket, &state)
    }

    /// Detaches the socket (the event loop closes it) and takes the batch out, to be
    /// failed; the next batch stays, for a new connection.
    func retire(_ state: inout State, socket: RedisSocket) -> [Waiter] {
        socket.retired = true
        socket.shutDown()
        if state.socket === socket { state.socket = nil }
        let failed = Array(state.inFlight[state.inFlightHead...])
        state.inFlight = []
        state.inFlightHead = 0
        state.batchesOut = 0
        state.unwritten = []
        state.unwrittenOffset = 0
        return failed
    }

    /// Whether a connection should be made now for the next batch.
    func connectIfNeeded(_ state: inout State) -> Bool {
        guard state.socket == nil, !state.connecting, !state.next.isEmpty, !state.closed else { return false }
        state.connecting = true
        return true
    }

    /// Reports a loss once, until a connection works again.
    func lost(_ error: any Error) {
        let first = state.withLock { state in
            defer { state.isDown = true }
            return !state.isDown
        }
        if first { onChange?(.lost(error)) }
    }

    func fail(_ waiters: [Waiter], with error: any Error) {
        for waiter in waiters { waiter.continuation.resume(throwing: error) }
    }

    /// Fails what has not been written and retires the connection once the batch out is
    /// answered (or times out).
    func close() {
        let waiting = state.withLock { state -> [Waiter] in
            state.closed = true
            defer {
                state.next = []
                state.queuedCommands = 0
                state.queuedBytes = 0
            }
            if let socket = state.socket, state.isIdle { _ = retire(&state, socket: socket) }
            return state.next
        }
        loop.unregister(lane: self)
        fail(waiting, with: RedisLaneClosed())
    }
}

/// A request sent to a closed lane.
struct RedisLaneClosed: Error {}

/// A request that failed before any of it was written (no connection could be made, or
/// none in time): on a Redis Cluster it can go to another node without any risk of
/// running twice.
struct RedisNotSent: Error {
    let error: any Error
}

/// Why a lane did not write a request: its queue was full, or the request waited past
/// the command timeout.
struct RedisUnsent: Error, CustomStringConvertible {
    let description: String
}
