import Strata

extension RedisInvalidationBus {
    /// Where a bus learns of changes to keys (``Configuration/mode``).
    ///
    /// ```swift
    /// let bus = RedisInvalidationBus(redis: redis, mode: .tracking)   // Redis tells us of every client's writes
    /// ```
    public enum Mode: Sendable, Hashable {
        /// Each instance announces the keys it changed on the bus's channel (`PUBLISH`):
        /// changes made through Strata are seen; a key changed by another client (a script,
        /// `redis-cli`, another service) or evicted by the server is not.
        case publish
        /// Redis itself tells each instance which keys changed (`CLIENT TRACKING` in
        /// broadcast mode on the store's key namespace): every client's writes, deletes and
        /// expiries, scripts' changes, evictions and flushes, on one server, behind Sentinel,
        /// or on every primary of a cluster. What tracking cannot tell (a prefix cleared, a
        /// tag invalidated, everything) is still announced on the channel; keys are not. Every instance
        /// sharing a namespace must use the same mode: an instance in `.publish` mode does
        /// not hear a `.tracking` instance's writes. Needs Redis 6 or later.
        case tracking
    }

    /// A bus in `mode`, with the default health check.
    ///
    /// ```swift
    /// let bus = RedisInvalidationBus(redis: redis, mode: .tracking)
    /// ```
    public convenience init(redis: RedisStore, mode: Mode) {
        var configuration = Configuration()
        configuration.mode = mode
        self.init(redis: redis, validated: configuration)
    }

    /// The channel Redis sends tracking invalidations on (RESP2: to a subscribed connection).
    static let trackingChannel = "__redis__:invalidate"

    /// The invalidations a pushed message carries: the bus's own channel's (see
    /// ``decode(_:ignoring:)``), or tracking's, whose payload is the names of the keys that
    /// changed (each of this store's namespace becomes `.key`; Strata's own names and
    /// other namespaces' are skipped) or nil when the server flushed its data
    /// (`.everything`).
    func invalidations(in message: RedisReply) -> [Invalidation] {
        guard case .array(let parts) = message, parts.count == 3 else { return [] }
        if parts[1] == .bulk(Array(Self.trackingChannel.utf8)) {
            switch parts[2] {
            case .array(let names):
                return names.compactMap { name in
                    guard case .bulk(let name) = name else { return .everything }  // unreadable: safe
                    return redis.names.storeKey(ofName: name).map(Invalidation.key)
                }
            default:
                return [.everything]
            }
        }
        guard case .bulk(let payload) = parts[2] else { return [] }
        return Self.decode(payload, ignoring: instanceID)
    }
}

extension RedisInvalidationBus.Subscriber {
    /// Turns tracking on for every server that holds keys (the one server, the primary
    /// behind Sentinel, or each primary of a cluster): on each, a subscribed connection for
    /// ``RedisInvalidationBus/trackingChannel`` and a connection with `CLIENT TRACKING on
    /// REDIRECT <its id> BCAST PREFIX <namespace> NOLOOP`. Either's loss is the
    /// subscription's (L1 dropped, everything made again): tracking ends with its
    /// connection, silently. The lanes, or why tracking could not be turned on.
    func startTracking(reportingLossTo loss: RedisInvalidationBus.LossSignal, delivery: RedisInvalidationBus.Delivery) async -> Result<
        [RedisLane], StrataError
    > {
        var lanes: [RedisLane] = []
        for endpoint in bus.redis.trackingEndpoints {
            let receiver = connection(to: endpoint, reportingLossTo: loss, delivery: delivery)
            let tracker = connection(to: endpoint, reportingLossTo: loss, delivery: delivery)
            lanes += [receiver, tracker]
            if let error = await turnOnTracking(receiver: receiver, tracker: tracker, on: endpoint) {
                lanes.forEach { $0.close(abandoningRepliesOut: true) }
                return .failure(error)
            }
        }
        return .success(lanes)
    }

    /// On a cluster, a task that reads the slot map again every second (`CLUSTER SLOTS`,
    /// whether or not calls met a redirection) and checks that the primaries are still
    /// `tracked`, the ones the subscriptions were made on (a failover, a node added): if
    /// not, the subscription is lost and made again on the primaries of the moment. `nil`
    /// elsewhere.
    func watchPrimaries(_ tracked: Set<RedisEndpoint>, reportingLossTo loss: RedisInvalidationBus.LossSignal) -> Task<Void, Never>? {
        guard let cluster = bus.redis.cluster else { return nil }
        return Task { [bus] in
            while (try? await Task.sleep(for: .seconds(1))) != nil {
                try? await cluster.refresh(store: bus.redis, before: .now + bus.redis.configuration.commandTimeout)
                let primaries = Set(bus.redis.trackingEndpoints)
                guard primaries == tracked else {
                    loss.lost(RedisConnectionError(description: "the cluster's primaries changed: tracking is turned on again on each"))
                    return
                }
            }
        }
    }

    private func turnOnTracking(receiver: RedisLane, tracker: RedisLane, on endpoint: RedisEndpoint) async -> StrataError? {
        let id: Int64
        do {
            guard case .integer(let value) = try await receiver.send([[Array("CLIENT".utf8), Array("ID".utf8)]])[0] else {
                return StrataError(
                    code: .backendUnavailable, message: "CLIENT ID did not answer an id on \(endpoint)", backend: bus.redis.backendName)
            }
            id = value
        } catch {
            return StrataError(
                code: .backendUnavailable, message: "cannot connect to \(endpoint) for tracking: \(error)", backend: bus.redis.backendName,
                underlying: error)
        }
        if let refusal = await subscribe(receiver, to: [Array(RedisInvalidationBus.trackingChannel.utf8)]) { return refusal }
        var command = ["CLIENT", "TRACKING", "on", "REDIRECT", String(id), "BCAST"].map { Array($0.utf8) }
        if !bus.redis.names.namespace.isEmpty { command += [Array("PREFIX".utf8), bus.redis.names.namespace] }
        command.append(Array("NOLOOP".utf8))
        let reply: RedisReply
        do {
            reply = try await tracker.send([command])[0]
        } catch {
            return StrataError(
                code: .backendUnavailable, message: "CLIENT TRACKING failed on \(endpoint): \(error)", backend: bus.redis.backendName,
                underlying: error)
        }
        if let message = reply.errorMessage {
            let refusal = RedisServerError(message: message, command: "CLIENT TRACKING")
            let unknown = message.lowercased().contains("unknown subcommand") || message.lowercased().contains("unknown command")
            return StrataError(
                code: unknown ? .invalidConfiguration : refusal.code,
                message: unknown
                    ? "the server does not know CLIENT TRACKING (mode .tracking needs Redis 6 or later): \(message)"
                    : "the server refused CLIENT TRACKING: \(message)",
                backend: bus.redis.backendName, underlying: refusal)
        }
        return nil
    }
}
