import Strata
import StrataRedis

/// What the `strata` mode serves through: a TieredStore with a memory L1 over Redis, the
/// invalidation bus and the compute lock, as a deployment of several instances runs it. The
/// framework runs the store as a service: its background work holds the bus's subscription,
/// without which L1 copies are kept for `undeliveredL1Expiry` only.
struct StrataRows: Sendable {
    let cache: TieredStore
    let origin: Origin

    init(redisURL: String, computeLock: Options.ComputeLockMode, origin: Origin) throws {
        let redis = try RedisStore(url: redisURL)
        let bus = RedisInvalidationBus(redis: redis)
        let lock: (any ComputeLock)? =
            switch computeLock {
            case .on: RedisComputeLock(redis: redis)
            case .off: nil
            case .twoStep: TwoStepLock(lock: RedisComputeLock(redis: redis))
            }
        let configuration = TieredStore.Configuration(defaultExpiry: "10min", invalidationPublisher: bus, computeLock: lock)
        self.cache = TieredStore(l1: MemoryStore(maxEntries: 100_000), l2: redis, configuration: configuration)
        self.origin = origin
    }

    /// The row of `id`: from L1, else from Redis, else queried once for every caller in
    /// every instance.
    func row(_ id: Int) async throws -> Row {
        let origin = self.origin
        return try await cache.getOrSet("item:\(id)", as: Row.self, expires: "10min") {
            try await origin.row(id)
        }
    }
}

/// `RedisComputeLock` without its one-step forms: the lock and the key's lease taken apart,
/// the write and the release sent apart, as on a Redis Cluster (`--lock two-step`).
struct TwoStepLock: ComputeLock {
    let lock: RedisComputeLock

    func acquire(_ key: String, lease: Duration) async throws -> String? {
        try await lock.acquire(key, lease: lease)
    }

    func release(_ key: String, token: String) async throws {
        try await lock.release(key, token: token)
    }
}
