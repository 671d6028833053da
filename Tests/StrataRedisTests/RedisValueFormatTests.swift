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
                // A computed write past l2Timeout is kept in L1 only until it lands (R4's exception):
                // a store made next would not find it yet. L2 gets all the time a loaded machine needs.
                return tiered ? TieredStore(l1: MemoryStore(), l2: redis, configuration: .init(l2Timeout: .seconds(60))) : redis
            }
        }
    }
}
