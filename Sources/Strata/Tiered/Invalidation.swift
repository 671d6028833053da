/// What a change made L1 copies stale: one key, every key under a prefix, or everything.
///
/// A ``TieredStore`` with an ``InvalidationPublisher`` announces one for every change it
/// makes, so that other instances sharing its L2 drop their L1 copies
/// (``TieredStore/applyRemoteInvalidation(_:)``).
///
/// ```swift
/// cache.applyRemoteInvalidation(.prefix("user:"))
/// ```
public enum Invalidation: Sendable, Hashable {
    /// One key.
    case key(String)
    /// Every key that starts with the prefix, byte for byte.
    case prefix(String)
    /// Everything (after lost messages, nothing in L1 can be trusted).
    case everything
}

/// Announces a tiered store's changes to other instances (for example over Redis pub/sub).
///
/// `publish` must not throw: a publisher reports its own failures. It is awaited after
/// the change has reached L2, before the call that made the change returns (for a
/// computation's write still in flight past `l2Timeout`, when that write lands).
///
/// ```swift
/// struct Logger: InvalidationPublisher {
///     func publish(_ invalidation: Invalidation) async { print(invalidation) }
/// }
/// ```
public protocol InvalidationPublisher: Sendable {
    /// Announces that `invalidation`'s L1 copies are stale.
    func publish(_ invalidation: Invalidation) async

    /// Announces a batch of invalidations (a bulk write's keys) together. The default
    /// publishes each; a publisher that sends messages sends the batch in as few as it can.
    ///
    /// ```swift
    /// await publisher.publish([.key("user:1"), .key("user:2")])
    /// ```
    func publish(_ invalidations: [Invalidation]) async

    /// Publishes what is still queued, then stops publishing. A ``TieredStore``'s `close()`
    /// calls it before it closes L2, so no announcement of its changes is left behind. The
    /// default does nothing.
    func close() async

    /// The announcement of a change of `key` for a write to `store` to carry in the same
    /// step (see ``CarriedAnnouncement``), or `nil` when that store's writes cannot carry
    /// this publisher's announcements: the change is then published after the write, with
    /// `publish(_:)`. The default is `nil`.
    ///
    /// ```swift
    /// let announcement = bus.carriedAnnouncement(ofChangeTo: "user:1", writtenTo: redis)
    /// ```
    func carriedAnnouncement(ofChangeTo key: String, writtenTo store: any KeyValueStore) -> CarriedAnnouncement?
}

extension InvalidationPublisher {
    /// `nil`: every announcement is published after its write.
    public func carriedAnnouncement(ofChangeTo key: String, writtenTo store: any KeyValueStore) -> CarriedAnnouncement? {
        nil
    }

    /// Publishes each invalidation of the batch in turn.
    public func publish(_ invalidations: [Invalidation]) async {
        for invalidation in invalidations { await publish(invalidation) }
    }

    /// Does nothing: a publisher that sends each announcement at once has nothing queued.
    public func close() async {}
}

/// What applies other instances' invalidations: a ``TieredStore`` drops its L1 copies.
///
/// ```swift
/// final class Printer: InvalidationSubscriber {
///     func applyRemoteInvalidation(_ invalidation: Invalidation) { print(invalidation) }
/// }
/// ```
public protocol InvalidationSubscriber: AnyObject, Sendable {
    /// Drops what `invalidation` made stale. Called by the source, from a thread or task of its own: must not block.
    func applyRemoteInvalidation(_ invalidation: Invalidation)

    /// Told when the source starts delivering other instances' invalidations (`true`: a
    /// subscription confirmed and healthy) and when it stops (`false`: lost, or found dead by
    /// its health check). While it does not deliver, changes may be missed: a
    /// ``TieredStore`` then keeps what it copies into L1 only briefly. The source applies
    /// ``Invalidation/everything`` at each change of state, since messages may have been
    /// lost. Called by the source, from a thread or task of its own: must not block. The default does nothing.
    func invalidationDeliveryChanged(isLive: Bool)
}

extension InvalidationSubscriber {
    /// Does nothing.
    public func invalidationDeliveryChanged(isLive: Bool) {}
}

/// A publisher that also receives other instances' announcements (such as
/// `RedisInvalidationBus`), so a ``TieredStore``'s ``TieredStore/run()`` can subscribe
/// it to the store without the caller wiring the two together.
///
/// ```swift
/// let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: .init(invalidationPublisher: bus))
/// try await cache.run()   // runs bus.run(delivering: cache) among the store's background work
/// ```
public protocol InvalidationSource: InvalidationPublisher {
    /// Delivers other instances' invalidations to `subscriber` until cancelled, then returns.
    func run(delivering subscriber: any InvalidationSubscriber) async throws
}
