import Strata

extension RedisSentinelMonitor {
    /// Starts following failovers on the sentinels, until ``stopFollowing()``.
    func startFollowing() {
        subscription.withLock { running in
            guard running == nil else { return }
            running = Task { [self] in await followSwitches() }
        }
    }

    /// Stops the subscription (the store's `close()` and deinit).
    func stopFollowing() {
        let running = chores.withLock { state in
            stopped.store(true, ordering: .relaxed)  // under the lock: no chore starts after this
            return Array(state.running.values)
        }
        running.forEach { $0.cancel() }
        subscription.withLock { $0 }?.cancel()
    }

    /// Follows every sentinel at once: the one that leads a failover is the only one that
    /// tells of the promotion, and any of them may lead it.
    private func followSwitches() async {
        await withTaskGroup(of: Void.self) { group in
            for asked in sentinel.sentinels {
                group.addTask { [self] in await follow(asked) }
            }
        }
    }

    /// Subscribes on `asked`, again after each loss (a quarter of a second later, longer
    /// after each failed attempt, up to 2 s): once subscribed, looks the primary up (a move
    /// made while no subscription heard it), then waits for the connection's loss (its
    /// health is checked by the event loop).
    private func follow(_ asked: RedisEndpoint) async {
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            let loss = RedisInvalidationBus.LossSignal()
            let lane = makeLane(
                asked,
                { change in if case .lost(let error) = change { loss.lost(error) } },
                { [self] message in switchAnnounced(message) })
            if await subscribe(lane) {
                attempt = 0
                _ = try? await lookUp()
                _ = await loss.wait()
            }
            lane.close(abandoningRepliesOut: true)
            try? await Task.sleep(for: .milliseconds(min(250 * max(attempt, 1), 2_000)))
        }
    }

    /// Sends `SUBSCRIBE` for the two events followed; whether the sentinel confirmed both.
    private func subscribe(_ lane: RedisLane) async -> Bool {
        let replies = try? await withTaskCancellationHandler {
            try await lane.send(Self.channels.map { Self.command("SUBSCRIBE", $0) })
        } onCancel: {
            lane.close(abandoningRepliesOut: true)
        }
        return replies?.count == Self.channels.count
            && replies!.allSatisfy { reply in
                guard case .array(let parts) = reply, parts.count == 3 else { return false }
                return parts[0] == .bulk(Array("subscribe".utf8))
            }
    }

    /// The move itself, and the moment Sentinel starts promoting a replica.
    private static let channels = ["+switch-master", "+failover-state-send-slaveof-noone"]

    /// An event from a sentinel (on the event loop's thread: nothing here waits).
    ///
    /// - `+switch-master <name> <old host> <old port> <new host> <new port>`: moves.
    /// - `+failover-state-send-slaveof-noone slave <host:port> <host> <port> @ <name> …`:
    ///   Sentinel is promoting that replica. `+switch-master` comes only once Sentinel's own
    ///   check sees the promotion (up to a second later), and every write the old primary
    ///   acknowledges meanwhile is lost when it is demoted; so the replica is asked (`ROLE`,
    ///   every 10 ms) and the store moves the moment it answers that it is the primary.
    private func switchAnnounced(_ message: RedisReply) {
        guard case .array(let parts) = message, parts.count == 3, case .bulk(let channel) = parts[1],
            case .bulk(let payload) = parts[2]
        else { return }
        let words = String(decoding: payload, as: UTF8.self).split(separator: " ")
        var primary = target.endpoint
        if channel == Array("+switch-master".utf8) {
            guard words.count == 5, words[0] == sentinel.primaryName, let port = Int(words[4]) else { return }
            primary.address = .tcp(host: String(words[3]), port: port)
            moved(to: primary, by: .switchMaster)
        } else {
            guard words.count == 8, words[4] == "@", words[5] == sentinel.primaryName, let port = Int(words[3]) else { return }
            primary.address = .tcp(host: String(words[2]), port: port)
            own { [self, primary] in await awaitPromotion(of: primary) }
        }
    }

    /// Asks `candidate` for its role every 10 ms, for up to 10 s, and moves to it once it is
    /// the primary (unless the store moved elsewhere first).
    private func awaitPromotion(of candidate: RedisEndpoint) async {
        let lane = makeLane(candidate, nil, nil)
        defer { lane.close(abandoningRepliesOut: true) }
        let deadline = ContinuousClock.now + .seconds(10)
        let before = target.endpoint.address
        while ContinuousClock.now < deadline, !Task.isCancelled, !stopped.load(ordering: .relaxed), target.endpoint.address == before {
            if case .array(let fields)? = try? await lane.send([Self.command("ROLE")]).first,
                case .bulk(let role)? = fields.first, role == Array("master".utf8)
            {
                moved(to: candidate, by: .promotion)
                return
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}
