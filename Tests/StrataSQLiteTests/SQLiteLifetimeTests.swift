import Foundation
import StrataSQLite
import StrataTestSupport
import StrataTesting
import Testing

@Suite("SQLiteStore lifetime")
struct SQLiteLifetimeTests {
    /// The targets of this process's open file descriptors.
    static func openFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
    }

    @Test(
        "200 stores released without close() leave no file descriptor open",
        .enabled(if: FileManager.default.fileExists(atPath: "/proc/self/fd"), "needs /proc"), .timeLimit(.minutes(1)))
    func releasedStoresCloseTheirConnections() async throws {
        let directory = URL(fileURLWithPath: temporaryPath("released")).deletingLastPathComponent().path
        let before = Self.openFiles().count
        for index in 0..<200 {
            // Opening is synchronous: off the cooperative pool, which the tests beside this one share.
            let store = try await offPool { try SQLiteStore(path: "\(directory)/\(index).sqlite") }
            try await store.set("k", index)
            #expect(try await store.get("k", as: Int.self) == index)
        }
        // Connections close on their own threads once the store is gone: wait for them, for a
        // bounded time (a leak never ends).
        var ours: [String] = []
        let closed = try await eventually(poll: .milliseconds(20)) {
            ours = Self.openFiles().filter { $0.hasPrefix(directory) }
            return ours.isEmpty
        }
        #expect(closed, "\(ours.count) descriptors of the released stores' files are open: \(ours.prefix(5))")
        // Other tests run at the same time and open files of their own: a small slack.
        let after = Self.openFiles().count
        #expect(after <= before + 20, "\(before) descriptors open before, \(after) after")
    }
}
