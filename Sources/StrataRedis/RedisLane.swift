import Dispatch
import Strata
import Synchronization

/// One pooled connection, pipelined: what it does is decided by its
/// ``RedisLaneStateMachine`` under the lane's lock; the lane performs the machine's
/// actions after the lock is released (socket writes, resuming callers, reporting a loss,
/// making a connection).
///
/// - **Idle connection:** the caller writes its commands itself (a non-blocking write of a
///   few hundred bytes, which the socket's buffer takes at once) and suspends; the
///   ``RedisEventLoop`` thread reads the replies and resumes it. One thread switch per call.
/// - **Busy connection:** the caller's commands join the next batch and it suspends;
///   whoever finishes the write out or reads a batch's last reply writes the next batch,
///   so concurrent callers share round trips (the depth grows with the load).
/// - **Failure** (a write or read error, a reply that is not RESP, no reply within the
///   command timeout), whoever finds it: the batches out get their replies read so far
///   and the failure for the rest, the loss is reported once, and the socket is retired,
///   so no late reply can reach a later request. Requests not yet written are not lost:
///   they go out on a new connection, dialled without waiting (``RedisDialer``) and
///   completed by the event loop, which logs it in first.
/// - **The queue** (requests not yet written) is bounded (``Limits``): past the bound a
///   request fails at once. A request still queued when its task is cancelled leaves the
///   queue and fails with `CancellationError` at once; one that waits longer than the
///   command timeout fails then (the event loop checks). Either way it is never written.
///   A request already written stays: its caller waits for its reply, so it learns what
///   the server did.
final class RedisLane: Sendable {
    typealias Machine = RedisLaneStateMachine<RedisSocket, Caller>
    typealias TimeoutCheck = Machine.TimeoutCheck

    /// Who waits for a request's replies: a suspended task, or a thread that may block
    /// (a store's initializer, ``sendWaiting(_:)``).
    enum Caller: Sendable {
        case task(CheckedContinuation<[RedisReply], any Error>)
        case thread(@Sendable (Result<[RedisReply], any Error>) -> Void)

        func resume(returning replies: [RedisReply]) {
            switch self {
            case .task(let continuation): continuation.resume(returning: replies)
            case .thread(let body): body(.success(replies))
            }
        }

        func resume(throwing error: any Error) {
            switch self {
            case .task(let continuation): continuation.resume(throwing: error)
            case .thread(let body): body(.failure(error))
            }
        }
    }

    /// How long and how much a connection's queue may hold.
    struct Limits: Sendable {
        /// How long a request may wait to be written, and a batch out for its next reply.
        var commandTimeout: Duration
        /// Commands and bytes that may wait to be written (a request is always taken when
        /// none waits).
        var maxQueuedCommands = Int.max
        var maxQueuedBytes = Int.max
        /// How long a dialled connection may take to be made (each address of a name).
        var connectTimeout: Duration = .seconds(5)
        /// When set, the event loop sends `PING` on a connection it has read nothing from
        /// for this long, and takes the connection as lost when nothing arrives within
        /// ``healthCheckTimeout`` after it: a path that died silently is noticed without
        /// any task running.
        var healthCheckInterval: Duration? = nil
        var healthCheckTimeout: Duration = .seconds(2)
    }

    /// What happened to a lane's connection, for the store's logger.
    enum ConnectionChange: Sendable {
        /// The connection failed (or could not be made) with this error.
        case lost(any Error)
        /// A new connection works again after a loss.
        case regained
    }

    /// Batches a connection may have out at once. One would leave the connection silent
    /// for a round trip after each batch; more than a few only makes batches smaller.
    static let batchesOutAtMost = 2

    let state: Lock<Machine>
    let limits: Limits
    /// The next request's id.
    let nextID = Atomic<UInt64>(1)
    let loop = RedisEventLoop.shared
    /// The server: fixed, or the primary Sentinel points at now (``RedisTarget``).
    let target: RedisTarget
    var endpoint: RedisEndpoint { target.endpoint }
    /// The store's TLS, when the server speaks it.
    let tls: RedisTLSContext?
    /// The login of a new connection, RESP-encoded, and its commands' names.
    let login: [UInt8]
    let loginCommands: [String]
    /// Finds the server's addresses (``RedisDialer/resolve(_:then:)``).
    let resolve: @Sendable (RedisEndpoint, @escaping @Sendable (Result<[RedisDialer.Address], any Error>) -> Void) -> Void
    let onChange: (@Sendable (ConnectionChange) -> Void)?
    /// Receives, in order, the messages a subscribed connection is pushed (on the event
    /// loop's thread: it must not wait).
    let onPush: (@Sendable (RedisReply) -> Void)?

    /// Batches written (each one round trip) and commands sent, since the lane was made.
    var roundTrips: Int { state.withLock { $0.roundTrips } }
    var commandsSent: Int { state.withLock { $0.commandsSent } }

    /// A lane to `endpoint` (over TLS from `tls` when given), with no connection: the first
    /// request makes one. `describeConnectFailure` turns a failure to connect into the
    /// error its requests get.
    convenience init(
        endpoint: RedisEndpoint, tls: RedisTLSContext? = nil, limits: Limits,
        describeConnectFailure: @escaping @Sendable (any Error) -> any Error = { $0 },
        resolve: @escaping @Sendable (RedisEndpoint, @escaping @Sendable (Result<[RedisDialer.Address], any Error>) -> Void) -> Void =
            RedisDialer.resolve,
        onChange: (@Sendable (ConnectionChange) -> Void)? = nil,
        onPush: (@Sendable (RedisReply) -> Void)? = nil
    ) {
        self.init(
            target: RedisTarget(endpoint), tls: tls, limits: limits, describeConnectFailure: describeConnectFailure,
            resolve: resolve, onChange: onChange, onPush: onPush)
    }

    /// A lane to wherever `target` points when a connection is made (the same login).
    init(
        target: RedisTarget, tls: RedisTLSContext? = nil, limits: Limits,
        describeConnectFailure: @escaping @Sendable (any Error) -> any Error = { $0 },
        resolve: @escaping @Sendable (RedisEndpoint, @escaping @Sendable (Result<[RedisDialer.Address], any Error>) -> Void) -> Void =
            RedisDialer.resolve,
        onChange: (@Sendable (ConnectionChange) -> Void)? = nil,
        onPush: (@Sendable (RedisReply) -> Void)? = nil
    ) {
        self.resolve = resolve
        self.onPush = onPush
        state = Lock(Machine(limits: limits, receivesPushes: onPush != nil, describeConnectFailure: describeConnectFailure))
        self.limits = limits
        self.target = target
        self.tls = tls
        let login = RedisDialer.login(target.endpoint)
        self.login = RedisProtocol.encode(login)
        loginCommands = login.map { String(decoding: $0[0], as: UTF8.self) }
        self.onChange = onChange
        loop.register(lane: self)
    }

    /// Sends `commands` (pipelined with whatever else is waiting) and returns their replies.
    ///
    /// Throws `CancellationError` when the task is cancelled before any of the commands is
    /// written (they never will be); once written, the call waits for the replies.
    func send(_ commands: [[[UInt8]]]) async throws -> [RedisReply] {
        try await send(encoded: RedisProtocol.encode(commands), commands: commands.count)
    }

    /// ``send(_:)`` of `commands` commands already encoded (``RedisProtocol``) in `bytes`.
    func send(encoded bytes: [UInt8], commands: Int) async throws -> [RedisReply] {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        defer { SanitizerHandOff.receive(through: self) }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let request = Machine.Request(caller: .task(continuation), expected: commands, id: id)
                perform(event { $0.enqueue(request, bytes: bytes, now: .now, isCancelled: Task.isCancelled) })
            }
        } onCancel: {
            perform(event { $0.cancel(id) })
        }
    }

    /// ``send(_:)`` for a thread that may wait: a store's initializer, which connects
    /// before it returns so that an unreachable server is reported at start-up. The request
    /// may wait the connect timeout plus the command timeout to be written (a connection
    /// made, its TLS handshake and login included), then the command timeout for its reply.
    /// Never on the event loop's thread, which answers it.
    func sendWaiting(_ commands: [[[UInt8]]]) throws -> [RedisReply] {
        let bytes = RedisProtocol.encode(commands)
        let outcome = Lock<Result<[RedisReply], any Error>?>(nil)
        let answered = DispatchSemaphore(value: 0)
        let request = Machine.Request(
            caller: .thread { result in
                outcome.withLock { $0 = result }
                answered.signal()
            },
            expected: commands.count, id: nextID.add(1, ordering: .relaxed).oldValue,
            deadline: .now + limits.connectTimeout + limits.commandTimeout)
        perform(event { $0.enqueue(request, bytes: bytes, now: .now, isCancelled: false) })
        answered.wait()
        return try outcome.withLock { $0! }.get()
    }

    /// Drops the connection as lost with `error` (its batches out fail with it), as when the
    /// server it was made to is no longer the one to use: the queue goes on a new connection,
    /// made to wherever ``target`` then points.
    func abandonConnection(_ error: any Error) {
        perform(event { $0.abandonConnection(error) })
    }

    /// Fails what has not been written and retires the connection once the batch out is
    /// answered (or times out), or at once when `abandoningRepliesOut`.
    func close(abandoningRepliesOut: Bool = false) {
        let actions = event { $0.close(abandoningRepliesOut: abandoningRepliesOut) }
        loop.unregister(lane: self)
        perform(actions)
    }

    // MARK: Running the machine

    /// Runs one event of the machine under the lock. The socket's "writable" watch is set
    /// here too (an atomic flag the event loop reads), so two threads' changes to it cannot
    /// land out of order.
    func event(_ body: (inout Machine) -> Machine.Actions) -> Machine.Actions {
        state.withLock { machine in
            var actions = body(&machine)
            if let (socket, on) = actions.watchWritable, socket.writeArmed.exchange(on, ordering: .relaxed) != on, on {
                actions.wakeLoop = true
            }
            return actions
        }
    }

    /// Performs what an event asked for, with the lock released; a write's outcome is the
    /// next event, until nothing is left to write.
    func perform(_ actions: Machine.Actions) {
        var actions = actions
        while true {
            actions.retired?.shutDown()
            if let error = actions.lost { onChange?(.lost(error)) }  // logged before any caller learns of it
            if actions.regained { onChange?(.regained) }
            for message in actions.pushed { onPush?(message) }
            if !actions.completed.isEmpty || !actions.failed.isEmpty {
                SanitizerHandOff.handOff(through: self)  // the replies, also to a caller not suspended yet
            }
            for request in actions.completed { request.caller?.resume(returning: request.replies) }
            for (requests, error) in actions.failed {
                for request in requests { request.caller?.resume(throwing: error) }
            }
            if actions.wakeLoop { loop.wake() }
            if actions.connect { reconnect() }
            if let (socket, addresses) = actions.redial {
                dial(addresses[...], deadline: .now + limits.connectTimeout, replacing: socket)
            }
            if let socket = actions.handshake {
                let progress = Self.handshakeStep(socket)
                actions = event { $0.handshakeStepped(socket, progress, login: login, loginCommands: loginCommands, now: .now) }
                continue
            }
            guard let write = actions.write else { return }
            let outcome = Result { try write.socket.write(write.bytes, from: write.offset) }
            actions = event { $0.wrote(write.socket, outcome, now: .now) }
        }
    }
}

/// Where a lane connects: one server, or (behind Sentinel) the primary as last found,
/// changed by ``RedisSentinelMonitor`` when it moves. The login is the same wherever it points.
final class RedisTarget: Sendable {
    private let current: Lock<RedisEndpoint>

    init(_ endpoint: RedisEndpoint) { current = Lock(endpoint) }

    var endpoint: RedisEndpoint {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }

    /// Changes the endpoint under the lock when `body` says so; whether it did.
    func update(_ body: (inout RedisEndpoint) -> Bool) -> Bool {
        current.withLock { body(&$0) }
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
