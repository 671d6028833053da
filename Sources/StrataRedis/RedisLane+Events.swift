import Dispatch
import Strata

/// What a lane does when the event loop reports its socket readable or writable, when a
/// batch may have timed out, and when a new connection is made.
extension RedisLane {
    // MARK: Events (on the event loop's thread)

    /// Reads and delivers the replies waiting on `socket`; `false` when the event loop
    /// should close it.
    func readable(_ socket: RedisSocket, buffer: UnsafeMutableRawBufferPointer) -> Bool {
        var read = socket.readReplies(into: buffer)
        var completed: [Waiter] = []
        var failed: [Waiter] = []
        var startConnecting = false
        let keep = state.withLock { state -> Bool in
            guard state.socket === socket else { return false }
            for reply in read.replies {
                guard !state.isIdle else {
                    read.failure = read.failure ?? RedisConnectionError(description: "the server sent a reply nobody asked for")
                    break
                }
                state.inFlight[state.inFlightHead].replies.append(reply)
                if state.inFlight[state.inFlightHead].replies.count == state.inFlight[state.inFlightHead].expected {
                    let waiter = state.inFlight[state.inFlightHead]
                    completed.append(waiter)
                    state.inFlightHead += 1
                    if waiter.endsBatch { state.batchesOut -= 1 }
                }
            }
            if !read.replies.isEmpty { state.lastProgress = .now }
            if read.failure == nil {
                read.failure = sendNextBatch(&state, on: socket).map { $0 as? RedisConnectionError ?? RedisConnectionError(description: "\($0)") }
            }
            guard read.failure != nil else {
                guard state.closed, state.isIdle else { return true }
                _ = retire(&state, socket: socket)  // closed, and the last batch is answered
                return false
            }
            failed = retire(&state, socket: socket)
            startConnecting = connectIfNeeded(&state)
            return false
        }
        for waiter in completed { waiter.continuation.resume(returning: waiter.replies) }
        if let failure = read.failure {
            lost(failure)
            fail(failed, with: failure)
        }
        if startConnecting { reconnect() }
        return keep
    }

    /// Writes more of the batch out, now that the socket has room; `false` when the event
    /// loop should close it.
    func writable(_ socket: RedisSocket) -> Bool {
        var failed: [Waiter] = []
        var failure: (any Error)?
        var startConnecting = false
        let keep = state.withLock { state -> Bool in
            guard state.socket === socket else { return false }
            guard state.unwrittenOffset < state.unwritten.count else {
                loop.watchWritable(socket, false)
                return true
            }
            failure = flush(&state, on: socket) ?? sendNextBatch(&state, on: socket)
            guard failure != nil else {
                state.lastProgress = .now
                return true
            }
            failed = retire(&state, socket: socket)
            startConnecting = connectIfNeeded(&state)
            return false
        }
        if let failure {
            lost(failure)
            fail(failed, with: failure)
        }
        if startConnecting { reconnect() }
        return keep
    }

    /// Fails the batch out when it waited for its replies longer than the command timeout.
    func checkTimeout(_ socket: RedisSocket, now: ContinuousClock.Instant) -> TimeoutCheck {
        var failed: [Waiter] = []
        var startConnecting = false
        let check = state.withLock { state -> TimeoutCheck in
            guard state.socket === socket else { return .close }
            guard !state.isIdle else { return .idle(commandTimeout) }
            let deadline = state.lastProgress + commandTimeout
            guard now >= deadline else { return .due(deadline) }
            failed = retire(&state, socket: socket)
            startConnecting = connectIfNeeded(&state)
            return .close
        }
        if !failed.isEmpty {
            let error = RedisConnectionError(description: "no reply within the command timeout (\(commandTimeout))")
            lost(error)
            fail(failed, with: error)
        }
        if startConnecting { reconnect() }
        return check
    }

    // MARK: Connecting (on a connecting thread)

    /// Makes a connection for the next batch, off Swift's cooperative pool: hiredis
    /// connects and logs in blocking, for at most the connect and command timeouts.
    func reconnect() {
        DispatchQueue.global().async { [self] in
            let outcome = Result { try RedisSocket(taking: try connect()) }
            var failed: [Waiter] = []
            var failure: (any Error)?
            var regained = false
            state.withLock { state in
                state.connecting = false
                switch outcome {
                case .failure(let error):
                    failed = state.next
                    state.next = []
                    state.queuedCommands = 0
                    state.queuedBytes = 0
                    failure = RedisNotSent(error: error)
                case .success(let socket):
                    if state.closed {
                        socket.close()
                        return
                    }
                    loop.register(socket, for: self)
                    state.socket = socket
                    regained = state.isDown
                    state.isDown = false
                    if let error = sendNextBatch(&state, on: socket) {
                        failed = retire(&state, socket: socket)
                        failure = error
                    }
                }
            }
            if regained { onChange?(.regained) }
            if let failure {
                lost((failure as? RedisNotSent)?.error ?? failure)
                fail(failed, with: failure)
            }
        }
    }
}
