import Dispatch
import Strata
import Synchronization

/// Keeps the L1 tiers of several `TieredStore`s over one Redis coherent: every change one
/// instance makes is published on a Redis channel, and every other instance drops its L1
/// copies of the keys (or prefix) named. In ``Mode/tracking`` mode Redis itself reports
/// each key's change (whoever made it) and only prefixes, tags and everything are
/// published; with ``Configuration/shardedPubSub`` on a cluster, the channel is 16 sharded
/// channels.
///
/// Messages carry keys and prefixes only, never values, as bytes (any key is safe), with
/// the sender's random instance id, so an instance ignores its own messages.
///
/// Messages sent while an instance is not subscribed never reach it, so every start and
/// every end of its subscription is a gap: when the server confirms a subscription (the
/// first one included, and each after a restarted ``run(delivering:)``), and when one is
/// lost (an error, the server closing it, a failed health check, cancellation), the bus
/// drops the instance's whole L1 (`Invalidation.everything`, reported as a
/// `remoteInvalidation` event without a key) and tells it whether delivery is live
/// (`invalidationDeliveryChanged(isLive:)`).
///
/// A path that dies silently (no FIN, no RST: a dropped route, a frozen peer) ends
/// nothing by itself, so a `PING` is sent on the connection once nothing arrived on it for
/// ``Configuration/healthCheckInterval``, and the connection is taken as lost when nothing
/// arrives within ``Configuration/healthCheckTimeout`` after it: such a loss is noticed within
/// ``Configuration/detectionBound`` (3 s by default).
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
/// await bus.close()   // publishes what is still queued
/// ```
public final class RedisInvalidationBus: InvalidationSource {
    /// The store whose server carries the channel.
    public let redis: RedisStore
    /// The channel's name: `strata:invalidations:` followed by the store's key namespace
    /// (with ``Configuration/shardedPubSub`` on a cluster, the sharded channels' names are
    /// this and a hash tag each).
    public let channel: String
    /// This instance's random id, sent with every message.
    public let instanceID: [UInt8]
    /// How the subscription's health is checked.
    public let configuration: Configuration
    let publishFailures = FailureCount()
    let lastFailures = Lock<(publish: StrataError?, subscribe: StrataError?)>((nil, nil))
    let subscribed = Atomic<Bool>(false)
    /// How many subscriptions deliver to the store now: more than one only while runs of
    /// ``run(delivering:)`` for the same store overlap.
    let liveDeliveries = Lock(0)
    /// The store the bus delivers to while a ``run(delivering:)`` runs, and how many run.
    let delivery = Lock<(store: ObjectIdentifier?, runs: Int)>((nil, 0))
    let outbox = Lock(Outbox())
    let publishedMessages = Atomic<Int>(0)
    let receivedMessages = Atomic<Int>(0)

    /// A bus on `redis`'s server, on the channel of its key namespace, with the default
    /// health check (a `PING` after a second of silence, its reply expected within 2 s).
    ///
    /// ```swift
    /// let bus = RedisInvalidationBus(redis: redis)
    /// ```
    public convenience init(redis: RedisStore) {
        self.init(redis: redis, validated: Configuration())
    }

    /// A bus on `redis`'s server with the health check `configuration` sets. Throws
    /// `invalidConfiguration` when its interval or timeout is not positive.
    ///
    /// ```swift
    /// let bus = try RedisInvalidationBus(redis: redis, configuration: .init(healthCheckInterval: .milliseconds(500)))
    /// ```
    public convenience init(redis: RedisStore, configuration: Configuration) throws(StrataError) {
        guard configuration.healthCheckInterval > .zero, configuration.healthCheckTimeout > .zero else {
            throw StrataError(
                code: .invalidConfiguration,
                message: "healthCheckInterval and healthCheckTimeout must be positive "
                    + "(\(configuration.healthCheckInterval), \(configuration.healthCheckTimeout))",
                backend: redis.backendName)
        }
        self.init(redis: redis, validated: configuration)
    }

    init(redis: RedisStore, validated configuration: Configuration) {
        self.redis = redis
        self.configuration = configuration
        self.channel = "strata:invalidations:" + redis.configuration.keyNamespace
        var generator = SystemRandomNumberGenerator()
        self.instanceID = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Announcements that could not be published, at each attempt: the server was unreachable
    /// (the message is sent again, in order, until it is published), refused `PUBLISH` (an
    /// ACL without it, say: not sent again), or the bus was closed. Other instances keep
    /// their L1 copies of what a message never published named until those expire
    /// (`l1Expiry`).
    public var failedPublishes: Int { publishFailures.value }

    /// Messages this bus's queue published (`PUBLISH`, or `SPUBLISH` when sharded; not
    /// ``announce(_:)``'s, nor those a write carried: ``carriedAnnouncement(ofChangeTo:writtenTo:)``), since it was made: fewer than the announcements when keys were
    /// coalesced, none for keys in `.tracking` mode.
    ///
    /// ```swift
    /// print("published", bus.messagesPublished, "received", bus.messagesReceived)
    /// ```
    public var messagesPublished: Int { publishedMessages.load(ordering: .relaxed) }

    /// Messages this bus's subscriptions received, since it was made: every instance's
    /// announcements (its own included, ignored on arrival) and, in `.tracking` mode,
    /// Redis's invalidations (its own writes' included). What each instance reads is the
    /// whole fleet's changes: see Docs/Scaling.md.
    public var messagesReceived: Int { receivedMessages.load(ordering: .relaxed) }

    /// Why the last message that could not be published failed, or `nil`.
    ///
    /// ```swift
    /// if let error = bus.lastPublishError { print("invalidations are not reaching other instances:", error) }
    /// ```
    public var lastPublishError: StrataError? { lastFailures.withLock { $0.publish } }

    /// Whether ``run(delivering:)`` holds a subscription the server confirmed and whose
    /// health check has not failed. While it does not, other instances' changes are not
    /// applied; the store's L1 was dropped when it went false, and is again when it goes true.
    ///
    /// ```swift
    /// if !bus.isSubscribed { print("L1 copies may miss other instances' changes") }
    /// ```
    public var isSubscribed: Bool { subscribed.load(ordering: .acquiring) }

    /// Why the last attempt to subscribe failed (unreachable server, `NOPERM` on the
    /// channel…) or the last subscription was lost (closed by the server, no reply to the
    /// health check's `PING` in time), or `nil`.
    ///
    /// ```swift
    /// if let error = bus.lastSubscribeError { print("subscription:", error) }
    /// ```
    public var lastSubscribeError: StrataError? { lastFailures.withLock { $0.subscribe } }

    /// Publishes `invalidation` and waits for Redis's answer: the number of instances
    /// subscribed that received it. A refusal (`NOPERM`…) or an unreachable server throws.
    /// It does not wait for, or keep its place among, the announcements `publish(_:)` queued.
    ///
    /// ```swift
    /// try await bus.announce(.prefix("user:"))   // after changing L2 behind the tiered stores' backs
    /// ```
    @discardableResult
    public func announce(_ invalidation: Invalidation) async throws(StrataError) -> Int {
        do {
            let message = Self.encode(invalidation, from: instanceID)
            guard isSharded else { return try await redis.publish(channel: Array(channel.utf8), message: message) }
            let name = shardedChannel(shardedChannelIndex(of: invalidation))
            guard
                case .integer(let reached) = try await redis.send(
                    [redis.command("SPUBLISH", name, message)], routing: name, keyOfCommand: { _ in nil })[0]
            else { return 0 }
            return Int(reached)
        } catch let error as StrataError {
            throw error
        } catch {
            throw StrataError(code: .backendUnavailable, message: "PUBLISH failed", backend: redis.backendName, underlying: error)
        }
    }

    /// Subscribes and applies other instances' invalidations to `store` (a
    /// `TieredStore`) until cancelled (or, with the `ServiceLifecycle` trait, a graceful
    /// shutdown), then returns normally. The subscribed connection is read by the event loop
    /// that reads every pooled connection, and checked with `PING`; after a loss it reconnects at once, by itself, and
    /// after a failed attempt waits 100 ms before the next, doubled after each further
    /// failure up to 2 s. At every confirmed subscription (the first one included) and
    /// every loss (this call's end included), all of L1 is dropped and `store` is told
    /// whether delivery is live. A `TieredStore`'s own `run()` runs this for its publisher.
    ///
    /// A bus delivers to one store: while it runs for one, it throws `invalidConfiguration`
    /// at once for another (both would publish under this bus's ``instanceID``, and each
    /// would drop the other's announcements as its own). Give each tiered store a bus of its
    /// own. Runs for the same store may overlap (a restart beside the run still ending): the
    /// store is told delivery stopped, and ``isSubscribed`` turns false, only once the last of
    /// them stops delivering. In ``Mode/tracking`` mode it throws `invalidConfiguration` at once for a
    /// `TieredStore` whose L2 names keys otherwise than this bus's ``redis`` (a prefixed
    /// view, a `RedisStore` of another namespace): Redis reports them by those names.
    ///
    /// ```swift
    /// let subscription = Task { try await bus.run(delivering: cache) }
    /// ...
    /// subscription.cancel()   // the call returns; the cache's L1 was dropped
    /// ```
    public func run(delivering store: any InvalidationSubscriber) async throws {
        // Redis reports changes by their names in this bus's store: a tiered store's L1 holds
        // the same keys only over a store with the same names (not a prefixed view, not a
        // RedisStore of another namespace; a wrapper that keeps names is fine).
        // (Seen through the store pipeline: a tiered store's source is its L2, and the L2's
        // own pipeline says what it prefixes and where its entries live.)
        if configuration.mode == .tracking, let subscriber = store as? any KeyValueStore {
            let l2 = subscriber.pipeline.source
            let names = l2.pipeline
            if !names.keyPrefix.isEmpty || (names.source as? RedisStore).map({ $0.names.namespace != redis.names.namespace }) == true {
                throw StrataError(
                    code: .invalidConfiguration,
                    message: "a bus in .tracking mode reports keys as its RedisStore names them: the tiered store's L2 "
                        + "(\(l2.backendName)) names them otherwise; make it the bus's RedisStore (or one of its namespace)",
                    backend: redis.backendName)
            }
        }
        let claimed = delivery.withLock { delivery -> Bool in
            guard delivery.store == nil || delivery.store == ObjectIdentifier(store) else { return false }
            delivery = (ObjectIdentifier(store), delivery.runs + 1)
            return true
        }
        guard claimed else {
            throw StrataError(
                code: .invalidConfiguration,
                message: "this bus already delivers to another store: both would publish under its instance id, and each "
                    + "would drop the other's announcements as its own; give each tiered store a bus of its own",
                backend: redis.backendName)
        }
        defer {
            delivery.withLock { delivery in
                delivery.runs -= 1
                if delivery.runs == 0 { delivery.store = nil }
            }
        }
        try await Background.untilShutdown { [self] in
            await Subscriber(bus: self, store: store).run()
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

    /// Several keys in one message: `[1][16-byte instance id][K]` then, per key, its
    /// length (2 bytes, big-endian; a caller's key is at most 1,024 bytes, but a view's
    /// prefix comes before it) and its bytes. A key too
    /// long for its length (a prefixed view's prefix is not bounded) makes the message
    /// `.everything`: its length would wrap, and the receiver read other keys than were sent.
    static func encode(keys: [String], from instance: [UInt8]) -> [UInt8] {
        guard keys.allSatisfy({ $0.utf8.count <= Int(UInt16.max) }) else { return encode(.everything, from: instance) }
        var message = [1] + instance + [UInt8(ascii: "K")]
        message.reserveCapacity(message.count + keys.reduce(0) { $0 + 2 + $1.utf8.count })
        for key in keys {
            let count = key.utf8.count
            message.append(UInt8(truncatingIfNeeded: count >> 8))
            message.append(UInt8(truncatingIfNeeded: count))
            message.append(contentsOf: key.utf8)
        }
        return message
    }

    /// The invalidations in `message`; empty for this instance's own. A message this
    /// version cannot read (a later version's, or a malformed one) is taken as
    /// `.everything`: dropping all of L1 is always safe, ignoring a change is not.
    static func decode(_ message: [UInt8], ignoring instance: [UInt8]) -> [Invalidation] {
        guard message.count >= 18, message[0] == 1 else { return [.everything] }
        if message[1..<17].elementsEqual(instance) { return [] }
        let body = message[18...]
        switch message[17] {
        case UInt8(ascii: "k"):
            return [String(validating: body, as: UTF8.self).map(Invalidation.key) ?? .everything]
        case UInt8(ascii: "p"):
            return [String(validating: body, as: UTF8.self).map(Invalidation.prefix) ?? .everything]
        case UInt8(ascii: "a"):
            return [.everything]
        case UInt8(ascii: "K"):
            var keys: [Invalidation] = []
            var index = body.startIndex
            while index < body.endIndex {
                guard body.endIndex - index >= 2 else { return [.everything] }
                let count = Int(body[index]) << 8 | Int(body[index + 1])
                index += 2
                guard body.endIndex - index >= count, let key = String(validating: body[index..<index + count], as: UTF8.self)
                else { return [.everything] }
                keys.append(.key(key))
                index += count
            }
            return keys
        default:
            return [.everything]
        }
    }

    /// Turns queued announcements into messages, in order: a run of keys becomes messages
    /// of up to ``coalescedKeys`` keys (when ``Configuration/coalescesKeys``), anything else
    /// one message each. Each message comes with the index of its first announcement.
    func messages(_ queued: [Invalidation]) -> [(payload: [UInt8], first: Int)] {
        var messages: [(payload: [UInt8], first: Int)] = []
        var run: [String] = []
        var runStart = 0
        func endRun() {
            if run.count == 1 {
                messages.append((Self.encode(.key(run[0]), from: instanceID), runStart))
            } else if !run.isEmpty {
                messages.append((Self.encode(keys: run, from: instanceID), runStart))
            }
            run = []
        }
        for (index, invalidation) in queued.enumerated() {
            if configuration.coalescesKeys, case .key(let key) = invalidation {
                if run.isEmpty { runStart = index }
                run.append(key)
                if run.count == Self.coalescedKeys { endRun() }
            } else {
                endRun()
                messages.append((Self.encode(invalidation, from: instanceID), index))
            }
        }
        endRun()
        return messages
    }

    /// Keys in one coalesced message, at most (at most 1 KiB each: a message stays under
    /// about 260 KiB).
    static let coalescedKeys = 256
}

/// A counter shared with the task that publishes.
final class FailureCount: Sendable {
    private let count = Atomic<Int>(0)
    func increment(by amount: Int = 1) { count.add(amount, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
