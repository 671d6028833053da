import Dispatch
import Strata
import Synchronization

/// A connection with a thread of its own that pipelines whatever is waiting.
///
/// Callers never run hiredis themselves: a request joins the lane's queue and the
/// caller's task suspends. The lane's thread takes every request waiting at that moment,
/// writes all their commands at once, then reads the replies in order and hands each
/// request its own. So requests that arrive while the connection is busy share one
/// round trip. When the connection fails mid-batch, the requests whose replies were read
/// get them, the rest get the failure, and the connection is dropped (so no late reply
/// can reach a later request); the next batch reconnects.
final class RedisLane: Sendable {
    struct Request: Sendable {
        let commands: [[[UInt8]]]
        let continuation: CheckedContinuation<[RedisReply], any Error>
    }

    private struct State {
        var pending: [Request] = []
        var draining = false
        var closed = false
    }

    /// The connection: touched only on the lane's queue.
    private final class Worker: @unchecked Sendable {
        var connection: RedisConnection?
        /// Whether the connection was lost (or never made) since it last worked.
        var isDown = false
    }

    /// What happened to a lane's connection, for the store's logger.
    enum ConnectionChange: Sendable {
        /// The connection failed (or could not be made) with this error.
        case lost(any Error)
        /// A new connection works again after a loss.
        case regained
    }

    private let state = Lock(State())
    /// Batches written (each one round trip) and commands sent, since the lane was made.
    let roundTrips = Atomic<Int>(0)
    let commandsSent = Atomic<Int>(0)
    private let queue: DispatchQueue
    private let worker = Worker()
    private let connect: @Sendable () throws -> RedisConnection
    private let onChange: (@Sendable (ConnectionChange) -> Void)?

    init(
        label: String, connection: sending RedisConnection?, connect: @escaping @Sendable () throws -> RedisConnection,
        onChange: (@Sendable (ConnectionChange) -> Void)? = nil
    ) {
        queue = DispatchQueue(label: label)
        worker.connection = connection
        self.connect = connect
        self.onChange = onChange
    }

    /// Sends `commands` (pipelined with whatever else is waiting) and returns their replies.
    func send(_ commands: [[[UInt8]]]) async throws -> [RedisReply] {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool? in
                if state.closed { return nil }
                state.pending.append(Request(commands: commands, continuation: continuation))
                if state.draining { return false }
                state.draining = true
                return true
            }
            switch start {
            case nil: continuation.resume(throwing: RedisLaneClosed())
            case true?: queue.async { self.drain() }
            case false?: break
            }
        }
    }

    /// Runs on the lane's queue until nothing is waiting.
    private func drain() {
        while true {
            let batch = state.withLock { state -> [Request] in
                if state.pending.isEmpty {
                    state.draining = false
                    return []
                }
                defer { state.pending = [] }
                return state.pending
            }
            if batch.isEmpty { return }
            run(batch)
        }
    }

    private func run(_ batch: [Request]) {
        let connection: RedisConnection
        do {
            if let existing = worker.connection {
                connection = existing
            } else {
                connection = try connect()
                worker.connection = connection
                if worker.isDown {
                    worker.isDown = false
                    onChange?(.regained)
                }
            }
        } catch {
            if !worker.isDown {
                worker.isDown = true
                onChange?(.lost(error))
            }
            for request in batch { request.continuation.resume(throwing: error) }
            return
        }
        var replies: [RedisReply]
        var failure: (any Error)?
        roundTrips.add(1, ordering: .relaxed)
        commandsSent.add(batch.reduce(0) { $0 + $1.commands.count }, ordering: .relaxed)
        do {
            replies = try connection.execute(batch.flatMap(\.commands))
        } catch let partial as RedisConnection.PartialReplies {
            replies = partial.replies
            failure = partial.error
        } catch {
            replies = []
            failure = error
        }
        if let failure {
            connection.close()
            worker.connection = nil
            worker.isDown = true
            onChange?(.lost(failure))
        }
        var next = 0
        for request in batch {
            let count = request.commands.count
            if next + count <= replies.count {
                request.continuation.resume(returning: Array(replies[next..<(next + count)]))
            } else {
                request.continuation.resume(throwing: failure ?? RedisConnectionError(description: "no reply"))
            }
            next += count
        }
    }

    /// Fails what is waiting and closes the connection once the current batch is done.
    func close() {
        let waiting = state.withLock { state -> [Request] in
            state.closed = true
            defer { state.pending = [] }
            return state.pending
        }
        for request in waiting { request.continuation.resume(throwing: RedisLaneClosed()) }
        queue.async { [worker] in
            worker.connection?.close()
            worker.connection = nil
        }
    }
}

/// A request sent to a closed lane.
struct RedisLaneClosed: Error {}
