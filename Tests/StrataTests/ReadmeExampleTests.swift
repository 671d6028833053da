import Foundation
import Strata
import Testing

/// The README's example, kept compiling and true.
@Test("the README example runs as written")
func readmeExample() async throws {
    struct Report: Codable, Sendable { var total: Int }
    let directory = temporaryDirectory("readme")

    let memory = MemoryStore(maxEntries: 10_000)
    let folder = try FolderStore(directory: directory)

    try await folder.set("user:1", "Ada", expires: "1h")
    let name = try await folder.get("user:1", as: String.self)

    let report = try await memory.getOrSet("report", as: Report.self, expires: "5min") {
        Report(total: 42)
    }
    let users = folder.prefixed("user:")
    try await users.clear()

    #expect(name == "Ada")
    #expect(report.total == 42)
    #expect(try await folder.keys() == [])
}
