import Strata
import StrataSQLite
import StrataTestSupport
import Testing

@Suite("SQLiteStore value formats")
struct SQLiteValueFormatTests {
    @Test("switching coder and compression keeps every entry readable, directly and under a tiered store")
    func formats() async throws {
        let path = temporaryPath("formats")
        try await ValueFormatScenario.run { coder, compression, previous in
            var configuration = SQLiteStore.Configuration(path: path)
            configuration.valueCoder = coder
            configuration.compression = compression
            configuration.previousValueCoders = previous
            return try SQLiteStore(configuration: configuration)
        }
        let tieredPath = temporaryPath("tiered-formats")
        try await ValueFormatScenario.run { coder, compression, previous in
            var configuration = TieredStore.Configuration(l2Timeout: .seconds(60))  // see RedisValueFormatTests
            configuration.valueCoder = coder
            configuration.compression = compression
            configuration.previousValueCoders = previous
            return TieredStore(l1: MemoryStore(), l2: try SQLiteStore(path: tieredPath), configuration: configuration)
        }
    }
}
