import Strata

#if Logging
import Logging
#endif

/// What the store and its invalidation bus tell the configured logger, if any.
enum RedisLog {
    /// A lane's connection changed.
    case connection(RedisLane.ConnectionChange)
    /// The bus's subscription is up; `afterGap` when it replaced a lost one (and L1 was dropped).
    case subscribed(afterGap: Bool)
    /// The bus's subscription ended or could not be made.
    case subscriptionFailed(StrataError)
    /// An announcement could not be published.
    case publishFailed(StrataError)
}

extension RedisStore {
    /// Sends `event` to the configured logger; without the `Logging` trait or a logger, nothing.
    func log(_ event: RedisLog) {
        #if Logging
        configuration.log(event, backend: backendName)
        #endif
    }
}

extension RedisStore.Configuration {
    /// The lanes' reporter of connection changes; `nil` when nothing is logged, so a
    /// lane then pays nothing.
    func connectionLog(backend: String) -> (@Sendable (RedisLane.ConnectionChange) -> Void)? {
        #if Logging
        guard logger != nil else { return nil }
        return { [self] change in log(.connection(change), backend: backend) }
        #else
        return nil
        #endif
    }

    #if Logging
    func log(_ event: RedisLog, backend: String) {
        guard let logger else { return }
        var metadata: Logger.Metadata = ["strata.backend": "\(backend)"]
        switch event {
        case .connection(.lost(let error)):
            metadata["strata.error"] = "\(error)"
            logger.warning("connection to Redis lost; later calls reconnect", metadata: metadata)
        case .connection(.regained):
            logger.notice("connection to Redis regained", metadata: metadata)
        case .subscribed(let afterGap):
            if afterGap {
                logger.notice("invalidation subscription restored; dropped all of L1 (messages may have been lost)", metadata: metadata)
            } else {
                logger.info("invalidation subscription up", metadata: metadata)
            }
        case .subscriptionFailed(let error):
            metadata["strata.error"] = "\(error)"
            logger.warning("invalidation subscription down; retrying", metadata: metadata)
        case .publishFailed(let error):
            metadata["strata.error"] = "\(error)"
            logger.warning("invalidation not published; other instances keep their L1 copies until l1Expiry", metadata: metadata)
        }
    }
    #endif
}
