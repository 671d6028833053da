import Foundation
import StrataRedis
import StrataTestSupport
import StrataTesting
import Testing

/// One set of a primary, a replica and three sentinels for the conformance checks, started
/// by the first check that needs it.
private actor SharedSentinels {
    static let shared = SharedSentinels()
    private var starting: Task<RedisTestSentinels, any Error>?

    func url() async throws -> String {
        if starting == nil { starting = Task { try await RedisTestSentinels() } }
        return try await starting!.value.url()
    }
}

@Suite("RedisStore behind Sentinel: conformance")
struct RedisSentinelConformanceTests {
    /// A store through the sentinels, in a namespace of its own.
    static func context() -> KeyValueStoreConformance.Context {
        .init(
            makeStore: { defaultExpiry in
                let url = try await SharedSentinels.shared.url()
                return try await offPool {
                    var configuration = RedisStore.Configuration(endpoint: RedisEndpoint(address: .tcp(host: "", port: 0)))
                    configuration.sentinel = try RedisSentinel.parse(url: url).sentinel
                    configuration.keyNamespace = "test:\(UUID().uuidString):"
                    configuration.defaultExpiry = defaultExpiry
                    return try RedisStore(configuration: configuration)
                }
            }, shortLifetimeSeconds: 3)
    }

    @Test("RedisStore(url: \"redis-sentinel://…\")", arguments: KeyValueStoreConformance.checks)
    func sentinel(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(Self.context())
    }
}
