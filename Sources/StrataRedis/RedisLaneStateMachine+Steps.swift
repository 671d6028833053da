import Strata

/// The steps an event takes (within one event, under the lane's lock): putting a batch out,
/// retiring a connection, reporting its loss, connecting when needed.
extension RedisLaneStateMachine {
    /// Puts `batch` out, its bytes already in `unwritten`: hands the write out.
    mutating func startBatch(_ batch: [Request], on socket: Socket, now: ContinuousClock.Instant, _ actions: inout Actions) {
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
    mutating func sendNextBatch(now: ContinuousClock.Instant, _ actions: inout Actions) {
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
    mutating func connectionFailed(_ error: any Error, _ actions: inout Actions) {
        guard isReady else { return connectFailed(error, &actions) }
        let failed = retire(&actions)
        reportLoss(error, &actions)
        actions.fail(failed, error)
        connectIfNeeded(&actions)
    }

    /// Detaches the socket and takes its batches out, to be failed; the queue stays, for
    /// a new connection.
    @discardableResult
    mutating func retire(_ actions: inout Actions) -> [Request] {
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

    mutating func reportLoss(_ error: any Error, _ actions: inout Actions) {
        if !isDown, !closed { actions.lost = error }  // a closed lane's connection is not lost
        isDown = true
    }

    mutating func connectIfNeeded(_ actions: inout Actions) {
        guard socket == nil, !connecting, !next.isEmpty, !closed else { return }
        connecting = true
        actions.connect = true
    }
}
