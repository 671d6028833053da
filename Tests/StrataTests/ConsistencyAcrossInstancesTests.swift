import StrataTestSupport
import StrataTesting
import Testing

/// Docs/Consistency.md's rules across instances that share a folder: two `FolderStore`
/// objects on one directory (each its own open of it), each under its own `TieredStore`,
/// as two processes have them; no bus between them.
@Suite("Consistency across instances sharing a folder")
struct FolderConsistencyAcrossInstancesTests {
    @Test(
        "C2 stale-set across instances on a folder: a computed value never replaces another instance's set, delete, clear or tag invalidation that began after its miss",
        .timeLimit(.minutes(1)), arguments: StaleSetAcrossInstances.Change.allCases)
    func staleSetAcrossInstances(change: StaleSetAcrossInstances.Change) async throws {
        let directory = temporaryDirectory("c2-instances")
        try await StaleSetAcrossInstances.checkWithoutBus(change) { try FolderStore(directory: directory) }
    }
}
