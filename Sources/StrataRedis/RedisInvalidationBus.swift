#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Strata
import Synchronization

/// Keeps the L1 tiers of several `TieredStore`s over one Redis coherent: every change one
/// instance makes is published on a Redis channel, and every other instance drops its L1
/// copies of the keys (or prefix) named.
///
/// Messages carry keys and prefixes only, never values, as bytes (any key is safe), with
/// the sender's random instance id, so an instance ignores its own messages. While the
/// subscription is down, messages are lost: when it comes back, the instance drops its
/// whole L1 (nothing in it can be trusted) and reports a `remoteInvalidation` event
/// without a key.
///
/// ```swift
/// let redis = try RedisStore(url: "redis://127.0.0.1:6379")
/// let bus = RedisInvalidationBus(redis: redis)
/// let cache = TieredStore(l1: MemoryStore(maxEntries: 10_000), l2: redis,
///                         configuration: .init(l1Expiry: "5min", invalidationPublisher: bus))
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await bus.run(delivering: cache) }   // returns when cancelled
///     ...
/// }
/// ```
public final class RedisInvalidationBus: InvalidationSource {
    /// The store whose server carries the channel.
    public let redis: RedisStore
    /// The channel's name: `strata:invalidations:` followed by the store's key namespace.
    public let channel: String
    /// This instance's random id, sent with every message.
    public let instanceID: [UInt8]
    private let publishFailures = FailureCount()
    private let lastFailures = Lock<(publish: StrataError?, subscribe: StrataError?)>((nil, nil))
    private let subscribed = Atomic<Bool>(false)

    /// A bus on `redis`'s server, on the channel of its key namespace.
    public init(redis: RedisStore) {
        self.redis = redis
        self.channel = "strata:invalidations:" + redis.configuration.keyNamespace
        var generator = SystemRandomNumberGenerator()
        self.instanceID = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Messages that could not be published: the server was unreachable, or refused
    /// `PUBLISH` (an ACL without it, say). Other instances keep their L1 copies of what
    /// such a message named until those expire (`l1Expiry`).
    public var failedPublishes: Int { publishFailures.value }

    /// Why the last message that could not be published failed, or `nil`.
    ///
    /// ```swift
    /// if let error = bus.lastPublishError { print("invalidations are not reaching other instances:", error) }
    /// ```
    public var lastPublishError: StrataError? { lastFailures.withLock { $0.publish } }

    /// Whether ``run(delivering:)`` holds a subscription the server confirmed: while it
    /// does not, other instances' changes are not applied (and L1 is dropped whole when
    /// it comes back).
    public var isSubscribed: Bool { subscribed.load(ordering: .acquiring) }

    /// Why the last attempt to subscribe failed (unreachable server, `NOPERM` on the
    /// channel…), or `nil`.
    public var lastSubscribeError: StrataError? { lastFailures.withLock { $0.subscribe } }

    /// Queues `invalidation` for the other instances and returns without waiting for
    /// Redis's answer: the `PUBLISH` goes out in its connection's next batch, pipelined
    /// with other traffic, so announcing does not add a round trip to every write. A
    /// failure is counted (``failedPublishes``) and kept (``lastPublishError``); use
    /// ``announce(_:)`` to wait for the server's answer instead.
    public func publish(_ invalidation: Invalidation) async {
        Task {
            do {
                _ = try await announce(invalidation)
            } catch let error as StrataError {
                publishFailures.increment()
                lastFailures.withLock { $0.publish = error }
                redis.log(.publishFailed(error))
            }
        }
    }

    /// Publishes `invalidation` and waits for Redis's answer: the number of instances
    /// subscribed that received it. A refusal (`NOPERM`…) or an unreachable server throws.
    ///
    /// ```swift
    /// try await bus.announce(.prefix("user:"))   // after changing L2 behind the tiered stores' backs
    /// ```
    @discardableResult
    public func announce(_ invalidation: Invalidation) async throws(StrataError) -> Int {
        do {
            return try await redis.publish(channel: Array(channel.utf8), message: Self.encode(invalidation, from: instanceID))
        } catch let error as StrataError {
            throw error
        } catch {
            throw StrataError(code: .backendUnavailable, message: "PUBLISH failed", backend: redis.backendName, underlying: error)
        }
    }

    /// Subscribes and applies other instances' invalidations to `store` (a
    /// `TieredStore`) until cancelled (or, with the `ServiceLifecycle` trait, a graceful
    /// shutdown), then returns normally. Reconnects by itself, and drops all of L1 after
    /// each gap. A `TieredStore`'s own `run()` runs this for its publisher.
    public func run(delivering store: any InvalidationSubscriber) async throws {
        try await Background.untilShutdown { [self] in
            let subscriber = Subscriber(bus: self, store: store)
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    DispatchQueue(label: "strata.redis.subscriber").async {
                        subscriber.loop()
                        continuation.resume()
                    }
                }
            } onCancel: {
                subscriber.stop()
            }
        }
    }

    /// `[1][16-byte instance id][k|p|a][key or prefix bytes]`.
    static func encode(_ invalidation: Invalidation, from instance: [UInt8]) -> [UInt8] {
        switch invalidation {
        case .key(let key): [1] + instance + [UInt8(ascii: "k")] + Array(key.utf8)
        case .prefix(let prefix): [1] + instance + [UInt8(ascii: "p")] + Array(prefix.utf8)
        case .everything: [1] + instance + [UInt8(ascii: "a")]
        }
    }

    /// The invalidation in `message`, or `nil` for this instance's own or a malformed one.
    static func decode(_ message: [UInt8], ignoring instance: [UInt8]) -> Invalidation? {
        guard message.count >= 18, message[0] == 1, !message[1..<17].elementsEqual(instance),
              let text = String(validating: message[18...], as: UTF8.self)
        else { return nil }
        switch message[17] {
        case UInt8(ascii: "k"): return .key(text)
        case UInt8(ascii: "p"): return .prefix(text)
        case UInt8(ascii: "a"): return .everything
        default: return nil
        }
    }

    /// The subscribed connection, on a thread of its own.
    private final class Subscriber: @unchecked Sendable {  // state guarded by `lock`
        let bus: RedisInvalidationBus
        let store: any InvalidationSubscriber
        private let lock = Lock<(stopped: Bool, connection: RedisConnection?)>((false, nil))

        init(bus: RedisInvalidationBus, store: any InvalidationSubscriber) {
            self.bus = bus
            self.store = store
        }

        func stop() {
            lock.withLock { state in
                state.stopped = true
                state.connection?.interrupt()
            }
        }

        private var stopped: Bool { lock.withLock { $0.stopped } }

        func loop() {
            var everConnected = false
            var backoff = 100  // milliseconds, doubled after each failure up to 2 s
            while !stopped {
                let connection: RedisConnection
                do {
                    connection = try bus.redis.dedicatedConnection()
                } catch {
                    failed(StrataError(
                        code: (error as? RedisConnectionError)?.refusal?.code ?? .backendUnavailable,
                        message: "cannot connect to subscribe: \(error)", backend: bus.redis.backendName, underlying: error),
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
                    // Forget the connection before closing it, so `stop()` never touches a freed one.
                    lock.withLock { $0.connection = nil }
                    connection.close()
                    failed(refusal, backoff: &backoff)
                    continue
                }
                backoff = 100
                bus.subscribed.store(true, ordering: .releasing)
                // Messages may have been lost while no subscription was up.
                if everConnected { store.applyRemoteInvalidation(.everything) }
                bus.redis.log(.subscribed(afterGap: everConnected))
                everConnected = true
                while true {
                    guard let reply = try? connection.readReply() else { break }
                    if case .array(let parts) = reply, parts.count == 3, parts[0] == .bulk(Array("message".utf8)),
                       case .bulk(let message) = parts[2],
                       let invalidation = RedisInvalidationBus.decode(message, ignoring: bus.instanceID) {
                        store.applyRemoteInvalidation(invalidation)
                    } else if case .error = reply {
                        break  // the server ended the subscription: a gap, handled like a lost connection
                    }
                }
                bus.subscribed.store(false, ordering: .releasing)
                lock.withLock { $0.connection = nil }
                connection.close()
                if !stopped {
                    bus.redis.log(.subscriptionFailed(StrataError(
                        code: .backendUnavailable, message: "the subscribed connection ended", backend: bus.redis.backendName)))
                }
            }
        }

        /// Sends `SUBSCRIBE` and checks the confirmation; the error when there is none.
        private func subscribe(_ connection: RedisConnection) -> StrataError? {
            let replies: [RedisReply]
            do {
                replies = try connection.execute([[Array("SUBSCRIBE".utf8), Array(bus.channel.utf8)]])
            } catch {
                return StrataError(
                    code: .backendUnavailable, message: "SUBSCRIBE failed", backend: bus.redis.backendName, underlying: error)
            }
            switch replies.first {
            case .array(let parts)? where parts.count == 3 && parts[0] == .bulk(Array("subscribe".utf8)):
                return nil
            case .error(let message)?:
                let refusal = RedisServerError(message: message, command: "SUBSCRIBE")
                return StrataError(
                    code: refusal.code, message: "the server refused to subscribe to \(bus.channel): \(message)",
                    backend: bus.redis.backendName, underlying: refusal)
            case let reply:
                return StrataError(
                    code: .corruptEntry, message: "unexpected reply to SUBSCRIBE: \(reply?.typeName ?? "none")",
                    backend: bus.redis.backendName)
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

/// A counter shared with the tasks that publish.
final class FailureCount: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
