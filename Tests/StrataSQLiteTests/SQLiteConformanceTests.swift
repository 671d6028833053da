import Foundation
import StrataSQLite
import StrataTestSupport
import StrataTesting
import Testing

/// A database's path in a fresh folder of the test process's own (removed at exit).
func temporaryPath(_ label: String) -> String {
    try! createdTemporaryDirectory(label) + "/cache.sqlite"
}

enum SQLiteContexts {
    static func sqlite() -> KeyValueStoreConformance.Context {
        let clock = ManualClock()
        return .init(
            makeStore: { try SQLiteStore(configuration: .init(path: temporaryPath("sqlite"), defaultExpiry: $0, clock: clock)) },
            // A manual clock: see Contexts.manualLifetimeSeconds in StrataTests.
            advanceTime: { clock.advance(by: $0) }, shortLifetimeSeconds: 5)
    }
}

extension SQLiteContexts {
    /// A tiered store over SQLite, both tiers on one manual clock.
    static func tiered() -> KeyValueStoreConformance.Context {
        let clock = ManualClock()
        return .init(
            makeStore: {
                TieredStore(
                    l1: MemoryStore(configuration: .init(maxEntries: 10_000, clock: clock)),
                    l2: try SQLiteStore(configuration: .init(path: temporaryPath("tiered"), clock: clock)),
                    configuration: .init(defaultExpiry: $0, l2Timeout: .seconds(60)))  // see Contexts.tieredOverFolder
            },
            // A manual clock: see Contexts.manualLifetimeSeconds in StrataTests.
            advanceTime: { clock.advance(by: $0) }, shortLifetimeSeconds: 5)
    }
}

@Suite("SQLiteStore conformance")
struct SQLiteConformanceTests {
    @Test("SQLiteStore", arguments: KeyValueStoreConformance.checks)
    func sqlite(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(SQLiteContexts.sqlite())
    }

    @Test("TieredStore over SQLiteStore", arguments: KeyValueStoreConformance.checks)
    func tieredOverSQLite(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(SQLiteContexts.tiered())
    }

    @Test("TieredStore over SQLiteStore, prefixed", arguments: KeyValueStoreConformance.checks)
    func prefixedTieredOverSQLite(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(SQLiteContexts.tiered().prefixed("t:"))
    }

    @Test("SQLiteStore, prefixed", arguments: KeyValueStoreConformance.checks)
    func prefixedSQLite(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(SQLiteContexts.sqlite().prefixed("a%_[*"))
    }
}
