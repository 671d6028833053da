#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Strata

extension RedisInvalidationBus {
    /// The subscribed connection, on a thread of its own (a dispatch thread, never one of
    /// Swift's cooperative threads): it connects, subscribes, reads messages and checks
    /// the connection's health with `PING`, and reconnects after a loss.
    final class Subscriber: @unchecked Sendable {  // state guarded by `lock`
        let bus: RedisInvalidationBus
        let store: any InvalidationSubscriber
        private let lock = Lock<(stopped: Bool, connection: RedisConnection?)>((false, nil))

        init(bus: RedisInvalidationBus, store: any InvalidationSubscriber) {
            self.bus = bus
            self.store = store
        }

        /// Ends `loop()` from another thread: a wait for a reply returns at once.
        func stop() {
            lock.withLock { state in
                state.stopped = true
                state.connection?.interrupt()
            }
        }

        private var stopped: Bool { lock.withLock { $0.stopped } }

        private var backendName: String { bus.redis.backendName }

        func loop() {
            var everSubscribed = false
            var backoff = 100  // milliseconds, doubled after each failure up to 2 s
            while !stopped {
                let connection: RedisConnection
                do {
                    connection = try bus.redis.dedicatedConnection()
                } catch {
                    failed(StrataError(
                        code: (error as? RedisConnectionError)?.refusal?.code ?? .backendUnavailable,
                        message: "cannot connect to subscribe: \(error)", backend: backendName, underlying: error),
                        backoff: &backoff)
                    continue
                }
                let stored = lock.withLock { state -> Bool in
                    if state.stopped { return false }
                    state.connection = connection
                    return true
                }
                guard stored else {
                    connection.close()
                    break
                }
                if let refusal = subscribe(connection) {
                    forget(connection)
                    failed(refusal, backoff: &backoff)
                    continue
                }
                backoff = 100
                deliveryStarted(afterGap: everSubscribed)
                everSubscribed = true
                let loss = listen(connection)
                forget(connection)
                deliveryEnded()
                if !stopped {
                    bus.lastFailures.withLock { $0.subscribe = loss }
                    bus.redis.log(.subscriptionFailed(loss))
                }
            }
        }

        /// A subscription the server confirmed: messages sent before it never reached this
        /// instance (its first subscription and a restarted `run()` included), so nothing in
        /// L1 can be trusted. `isSubscribed` turns true only once L1 was dropped.
        private func deliveryStarted(afterGap: Bool) {
            store.applyRemoteInvalidation(.everything)
            store.invalidationDeliveryChanged(isLive: true)
            bus.subscribed.store(true, ordering: .releasing)
            bus.redis.log(.subscribed(afterGap: afterGap))
        }

        /// A subscription lost (or stopped): from now on messages are missed, and some may
        /// have been already (a dead path is noticed late), so L1 is dropped at once.
        private func deliveryEnded() {
            bus.subscribed.store(false, ordering: .releasing)
            store.invalidationDeliveryChanged(isLive: false)
            store.applyRemoteInvalidation(.everything)
        }

        /// Forgets the connection before closing it, so `stop()` never touches a freed one.
        private func forget(_ connection: RedisConnection) {
            lock.withLock { $0.connection = nil }
            connection.close()
        }

        /// Applies messages until the connection ends, fails, or fails its health check;
        /// returns why it was lost.
        private func listen(_ connection: RedisConnection) -> StrataError {
            let interval = bus.configuration.healthCheckInterval
            let timeout = bus.configuration.healthCheckTimeout
            let ping: [[UInt8]] = [Array("PING".utf8)]
            var lastPing = ContinuousClock.now  // the confirmation just received stands for the first reply
            var replyDue: ContinuousClock.Instant?
            while true {
                let now = ContinuousClock.now
                if let due = replyDue, now >= due {
                    return StrataError(
                        code: .backendUnavailable,
                        message: "no reply to PING on the subscribed connection within \(timeout): the connection is taken as lost",
                        backend: backendName)
                }
                if replyDue == nil && now >= lastPing + interval {
                    do {
                        try connection.send(ping)
                    } catch {
                        return lost("sending PING on the subscribed connection failed", error)
                    }
                    lastPing = now
                    replyDue = now + timeout
                }
                let reply: RedisReply?
                do {
                    reply = try connection.readReply(within: (replyDue ?? lastPing + interval) - now)
                } catch {
                    return lost("the subscribed connection ended", error)
                }
                switch reply {
                case nil:
                    continue  // time to ping, or past the reply's deadline: checked above
                case .array(let parts)? where parts.count == 3 && parts[0] == .bulk(Array("message".utf8)):
                    if case .bulk(let message) = parts[2],
                       let invalidation = RedisInvalidationBus.decode(message, ignoring: bus.instanceID) {
                        store.applyRemoteInvalidation(invalidation)
                    }
                case .array(let parts)? where parts.first == .bulk(Array("pong".utf8)):
                    replyDue = nil  // RESP2's reply to PING while subscribed
                case .status("PONG")?:
                    replyDue = nil
                case .error(let message)?:
                    // The server ended the subscription: a gap, handled like a lost connection.
                    return StrataError(
                        code: .backendUnavailable, message: "the server ended the subscription: \(message)",
                        backend: backendName, underlying: RedisServerError(message: message, command: "SUBSCRIBE"))
                default:
                    continue
                }
            }
        }

        private func lost(_ message: String, _ error: any Error) -> StrataError {
            StrataError(code: .backendUnavailable, message: "\(message): \(error)", backend: backendName, underlying: error)
        }

        /// Sends `SUBSCRIBE` and checks the confirmation; the error when there is none.
        private func subscribe(_ connection: RedisConnection) -> StrataError? {
            let replies: [RedisReply]
            do {
                replies = try connection.execute([[Array("SUBSCRIBE".utf8), Array(bus.channel.utf8)]])
            } catch {
                return StrataError(code: .backendUnavailable, message: "SUBSCRIBE failed", backend: backendName, underlying: error)
            }
            switch replies.first {
            case .array(let parts)? where parts.count == 3 && parts[0] == .bulk(Array("subscribe".utf8)):
                return nil
            case .error(let message)?:
                let refusal = RedisServerError(message: message, command: "SUBSCRIBE")
                return StrataError(
                    code: refusal.code, message: "the server refused to subscribe to \(bus.channel): \(message)",
                    backend: backendName, underlying: refusal)
            case let reply:
                return StrataError(
                    code: .corruptEntry, message: "unexpected reply to SUBSCRIBE: \(reply?.typeName ?? "none")",
                    backend: backendName)
            }
        }

        /// Records why subscribing failed and waits before the next attempt.
        private func failed(_ error: StrataError, backoff: inout Int) {
            bus.lastFailures.withLock { $0.subscribe = error }
            if backoff == 100 { bus.redis.log(.subscriptionFailed(error)) }  // the first failure in a row
            // Short slices, so that `stop()` is honoured within 100 ms.
            var waited = 0
            while waited < backoff && !stopped {
                pause(milliseconds: 100)
                waited += 100
            }
            backoff = min(backoff * 2, 2_000)
        }
    }
}

/// Blocks the subscriber's own thread (never a cooperative one) between reconnection attempts.
private func pause(milliseconds: Int) {
    var request = timespec(tv_sec: milliseconds / 1_000, tv_nsec: (milliseconds % 1_000) * 1_000_000)
    nanosleep(&request, nil)
}
