import Foundation
import StrataTestSupport
import StrataTesting
import Testing

@testable import Strata

/// The plain read of a store of one tier that keeps no decoded values (a folder, SQLite,
/// Redis, a decorator of one): the entry and the checks of the general read path, in its
/// order; here through decorators, which reach the branches no store of the package does.
@Suite("Plain reads on a store of one tier")
struct OneTierReadTests {
    /// Tenant 7's keys of a shared folder: typed calls under `tenant:7:`.
    final class TenantView: ForwardingStore, @unchecked Sendable {  // immutable after init
        override var pipeline: Pipeline { base.pipeline.prefixed("tenant:7:") }
    }

    @Test("typed reads of bytes, text and a Codable value read under the prefix, check lifetimes and tags, and name the caller's key")
    func typedReads() async throws {
        let clock = ManualClock()
        let folder = try FolderStore(configuration: .init(directory: temporaryDirectory("prefixed-pipeline"), clock: clock))
        let view = TenantView(base: folder)
        try await folder.set("tenant:7:text", "seven")
        try await folder.set("k", "not tenant 7's")
        try await folder.set("tenant:7:count", 42)
        try await folder.set("tenant:7:short", "brief", options: EntryOptions(expires: "1min"))
        try await folder.set("tenant:7:tagged", "catalog", options: EntryOptions(expires: "1h", tags: ["catalog"]))

        #expect(try await view.get("text", as: String.self) == "seven")
        #expect(try await view.get("text", as: [UInt8].self) == Array("seven".utf8))
        #expect(try await view.get("count", as: Int.self) == 42)
        #expect(try await view.get("k", as: String.self) == nil, "the base's own key is not under the prefix")
        #expect(try await view.get("short", as: String.self) == "brief")
        #expect(try await view.get("tagged", as: String.self) == "catalog")

        let error = await #expect(throws: StrataError.self) { try await view.get("text", as: Int.self) }
        #expect(error?.code == .decodingFailed)
        #expect(error?.key == "text", "the caller's key, without the view's prefix")

        clock.advance(by: .seconds(61))
        #expect(try await view.get("short", as: String.self) == nil, "past its lifetime")
        try await folder.invalidate(tags: ["catalog"])
        #expect(try await view.get("tagged", as: String.self) == nil, "its tag was invalidated after it was written")
        #expect(try await view.get("text", as: String.self) == "seven")
    }

    /// A decorator whose tag records cannot be read (its server refuses the call).
    final class RecordsRefused: ForwardingStore, @unchecked Sendable {  // immutable after init
        override func records(named names: [String]) async throws -> [Int64] {
            throw StrataError(code: .backendUnavailable, message: "records refused", key: names.first, backend: backendName)
        }
    }

    @Test(
        "a tagged entry whose tag records cannot be read fails the read, single or bulk, past its lifetime too (tags are checked first, as on the general path)"
    )
    func tagRecordsRefused() async throws {
        let clock = ManualClock()
        let folder = try FolderStore(configuration: .init(directory: temporaryDirectory("one-tier-tags"), clock: clock))
        let view = RecordsRefused(base: folder, forwardsPipeline: false)
        try await folder.set("plain", "no tags")
        try await folder.set("tagged", "catalog", options: EntryOptions(expires: "1min", grace: "1h", tags: ["catalog"]))

        #expect(try await view.get("plain", as: String.self) == "no tags", "no tags, no records read")
        let fresh = await #expect(throws: StrataError.self) { try await view.get("tagged", as: String.self) }
        #expect(fresh?.code == .backendUnavailable, "never served unchecked, never a silent miss")
        #expect(try await view.get(["plain"], as: String.self) == ["plain": "no tags"])
        let freshBatch = await #expect(throws: StrataError.self) { try await view.get(["plain", "tagged"], as: String.self) }
        #expect(freshBatch?.code == .backendUnavailable, "a bulk read fails as the single read does")
        clock.advance(by: .seconds(61))  // past its lifetime, within its grace: still stored
        let stale = await #expect(throws: StrataError.self) { try await view.get("tagged", as: String.self) }
        #expect(stale?.code == .backendUnavailable)
        let staleBatch = await #expect(throws: StrataError.self) { try await view.get(["plain", "tagged"], as: String.self) }
        #expect(staleBatch?.code == .backendUnavailable, "tags first in a batch too, past its lifetime")
    }
}
