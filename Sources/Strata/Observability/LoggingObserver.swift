#if Logging
import Logging

/// Writes a tiered store's events to a swift-log `Logger`: failures, timeouts, corrupt
/// entries and L1 drops after an invalidation gap as warnings and notices; hits, misses,
/// fills, writes and computations at `debug`, so they cost a level check unless the
/// logger is set to `debug`.
struct LoggingObserver: TieredStoreObserver {
    let logger: Logger
    let store: String

    func observe(_ event: TieredStore.Event) {
        var metadata: Logger.Metadata = ["strata.store": "\(store)", "strata.tier": "\(event.tier.rawValue)"]
        if let key = event.key { metadata["strata.key"] = "\(StrataError.quoted(key))" }
        if event.duration > .zero { metadata["strata.duration"] = "\(event.duration)" }
        if let error = event.error { metadata["strata.error"] = "\(error)" }
        switch event.kind {
        case .failure:
            logger.warning("L2 call failed", metadata: metadata)
        case .timeout:
            logger.warning("L2 call timed out", metadata: metadata)
        case .undecodable:
            logger.warning("corrupt or undecodable entry, treated as a miss", metadata: metadata)
        case .remoteInvalidation where event.key == nil:
            logger.notice("dropped all of L1 after a gap in the invalidation subscription", metadata: metadata)
        default:
            logger.debug("\(event.kind)", metadata: metadata)
        }
    }
}
#endif
