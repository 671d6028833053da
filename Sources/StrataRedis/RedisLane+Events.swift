import Strata

/// The event loop's events for a lane (its socket readable or writable, a timeout check, a
/// dialled connection made or refused), and the dialling itself: each event one step of
/// the lane's machine, then its actions.
extension RedisLane {
    // MARK: Events (on the event loop's thread)

    /// Reads and delivers the replies waiting on `socket`; `false` when the event loop
    /// should close it.
    func readable(_ socket: RedisSocket, buffer: UnsafeMutableRawBufferPointer) -> Bool {
        if let dialling = dialling(socket) { return finishConnecting(socket, dialling) }
        if isHandshaking(socket) { return stepHandshake(socket) }
        let read = socket.readReplies(into: buffer)
        var keep = false
        let actions = event { machine in
            defer { keep = machine.socket === socket }
            return machine.read(socket, replies: read.replies, failure: read.failure, now: .now)
        }
        perform(actions)
        return keep
    }

    /// Writes more of the batch out, now that the socket has room (or finishes its
    /// connection); `false` when the event loop should close it.
    func writable(_ socket: RedisSocket) -> Bool {
        if let dialling = dialling(socket) { return finishConnecting(socket, dialling) }
        if isHandshaking(socket) { return stepHandshake(socket) }
        var keep = false
        let actions = event { machine in
            defer { keep = machine.socket === socket }
            return machine.writable(socket)
        }
        perform(actions)
        return keep
    }

    /// `socket`'s descriptor was closed by something else in the process (the event loop's
    /// `poll` said `POLLNVAL`): the connection is lost as if the server had closed it and its
    /// batches out fail at once. A ready lane connects again for its queue; one still
    /// connecting, in its TLS handshake or logging in fails its queue, and the next request
    /// connects again.
    func lost(_ socket: RedisSocket) {
        let error = RedisConnectionError(description: "the connection's descriptor was closed by something else in the process")
        perform(event { $0.read(socket, replies: [], failure: error, now: .now) })
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

    // MARK: Connecting (dialled by whoever asks, completed on the event loop)

    /// Makes a connection for the queue: resolves the server's name (on a thread of its own,
    /// only for a host name), dials its first address without waiting, and leaves the rest
    /// to the event loop (``finishConnecting(_:_:)``).
    func reconnect() {
        resolve(endpoint) { [self] addresses in
            switch addresses {
            case .success(let addresses):
                dial(addresses[...], deadline: .now + limits.connectTimeout, replacing: nil)
            case .failure(let error):
                perform(event { $0.dialFailed(error, replacing: nil) })
            }
        }
    }

    /// Dials the first of `addresses` that takes a socket, in place of `replaced`.
    func dial(_ addresses: ArraySlice<RedisDialer.Address>, deadline: ContinuousClock.Instant, replacing replaced: RedisSocket?) {
        var addresses = addresses
        var lastError: any Error = RedisConnectionError(description: "the name resolves to no address")
        while let address = addresses.popFirst() {
            let socket: RedisSocket
            do {
                socket = try RedisSocket(connecting: try RedisDialer.dial(address), tls: tls, host: endpoint.host)
            } catch {
                lastError = error
                continue
            }
            var adopted = false
            let actions = event { machine in
                defer { adopted = machine.socket === socket }
                return machine.dialed(socket, replacing: replaced, otherAddresses: Array(addresses), deadline: deadline)
            }
            if adopted { loop.register(socket, for: self) } else { socket.close() }  // never registered: closed here
            perform(actions)
            return
        }
        perform(event { $0.dialFailed(lastError, replacing: replaced) })
    }

    /// The other addresses and the deadline of `socket`, when it is the lane's and still
    /// connecting.
    private func dialling(_ socket: RedisSocket) -> (others: [RedisDialer.Address], deadline: ContinuousClock.Instant)? {
        state.withLock { machine in
            guard machine.socket === socket, case .connecting(let deadline) = machine.phase else { return nil }
            return (machine.otherAddresses, deadline)
        }
    }

    /// The event loop saw a dialled socket change: connected (it logs in), or refused (the
    /// next address is dialled, if any is left).
    private func finishConnecting(_ socket: RedisSocket, _ dialling: (others: [RedisDialer.Address], deadline: ContinuousClock.Instant))
        -> Bool
    {
        let error = RedisDialer.connectionError(socket.descriptor)
        if error != nil, !dialling.others.isEmpty {
            dial(dialling.others[...], deadline: .now + limits.connectTimeout, replacing: socket)
            return false
        }
        var keep = false
        let actions = event { machine in
            defer { keep = machine.socket === socket }
            return machine.tcpConnected(
                socket, error: error, handshakes: socket.tls != nil, login: login, loginCommands: loginCommands, now: .now)
        }
        perform(actions)
        return keep
    }

    // MARK: TLS

    /// Whether `socket` is the lane's and in its TLS handshake.
    private func isHandshaking(_ socket: RedisSocket) -> Bool {
        state.withLock { machine in
            guard machine.socket === socket, case .handshaking = machine.phase else { return false }
            return true
        }
    }

    /// The socket turned readable or writable during the handshake: its next step.
    private func stepHandshake(_ socket: RedisSocket) -> Bool {
        let progress = Self.handshakeStep(socket)
        var keep = false
        let actions = event { machine in
            defer { keep = machine.socket === socket }
            return machine.handshakeStepped(socket, progress, login: login, loginCommands: loginCommands, now: .now)
        }
        perform(actions)
        return keep
    }

    /// One step of `socket`'s handshake, as the machine takes it.
    static func handshakeStep(_ socket: RedisSocket) -> Machine.HandshakeProgress {
        guard let tls = socket.tls else { return .done }
        switch tls.handshake() {
        case .done: return .done
        case .wantsRead: return .wantsRead
        case .wantsWrite: return .wantsWrite
        case .failed(let error): return .failed(error)
        }
    }
}
