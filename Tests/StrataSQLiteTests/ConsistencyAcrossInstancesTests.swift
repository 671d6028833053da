import StrataSQLite
import StrataTesting
import Testing

/// Docs/Consistency.md's rules across instances that share a SQLite file: two
/// `SQLiteStore` objects on one file (their own connections), each under its own
/// `TieredStore`, as two processes have them; no bus between them.
@Suite("Consistency across instances sharing a SQLite file")
struct SQLiteConsistencyAcrossInstancesTests {
    @Test(
        "C2 stale-set across instances on SQLite: a computed value never replaces another instance's set, delete, clear or tag invalidation that began after its miss",
        .timeLimit(.minutes(1)), arguments: StaleSetAcrossInstances.Change.allCases)
    func staleSetAcrossInstances(change: StaleSetAcrossInstances.Change) async throws {
        let path = temporaryPath("c2-instances")
        try await StaleSetAcrossInstances.checkWithoutBus(change) { try SQLiteStore(path: path) }
    }
}
