import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import Testing

@Suite("RedisStore value formats")
struct RedisValueFormatTests {
    @Test("switching coder and compression keeps every entry readable, directly and under a tiered store")
    func formats() async throws {
        let url = try await RedisTestServer.shared
        for tiered in [false, true] {
            let namespace = "formats:\(UUID().uuidString):"
            try await ValueFormatScenario.run { coder, compression, previous in
                var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: url))
                configuration.keyNamespace = namespace
                configuration.valueCoder = coder
                configuration.compression = compression
                configuration.previousValueCoders = previous
                let redis = try RedisStore(configuration: configuration)
                return tiered ? TieredStore(l1: MemoryStore(), l2: redis) : redis
            }
        }
    }
}
