import Strata

/// Making a connection for the queue: dialled (address by address), connected, logged in,
/// or failed, which fails the queue as never written.
extension RedisLaneStateMachine {
    /// A socket dialled for the queue (in place of `replaced`, one that failed to connect
    /// to another address of the server). Not adopted when the lane closed meanwhile: its
    /// caller then closes it.
    mutating func dialed(
        _ socket: Socket, replacing replaced: Socket?, otherAddresses: [RedisDialer.Address], deadline: ContinuousClock.Instant
    ) -> Actions {
        var actions = Actions()
        guard connecting, !closed, replaced.map({ self.socket === $0 }) ?? (self.socket == nil) else { return actions }
        if replaced != nil { retire(&actions) }
        self.socket = socket
        phase = .connecting(deadline: deadline)
        self.otherAddresses = otherAddresses
        actions.watchWritable = (socket, true)
        return actions
    }

    /// The dialled connection is made (or failed, and no other address is left): a TLS
    /// connection (`handshakes`) starts its handshake, which has what is left of the
    /// connect deadline; a plain one logs in with `login` (the commands named
    /// `loginCommands`, RESP-encoded), or is ready at once when there is none.
    mutating func tcpConnected(
        _ socket: Socket, error: (any Error)?, handshakes: Bool = false, login: [UInt8], loginCommands: [String],
        now: ContinuousClock.Instant
    ) -> Actions {
        var actions = Actions()
        guard self.socket === socket, case .connecting(let deadline) = phase else { return actions }
        actions.watchWritable = (socket, false)
        if let error {
            connectFailed(error, &actions)
        } else if handshakes {
            phase = .handshaking(deadline: deadline)
            otherAddresses = []
            actions.handshake = socket
        } else {
            logIn(socket, login: login, loginCommands: loginCommands, now: now, &actions)
        }
        return actions
    }

    /// A step of the TLS handshake was taken: it waits for the socket (readable, or
    /// writable), failed, or is done and the connection logs in.
    mutating func handshakeStepped(
        _ socket: Socket, _ progress: HandshakeProgress, login: [UInt8], loginCommands: [String], now: ContinuousClock.Instant
    ) -> Actions {
        var actions = Actions()
        guard self.socket === socket, case .handshaking = phase else { return actions }
        switch progress {
        case .wantsRead:
            actions.watchWritable = (socket, false)
        case .wantsWrite:
            actions.watchWritable = (socket, true)
        case .failed(let error):
            actions.watchWritable = (socket, false)
            connectFailed(error, &actions)
        case .done:
            actions.watchWritable = (socket, false)
            logIn(socket, login: login, loginCommands: loginCommands, now: now, &actions)
        }
        return actions
    }

    /// Sends the login as the connection's first batch, or makes the connection ready when
    /// there is none.
    private mutating func logIn(
        _ socket: Socket, login: [UInt8], loginCommands: [String], now: ContinuousClock.Instant, _ actions: inout Actions
    ) {
        guard !loginCommands.isEmpty else { return becomeReady(now: now, &actions) }
        phase = .loggingIn
        self.loginCommands = loginCommands
        inFlight = [Request(caller: nil, expected: loginCommands.count, id: 0, endsBatch: true)]
        inFlightHead = 0
        batchesOut = 1
        unwritten = login
        unwrittenOffset = 0
        lastProgress = now
        writing = true
        actions.write = Write(socket: socket, bytes: login, offset: 0)
    }

    /// No connection could be made for the queue (the name did not resolve, or no address
    /// took a socket); `replaced` is the dialled socket this follows, if any.
    mutating func dialFailed(_ error: any Error, replacing replaced: Socket?) -> Actions {
        var actions = Actions()
        guard connecting, replaced.map({ self.socket === $0 }) ?? (self.socket == nil) else { return actions }
        connectFailed(error, &actions)
        return actions
    }

    /// A connection being made failed (dialling, connecting, logging in): the queue fails,
    /// as never written (on a cluster it may go to another node), and the loss is reported.
    mutating func connectFailed(_ error: any Error, _ actions: inout Actions) {
        if socket != nil { retire(&actions) }  // the login is the only batch out: no caller waits
        connecting = false
        abandonWhenReady = nil
        otherAddresses = []
        let failure = describeConnectFailure(error)
        reportLoss(failure, &actions)
        actions.fail(next, RedisNotSent(error: failure))
        next = []
        queuedCommands = 0
        queuedBytes = 0
    }

    /// The connection is made and logged in: the queue goes out on it.
    mutating func becomeReady(now: ContinuousClock.Instant, _ actions: inout Actions) {
        phase = .ready
        connecting = false
        otherAddresses = []
        if let error = abandonWhenReady {  // made to where the server was: made again (still down)
            abandonWhenReady = nil
            connectionFailed(error, &actions)
            return
        }
        actions.regained = isDown && !closed
        isDown = false
        sendNextBatch(now: now, &actions)
    }
}
