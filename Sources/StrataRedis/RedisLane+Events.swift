import Dispatch
import Strata

/// The event loop's events for a lane (its socket readable or writable, a timeout check),
/// and the connecting thread's (a connection made or refused): each one step of the
/// lane's machine, then its actions.
extension RedisLane {
    // MARK: Events (on the event loop's thread)

    /// Reads and delivers the replies waiting on `socket`; `false` when the event loop
    /// should close it.
    func readable(_ socket: RedisSocket, buffer: UnsafeMutableRawBufferPointer) -> Bool {
        let read = socket.readReplies(into: buffer)
        var keep = false
        let actions = event { machine in
            defer { keep = machine.socket === socket }
            return machine.read(socket, replies: read.replies, failure: read.failure, now: .now)
        }
        perform(actions)
        return keep
    }

    /// Writes more of the batch out, now that the socket has room; `false` when the event
    /// loop should close it.
    func writable(_ socket: RedisSocket) -> Bool {
        var keep = false
        let actions = event { machine in
            defer { keep = machine.socket === socket }
            return machine.writable(socket)
        }
        perform(actions)
        return keep
    }

    /// Fails the batch out when it waited for its replies longer than the command timeout.
    func checkTimeout(_ socket: RedisSocket, now: ContinuousClock.Instant) -> TimeoutCheck {
        var check = TimeoutCheck.close
        let actions = event { machine in
            let (outcome, actions) = machine.checkTimeout(socket, now: now)
            check = outcome
            return actions
        }
        perform(actions)
        return check
    }

    /// Fails the queued requests that waited past the command timeout; the earliest
    /// deadline of those left.
    func expireQueued(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        var next: ContinuousClock.Instant?
        let actions = event { machine in
            let (actions, deadline) = machine.expireQueued(now: now)
            next = deadline
            return actions
        }
        perform(actions)
        return next
    }

    // MARK: Connecting (on a connecting thread)

    /// Makes a connection for the queue, off Swift's cooperative pool: hiredis connects
    /// and logs in blocking, for at most the connect and command timeouts.
    func reconnect() {
        DispatchQueue.global().async { [self] in
            let outcome = Result { try RedisSocket(taking: try connect()) }
            var adopted = false
            let actions = event { machine in
                defer { adopted = (try? outcome.get()).map { machine.socket === $0 } ?? false }
                return machine.connected(outcome, now: .now)
            }
            if adopted, case .success(let socket) = outcome {
                loop.register(socket, for: self)
            } else if case .success(let socket) = outcome {
                socket.close()  // the lane was closed meanwhile: never registered, closed here
            }
            perform(actions)
        }
    }
}
