import Strata

extension RedisInvalidationBus {
    /// The subscribed connection: a ``RedisLane`` of its own on the event loop, like the
    /// pooled ones, whose pushed messages are applied as they are read. The subscriber
    /// (a task in ``run(delivering:)``, suspended between steps, never blocking a thread)
    /// connects, subscribes, checks the connection's health with `PING`, and makes a new
    /// connection after a loss.
    ///
    /// What reaches the store (messages, the drop of L1 at a loss) goes through the
    /// process's ``RedisDeliveryThread``, in the order it was read: the event loop, which
    /// serves every Redis connection of the process, never runs the store's work or its
    /// observers.
    final class Subscriber: Sendable {
        let bus: RedisInvalidationBus
        let store: any InvalidationSubscriber
        private var deliveries: RedisDeliveryThread { .shared }

        init(bus: RedisInvalidationBus, store: any InvalidationSubscriber) {
            self.bus = bus
            self.store = store
        }

        private var backendName: String { bus.redis.backendName }

        /// Subscribes, applies messages, and subscribes again after a loss, until the task
        /// is cancelled.
        func run() async {
            var everSubscribed = false
            var backoff = Duration.milliseconds(100)  // doubled after each failed round, up to 2 s
            var attempt = 0
            while !Task.isCancelled {
                // On a cluster, any node delivers the channel: each is tried in turn. Sharded
                // channels are each read on their shard's node: the first node's here, the
                // others' on lanes of their own (below).
                let primaries = Set(bus.redis.trackingEndpoints)  // before anything is made on them (see watchPrimaries)
                let sharded = bus.isSharded ? bus.shardedSubscriptions : []
                let endpoints = sharded.isEmpty ? bus.redis.subscriptionEndpoints : [sharded[0].endpoint]
                let endpoint = endpoints[attempt % endpoints.count]
                attempt += 1
                let loss = LossSignal()
                let delivery = Delivery()
                let lane = connection(to: endpoint, reportingLossTo: loss, delivery: delivery)
                // Behind Sentinel, a failover is a loss: L1 is dropped, and the next
                // subscription is made on the new primary.
                let following = bus.redis.sentinelMonitor?.follow { primary in
                    lane.abandonConnection(RedisSentinelMonitor.Moved(primary: primary))
                }
                defer { following.map { bus.redis.sentinelMonitor?.unfollow($0) } }
                var refusal = await subscribe(lane, to: sharded.first?.channels, sharded: !sharded.isEmpty)
                var tracking: [RedisLane] = []  // and the other shards' subscriptions
                for shard in sharded.dropFirst() where refusal == nil {
                    let shardLane = connection(to: shard.endpoint, reportingLossTo: loss, delivery: delivery)
                    tracking.append(shardLane)
                    refusal = await subscribe(shardLane, to: shard.channels, sharded: true)
                }
                if refusal == nil, bus.configuration.mode == .tracking {
                    switch await startTracking(reportingLossTo: loss, delivery: delivery) {
                    case .success(let lanes): tracking += lanes
                    case .failure(let error): refusal = error
                    }
                }
                let watcher = tracking.isEmpty && sharded.isEmpty ? nil : watchPrimaries(primaries, reportingLossTo: loss)
                defer {
                    watcher?.cancel()
                    tracking.forEach { $0.close(abandoningRepliesOut: true) }
                }
                if let refusal {
                    lane.close(abandoningRepliesOut: true)
                    guard !Task.isCancelled else { break }
                    bus.lastFailures.withLock { $0.subscribe = refusal }
                    if attempt % endpoints.count == 0 {
                        if backoff == .milliseconds(100) { bus.redis.log(.subscriptionFailed(refusal)) }  // the first failed round
                        try? await Task.sleep(for: backoff)
                        backoff = min(backoff * 2, .seconds(2))
                    }
                    continue
                }
                backoff = .milliseconds(100)
                attempt = 0
                let started = delivery.start { deliveryStarted() }
                if started { bus.redis.log(.subscribed(afterGap: everSubscribed)) }
                everSubscribed = true
                let ended = await listen(lane, loss)
                lane.close(abandoningRepliesOut: true)
                let reason = Task.isCancelled ? nil : ended
                // Behind whatever the queue still holds (a loss's end among it), so the call
                // returns only once L1 was dropped.
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    deliveries.async { [self] in
                        delivery.end { endDelivery(reason) }
                        SanitizerHandOff.handOff(through: delivery)  // L1 dropped, also before this task suspended
                        continuation.resume()
                    }
                }
                SanitizerHandOff.receive(through: delivery)
                if !started, let reason {  // lost before it delivered: nothing to drop, but said
                    bus.lastFailures.withLock { $0.subscribe = reason }
                    bus.redis.log(.subscriptionFailed(reason))
                }
            }
        }

        /// A new lane to `endpoint` that delivers pushed messages to the store, reports its
        /// loss to `loss`, and checks its health (``Configuration``).
        func connection(to endpoint: RedisEndpoint, reportingLossTo loss: LossSignal, delivery: Delivery) -> RedisLane {
            let backend = backendName
            // Behind Sentinel, the lane connects to wherever the primary is when it connects.
            let target = bus.redis.sentinelMonitor?.target ?? RedisTarget(endpoint)
            return RedisLane(
                target: target, tls: endpoint.tls == nil ? nil : bus.redis.tls,
                limits: RedisLane.Limits(
                    commandTimeout: bus.redis.configuration.commandTimeout, connectTimeout: bus.redis.configuration.connectTimeout,
                    healthCheckInterval: bus.configuration.healthCheckInterval,
                    healthCheckTimeout: bus.configuration.healthCheckTimeout),
                describeConnectFailure: { error in
                    let refusal = (error as? RedisConnectionError)?.refusal
                    return StrataError(
                        code: refusal?.code ?? (error as? RedisConnectionError)?.code ?? .backendUnavailable,
                        message: "cannot connect to subscribe: \(error)",
                        backend: backend, underlying: refusal ?? error)
                },
                onChange: { [self] change in
                    guard case .lost(let error) = change else { return }
                    // L1 is dropped as soon as the loss is found (by the event loop, for a dead
                    // path), not when the subscriber's task next runs: a busy cooperative pool
                    // must not stretch the time stale copies are served.
                    let reason = describeLoss(error)
                    deliveries.async { [self] in delivery.end { endDelivery(reason) } }
                    loss.lost(error)
                },
                onPush: { [self, bus, store, deliveries] message in
                    if case .array(let parts) = message, parts.first == .bulk(Array("sunsubscribe".utf8)) {
                        // The server ended a sharded channel's subscription (its slot moved):
                        // a loss, like the connection's.
                        let error = RedisConnectionError(description: "the server ended a sharded channel's subscription (its slot moved)")
                        let reason = describeLoss(error)
                        deliveries.async { [self] in delivery.end { endDelivery(reason) } }
                        loss.lost(error)
                        return
                    }
                    bus.receivedMessages.add(1, ordering: .relaxed)
                    let invalidations = bus.invalidations(in: message)
                    guard !invalidations.isEmpty else { return }
                    deliveries.async { invalidations.forEach(store.applyRemoteInvalidation) }
                })
        }

        /// A subscription the server confirmed: messages sent before it never reached this
        /// instance (its first subscription and a restarted `run()` included), so nothing in
        /// L1 can be trusted. `isSubscribed` turns true only once L1 was dropped.
        ///
        /// Counted among the bus's ``RedisInvalidationBus/liveDeliveries``, under whose lock
        /// the store is told: with two runs for the store, the end of one cannot land after
        /// the start of another and leave the store told "not live" while one delivers.
        private func deliveryStarted() {
            bus.liveDeliveries.withLock { live in
                live += 1
                store.applyRemoteInvalidation(.everything)
                store.invalidationDeliveryChanged(isLive: true)
                bus.subscribed.store(true, ordering: .releasing)
            }
        }

        /// A subscription lost (with its reason) or stopped (`nil`): from now on messages are
        /// missed, and some may have been already (a dead path is noticed late), so L1 is
        /// dropped at once. Delivery stops, and the bus is no longer subscribed, only when no
        /// other run for the store still delivers (a restart overlapping the run that ends).
        private func endDelivery(_ reason: StrataError?) {
            if let reason { bus.lastFailures.withLock { $0.subscribe = reason } }
            bus.liveDeliveries.withLock { live in
                live -= 1
                if live == 0 {
                    bus.subscribed.store(false, ordering: .releasing)
                    store.invalidationDeliveryChanged(isLive: false)
                }
                store.applyRemoteInvalidation(.everything)
            }
            if let reason { bus.redis.log(.subscriptionFailed(reason)) }
        }

        /// Why a subscribed connection was lost, from its lane's error: on a connection that
        /// delivers, the only request out is the health check's `PING`.
        private func describeLoss(_ error: any Error) -> StrataError {
            if let error = error as? RedisConnectionError, error.description.hasPrefix("no reply to the health check") {
                return StrataError(
                    code: .backendUnavailable,
                    message: "no reply to PING on the subscribed connection within \(bus.configuration.healthCheckTimeout): "
                        + "the connection is taken as lost",
                    backend: backendName)
            }
            if let error = error as? RedisConnectionError, let refusal = error.refusal {
                return StrataError(code: .backendUnavailable, message: error.description, backend: backendName, underlying: refusal)
            }
            return lost("the subscribed connection ended", error)
        }

        /// Waits until the connection is lost (its health is checked by the event loop:
        /// ``RedisLane/Limits/healthCheckInterval``) or the task is cancelled; returns why
        /// it ended.
        private func listen(_ lane: RedisLane, _ loss: LossSignal) async -> StrataError {
            if let error = await loss.wait() { return describeLoss(error) }
            return StrataError(code: .closed, message: "the subscription was stopped", backend: backendName)
        }

        private func lost(_ message: String, _ error: any Error) -> StrataError {
            if let error = error as? StrataError {
                return StrataError(
                    code: error.code, message: "\(message): \(error.message)", backend: backendName, underlying: error.underlying)
            }
            return StrataError(code: .backendUnavailable, message: "\(message): \(error)", backend: backendName, underlying: error)
        }

        /// Sends `SUBSCRIBE` to the bus's channel, or to `channels` (`SSUBSCRIBE` when
        /// `sharded`: one command each), and checks each confirmation; the error when one is
        /// missing.
        func subscribe(_ lane: RedisLane, to channels: [[UInt8]]? = nil, sharded: Bool = false) async -> StrataError? {
            let channels = channels ?? [Array(bus.channel.utf8)]
            let verb = sharded ? "SSUBSCRIBE" : "SUBSCRIBE"
            let replies: [RedisReply]
            do {
                // Cancelled while the confirmation is awaited: the connection is dropped at once.
                replies = try await withTaskCancellationHandler {
                    try await lane.send(channels.map { [Array(verb.utf8), $0] })
                } onCancel: {
                    lane.close(abandoningRepliesOut: true)
                }
            } catch let error as RedisNotSent {
                return error.error as? StrataError
                    ?? StrataError(code: .backendUnavailable, message: "\(verb) failed", backend: backendName, underlying: error.error)
            } catch {
                return StrataError(code: .backendUnavailable, message: "\(verb) failed: \(error)", backend: backendName, underlying: error)
            }
            for (channel, reply) in zip(channels, replies) {
                switch reply {
                case .array(let parts) where parts.count == 3 && parts[0] == .bulk(Array(verb.lowercased().utf8)):
                    continue
                case .error(let message):
                    let refusal = RedisServerError(message: message, command: verb)
                    return StrataError(
                        code: refusal.code,
                        message: "the server refused to subscribe to \(String(decoding: channel, as: UTF8.self)): \(message)",
                        backend: backendName, underlying: refusal)
                default:
                    return StrataError(code: .corruptEntry, message: "unexpected reply to \(verb): \(reply.typeName)", backend: backendName)
                }
            }
            return nil
        }
    }

    /// One subscription's delivery: started once confirmed, ended once, by whichever comes
    /// first of a loss found on the connection and the subscriber's task. An end that comes
    /// before the start (the connection lost as it was confirmed) keeps it from starting.
    final class Delivery: Sendable {
        private let state = Lock<(started: Bool, ended: Bool)>((false, false))

        /// Runs `body` (the start: in-memory work, nothing that waits) unless the delivery
        /// already ended; whether it ran.
        func start(_ body: () -> Void) -> Bool {
            state.withLock { state in
                guard !state.ended else { return false }
                body()  // under the lock, so an end waits for the start to be complete
                state.started = true
                return true
            }
        }

        /// Runs `body` (the end) if the delivery started and has not ended; ends it either way.
        func end(_ body: () -> Void) {
            let run = state.withLock { state -> Bool in
                defer { state.ended = true }
                return state.started && !state.ended
            }
            if run { body() }
        }
    }

    /// A subscribed connection's loss, which the subscriber awaits.
    final class LossSignal: Sendable {
        private struct State {
            var loss: (any Error)?
            var waiter: CheckedContinuation<(any Error)?, Never>?
            /// A cancellation that came before the waiter.
            var pendingWake = false
        }

        private let state = Lock(State())

        /// The connection was lost: the waiting subscriber (or the next) learns it at once.
        func lost(_ error: any Error) {
            let waiter = state.withLock { state -> CheckedContinuation<(any Error)?, Never>? in
                if state.loss == nil { state.loss = error }
                defer { state.waiter = nil }
                return state.waiter
            }
            SanitizerHandOff.handOff(through: self)  // the error, also to a waiter not suspended yet
            waiter?.resume(returning: error)
        }

        /// The loss, as soon as there is one; `nil` when the task is cancelled.
        func wait() async -> (any Error)? {
            defer { SanitizerHandOff.receive(through: self) }  // see lost(_:)
            return await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<(any Error)?, Never>) in
                    let now = state.withLock { state -> (resume: Bool, loss: (any Error)?) in
                        if let loss = state.loss { return (true, loss) }
                        if state.pendingWake || Task.isCancelled {
                            state.pendingWake = false
                            return (true, nil)
                        }
                        state.waiter = continuation
                        return (false, nil)
                    }
                    if now.resume { continuation.resume(returning: now.loss) }
                }
            } onCancel: {
                wake()
            }
        }

        private func wake() {
            let waiter = state.withLock { state -> CheckedContinuation<(any Error)?, Never>? in
                guard let waiter = state.waiter else {
                    state.pendingWake = true
                    return nil
                }
                state.waiter = nil
                return waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
