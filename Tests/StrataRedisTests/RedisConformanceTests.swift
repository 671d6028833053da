import Foundation
import StrataRedis
import StrataTestSupport
import StrataTesting
import Testing

enum RedisContexts {
    /// Each store gets a namespace of its own on the shared server, so stores are empty
    /// and independent. Redis keeps its own time: moving time means waiting.
    static func redis() -> KeyValueStoreConformance.Context {
        .init(
            makeStore: { defaultExpiry in
                var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: await RedisTestServer.shared))
                configuration.keyNamespace = "test:\(UUID().uuidString):"
                configuration.defaultExpiry = defaultExpiry
                return try await makeStoreOffPool(configuration)
            }, shortLifetimeSeconds: 3)
    }

    static func tiered(over base: KeyValueStoreConformance.Context = redis()) -> KeyValueStoreConformance.Context {
        .init(
            makeStore: { defaultExpiry in
                TieredStore(  // l2Timeout: see Contexts.tieredOverFolder in StrataTests
                    l1: MemoryStore(maxEntries: 10_000), l2: try await base.makeStore(nil),
                    configuration: .init(defaultExpiry: defaultExpiry, l2Timeout: .seconds(60)))
            }, shortLifetimeSeconds: 3)
    }
}

@Suite("RedisStore conformance")
struct RedisConformanceTests {
    @Test("RedisStore", arguments: KeyValueStoreConformance.checks)
    func redis(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(RedisContexts.redis())
    }

    @Test("RedisStore, prefixed", arguments: KeyValueStoreConformance.checks)
    func prefixedRedis(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(RedisContexts.redis().prefixed("a*?[]\\"))
    }

    @Test("TieredStore over RedisStore", arguments: KeyValueStoreConformance.checks)
    func tieredOverRedis(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(RedisContexts.tiered())
    }
}
