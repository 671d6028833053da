import Foundation
import StrataRedis
import StrataSQLite
import StrataTestSupport
import StrataTesting

/// The stores the integration tests put behind a framework: a tiered store over SQLite
/// (a file that outlives the app) or over the test run's Redis, on one manual clock where
/// the backend allows it.
struct IntegrationStores {
    let clock = ManualClock()
    let sqlitePath = temporaryDirectory("integration") + ".sqlite"
    /// A namespace of its own on the shared Redis, so tests never see each other's keys.
    let redisNamespace = "integration:\(UUID().uuidString):"

    func sqlite() throws -> SQLiteStore {
        try SQLiteStore(configuration: .init(path: sqlitePath, clock: clock))
    }

    func tieredOverSQLite(defaultExpiry: Expiry? = nil) throws -> TieredStore {
        TieredStore(
            l1: MemoryStore(configuration: .init(maxEntries: 1_000, clock: clock)), l2: try sqlite(),
            configuration: .init(defaultExpiry: defaultExpiry))
    }

    func redis() async throws -> RedisStore {
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: await RedisTestServer.shared))
        configuration.keyNamespace = redisNamespace
        return try RedisStore(configuration: configuration)
    }

    func tieredOverRedis(defaultExpiry: Expiry? = nil) async throws -> TieredStore {
        TieredStore(l1: MemoryStore(maxEntries: 1_000), l2: try await redis(), configuration: .init(defaultExpiry: defaultExpiry))
    }
}
