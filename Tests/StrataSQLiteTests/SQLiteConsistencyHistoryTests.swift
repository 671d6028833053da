import Strata
import StrataSQLite
import Testing

@testable import StrataTesting

/// A random history on a tiered store over SQLite, checked against the model of
/// Docs/Consistency.md (see ConsistencyHistory).
@Suite("Consistency history over SQLite")
struct SQLiteConsistencyHistoryTests {
    @Test("a tiered store over SQLite: a random history breaks no rule")
    func tieredOverSQLite() async throws {
        let cache = TieredStore(
            l1: MemoryStore(maxEntries: 1_000), l2: try SQLiteStore(path: temporaryPath("history")),
            configuration: ConsistencyHistory.tieredConfiguration())
        let outcome = try await ConsistencyHistory.check([cache])
        #expect(outcome.violations.isEmpty, "\(outcome)")
        try await cache.close()
    }

    @Test("a SQLite store of one tier: a random history breaks no rule")
    func sqlite() async throws {
        let store = try SQLiteStore(path: temporaryPath("history-plain"))
        let outcome = try await ConsistencyHistory.check([store])
        #expect(outcome.violations.isEmpty, "\(outcome)")
        try await store.close()
    }
}
