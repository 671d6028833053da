import Strata

/// Stores from URLs: one server, the primary behind Sentinel, or a cluster's seeds.
extension RedisStore {
    /// Connects to the server at `url` (`redis://…`, `rediss://…` for TLS, or `redis+unix://…`),
    /// or to the primary that sentinels watch (`redis-sentinel://s1:26379,s2:26379/name?db=N`,
    /// ``RedisSentinel/parse(url:)``).
    ///
    /// ```swift
    /// let redis = try RedisStore(url: "redis+unix:///run/redis.sock?db=1")
    /// ```
    public convenience init(url: String, defaultExpiry: Expiry? = nil) throws {
        if url.hasPrefix("redis-sentinel://") {
            let (sentinel, primary) = try RedisSentinel.parse(url: url)
            var configuration = Configuration(endpoint: primary, defaultExpiry: defaultExpiry)
            configuration.sentinel = sentinel
            try self.init(configuration: configuration)
        } else {
            try self.init(configuration: Configuration(endpoint: try RedisEndpoint(url: url), defaultExpiry: defaultExpiry))
        }
    }

    /// Connects to a Redis Cluster through `seeds` (any of its nodes; the first that
    /// answers gives the slot map), with the same behaviour as on one server.
    ///
    /// ```swift
    /// let shared = try RedisStore(cluster: ["redis://cache-1:7000", "redis://cache-2:7000"])
    /// ```
    public convenience init(cluster seeds: [String], defaultExpiry: Expiry? = nil) throws {
        let endpoints = try seeds.map { try RedisEndpoint(url: $0) }
        guard let first = endpoints.first else {
            throw StrataError(
                code: .invalidConfiguration, message: "a cluster needs at least one seed node", backend: "RedisStore(cluster)")
        }
        var configuration = Configuration(endpoint: first, defaultExpiry: defaultExpiry)
        configuration.clusterSeeds = endpoints
        try self.init(configuration: configuration)
    }
}
