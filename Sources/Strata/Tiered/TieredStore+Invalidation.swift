import Synchronization

/// Announcing this store's changes to other instances, and applying theirs.
extension TieredStore {
    /// Tells other instances (through the configured publisher) that their copies are stale.
    func announce(_ invalidation: Invalidation) async {
        await configuration.invalidationPublisher?.publish(invalidation)
    }

    /// Announces `invalidation` after an L2 call of one key that failed with `error`, since
    /// L2 may have made the change (a reply lost, a timeout after the request was sent); not
    /// after `closed`, which a closed store throws for a request it did not send. (A bulk
    /// call or a `clear(prefix:)` sends in several steps, and is announced even then.)
    func announce(_ invalidation: Invalidation, afterFailure error: any Error) async {
        if (error as? StrataError)?.code == .closed { return }
        await announce(invalidation)
    }

    /// Drops the L1 copies another instance's change made stale, called by an invalidation
    /// subscriber (such as `RedisInvalidationBus.run(delivering:)`). A read filling L1 at
    /// the same moment does not put a stale copy back.
    ///
    /// ```swift
    /// cache.applyRemoteInvalidation(.key("user:1"))
    /// ```
    public func applyRemoteInvalidation(_ invalidation: Invalidation) {
        switch invalidation {
        case .key(let key):
            if let tag = TagInvalidations.tag(fromKey: key) { tagTable.forget(tag) }
            let byteKey = ByteKey(key)
            let ticket = tracker.beginWrite(byteKey)
            finishDroppingL1Copy(ticket, byteKey)
            changeSignals.signal(byteKey)  // after the drop: a woken waiter reads L2, not a stale copy
            report(.remoteInvalidation, .l1, key, since: nil)
        case .prefix(let prefix):
            tracker.beginPrefixWrite()
            tracker.finishPrefixWrite { try? l1.removeAll(prefix: prefix) }
            changeSignals.signalAll()
            report(.remoteInvalidation, .l1, prefix, since: nil)
        case .everything:
            dropEverything()
            changeSignals.signalAll()
            notify(Event(kind: .remoteInvalidation, tier: .l1, key: nil, duration: .zero, error: nil))
        }
    }

    /// Learns that the invalidation source started or stopped delivering: L1 and the tag
    /// table are dropped either way (messages may have been lost), and while it does not
    /// deliver, copies are kept for ``Configuration/undeliveredL1Expiry`` at most.
    ///
    /// ```swift
    /// cache.invalidationDeliveryChanged(isLive: false)   // what a bus does when its subscription is lost
    /// ```
    public func invalidationDeliveryChanged(isLive: Bool) {
        // Not live first, so no copy made from here on outlives the bound; then the drop.
        if !isLive { delivery.set(live: false) }
        dropEverything()
        if isLive { delivery.set(live: true) }
        let reason =
            isLive
            ? nil
            : StrataError(
                code: .backendUnavailable, message: "the invalidation source stopped delivering; L1 was dropped",
                backend: backendName)
        notify(Event(kind: .deliveryChanged, tier: .l1, key: nil, duration: .zero, error: reason))
    }

    /// Drops every L1 copy and every known tag instant; a read filling L1 meanwhile does not
    /// put a copy back.
    private func dropEverything() {
        tracker.beginPrefixWrite()
        tracker.finishPrefixWrite { try? l1.removeAll(prefix: "") }
        tagTable.forgetAll()
    }
}

/// Whether a tiered store's invalidation source delivers other instances' changes. A store
/// without a source delivers nothing and expects nothing: its L1 copies live for `l1Expiry`.
final class InvalidationDeliveryState: Sendable {
    private let live: Atomic<Bool>
    /// Whether the store has a source: without one, nothing tells it of another instance's
    /// change, so what it reads from L2 about tags is read again every `undeliveredL1Expiry`.
    let hasSource: Bool

    /// A store with an ``InvalidationSource`` starts undelivered, until it subscribes.
    init(expectsSource: Bool) {
        live = Atomic(!expectsSource)
        hasSource = expectsSource
    }

    /// Whether changes are delivered now (always, for a store without a source).
    var isLive: Bool { live.load(ordering: .acquiring) }

    func set(live value: Bool) { live.store(value, ordering: .releasing) }
}
