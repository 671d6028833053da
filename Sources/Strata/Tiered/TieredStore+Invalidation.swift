/// Announcing this store's changes to other instances, and applying theirs.
extension TieredStore {
    /// Tells other instances (through the configured publisher) that their copies are stale.
    func announce(_ invalidation: Invalidation) async {
        await configuration.invalidationPublisher?.publish(invalidation)
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
            report(.remoteInvalidation, .l1, key, since: nil)
        case .prefix(let prefix):
            tracker.beginPrefixWrite()
            tracker.finishPrefixWrite { try? l1.removeAll(prefix: prefix) }
            report(.remoteInvalidation, .l1, prefix, since: nil)
        case .everything:
            tracker.beginPrefixWrite()
            tracker.finishPrefixWrite { try? l1.removeAll(prefix: "") }
            tagTable.forgetAll()
            notify(Event(kind: .remoteInvalidation, tier: .l1, key: nil, duration: .zero, error: nil))
        }
    }
}
