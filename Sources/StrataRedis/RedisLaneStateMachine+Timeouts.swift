import Strata

/// The event loop's timeout check of a connection: a dial or a TLS handshake past the
/// connect deadline, a subscription's health check due, a batch out past the command timeout.
extension RedisLaneStateMachine {
    /// Checks the batch out of `socket` against the command timeout.
    mutating func checkTimeout(_ socket: Socket, now: ContinuousClock.Instant) -> (TimeoutCheck, Actions) {
        var actions = Actions()
        guard self.socket === socket else { return (.close, actions) }
        if case .connecting(let deadline) = phase {
            guard now >= deadline else { return (.due(deadline), actions) }
            if !otherAddresses.isEmpty {
                // This address did not answer in time: the next one gets a connect timeout of its own.
                actions.redial = (socket, otherAddresses)
                return (.due(now + limits.connectTimeout), actions)
            }
            connectFailed(
                RedisConnectionError(description: "no connection within the connect timeout (\(limits.connectTimeout))"), &actions)
            return (.close, actions)
        }
        if case .handshaking(let deadline) = phase {
            guard now >= deadline else { return (.due(deadline), actions) }
            connectFailed(
                RedisConnectionError(
                    description:
                        "the TLS handshake did not finish within the connect timeout (\(limits.connectTimeout)): is this its TLS port? A plain one answers nothing"
                ),
                &actions)
            return (.close, actions)
        }
        if isIdle, let interval = limits.healthCheckInterval, isReady, next.isEmpty, !writing {
            // Nothing read for `interval`: a PING, whose reply is due within the command timeout.
            guard now >= lastProgress + interval else { return (.due(lastProgress + interval), actions) }
            unwritten = Self.ping
            startBatch([Request(caller: nil, expected: 1, id: 0, isHealthCheck: true)], on: socket, now: now, &actions)
            return (.due(now + limits.healthCheckTimeout), actions)
        }
        guard !isIdle else { return (.idle(limits.commandTimeout), actions) }
        let healthCheck = inFlight[inFlightHead].isHealthCheck
        let timeout = healthCheck ? limits.healthCheckTimeout : limits.commandTimeout
        let deadline = lastProgress + timeout
        guard now >= deadline else { return (.due(deadline), actions) }
        connectionFailed(
            RedisConnectionError(
                description: healthCheck
                    ? "no reply to the health check's PING within \(timeout)" : "no reply within the command timeout (\(timeout))"),
            &actions)
        return (.close, actions)
    }
}
