// An example of Docs/Integrations.md, compiled (and run where the test run has what it
// needs), so the guide cannot drift from the API.
#if Logging && Metrics
import Strata
import Logging
import Metrics
import StrataRedis

enum ObservabilityGuideExample {
    // Docs/Integrations.md, "swift-log and swift-metrics".
    static func make(url: String) throws -> TieredStore {
        var redisConfiguration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: url))
        redisConfiguration.logger = Logger(label: "redis")  // connection lost/regained, bus gaps
        let redis = try RedisStore(configuration: redisConfiguration)
        var configuration = TieredStore.Configuration(defaultExpiry: "10min", invalidationPublisher: RedisInvalidationBus(redis: redis))
        configuration.logger = Logger(label: "cache")  // L2 failures, timeouts, corrupt entries
        configuration.metrics = MetricsReporting(name: "sessions")  // counters and timers per tier and event
        return TieredStore(l1: MemoryStore(maxEntries: 10_000), l2: redis, configuration: configuration)
    }
}
#endif
