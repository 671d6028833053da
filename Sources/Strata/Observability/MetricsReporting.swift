#if Metrics
public import CoreMetrics

/// Where and under which name a store or an HTTP cache reports swift-metrics (with the
/// `Metrics` trait): the `store` (or `cache`) dimension of every metric, and the factory
/// (the global `MetricsSystem.factory` unless given).
///
/// ```swift
/// var configuration = TieredStore.Configuration(defaultExpiry: "10min")
/// configuration.metrics = MetricsReporting(name: "sessions")
/// // strata_tiered_events_total{store="sessions", tier="l1", event="hit"} …
/// ```
public struct MetricsReporting: Sendable {
    /// The value of the `store` (or `cache`) dimension.
    public var name: String
    /// The factory the metrics are made by; `nil` for `MetricsSystem.factory`.
    public var factory: (any MetricsFactory)?

    /// Reporting under `name`, to `factory` or the global one.
    ///
    /// ```swift
    /// let reporting = MetricsReporting(name: "prices", factory: PrometheusMetricsFactory())
    /// ```
    public init(name: String, factory: (any MetricsFactory)? = nil) {
        self.name = name
        self.factory = factory
    }

    package var resolvedFactory: any MetricsFactory { factory ?? MetricsSystem.factory }
}
#endif
