import Strata

#if Logging
import Logging
#endif
#if Metrics
import CoreMetrics
#endif

/// What an ``HTTPCache`` reports beyond its ``HTTPCache/Statistics``: logs and metrics,
/// when the `Logging` and `Metrics` traits are on and the configuration asks for them.
/// Without them it holds nothing and each call is empty.
struct HTTPCacheReporter: Sendable {
    #if Logging
    let logger: Logger?
    #endif
    #if Metrics
    /// A counter per statistic, by its name.
    let counters: [String: Counter]
    #endif

    init(_ configuration: HTTPCache.Configuration) {
        #if Logging
        logger = configuration.logger
        #endif
        #if Metrics
        if let metrics = configuration.metrics {
            let names = [
                "hits", "staleHits", "revalidations", "originRequests", "stores", "storeFailures", "corruptEntries", "staleStoresRefused",
            ]
            let factory = metrics.resolvedFactory
            counters = Dictionary(
                uniqueKeysWithValues: names.map { name in
                    (
                        name,
                        Counter(
                            label: "strata_http_events_total", dimensions: [("cache", metrics.name), ("event", name)], factory: factory)
                    )
                })
        } else {
            counters = [:]
        }
        #endif
    }

    /// One more of a statistic; a failure's error is logged.
    func counted(_ field: PartialKeyPath<HTTPCache.Statistics>, key: String?, error: (any Error)?) {
        #if Metrics
        if !counters.isEmpty { counters[Self.name(of: field)]?.increment() }
        #endif
        #if Logging
        if let logger, let error {
            var metadata: Logger.Metadata = ["strata.error": "\(error)"]
            if let key { metadata["strata.key"] = "\(key)" }
            logger.warning(
                field == \HTTPCache.Statistics.corruptEntries
                    ? "corrupt stored response, removed" : "the store failed; the response is served but not cached",
                metadata: metadata)
        }
        #endif
    }

    /// The statistic's name, as its metric's `event` dimension.
    static func name(of field: PartialKeyPath<HTTPCache.Statistics>) -> String {
        switch field {
        case \HTTPCache.Statistics.hits: "hits"
        case \HTTPCache.Statistics.staleHits: "staleHits"
        case \HTTPCache.Statistics.revalidations: "revalidations"
        case \HTTPCache.Statistics.originRequests: "originRequests"
        case \HTTPCache.Statistics.stores: "stores"
        case \HTTPCache.Statistics.storeFailures: "storeFailures"
        case \HTTPCache.Statistics.staleStoresRefused: "staleStoresRefused"
        default: "corruptEntries"
        }
    }

    /// An origin that could not be reached.
    func originFailed(_ error: StrataError) {
        #if Logging
        logger?.warning("origin unavailable", metadata: ["strata.error": "\(error)"])
        #endif
    }
}
