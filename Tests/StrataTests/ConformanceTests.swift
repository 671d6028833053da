import StrataTesting
import Testing

/// The shared contract, run against every store of the core module and a prefixed view of each.
@Suite("Conformance")
struct ConformanceTests {
    @Test("MemoryStore", arguments: KeyValueStoreConformance.checks)
    func memory(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(Contexts.memory())
    }

    @Test("MemoryStore, prefixed", arguments: KeyValueStoreConformance.checks)
    func prefixedMemory(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(Contexts.memory().prefixed("tenant:7:"))
    }

    @Test("FolderStore", arguments: KeyValueStoreConformance.checks)
    func folder(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(Contexts.folder())
    }

    @Test("FolderStore, prefixed", arguments: KeyValueStoreConformance.checks)
    func prefixedFolder(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(Contexts.folder().prefixed("../tenant/"))
    }

    @Test("TieredStore over FolderStore", arguments: KeyValueStoreConformance.checks)
    func tieredOverFolder(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(Contexts.tieredOverFolder())
    }

    @Test("TieredStore over FolderStore, prefixed", arguments: KeyValueStoreConformance.checks)
    func prefixedTieredOverFolder(_ check: KeyValueStoreConformance.Check) async throws {
        try await check.run(Contexts.tieredOverFolder().prefixed("t:"))
    }

    @Test("the suite covers the contract's sentences")
    func suiteSize() {
        #expect(KeyValueStoreConformance.checks.count >= 25)
        #expect(Set(KeyValueStoreConformance.checks.map(\.sentence)).count == KeyValueStoreConformance.checks.count)
    }
}
