import Foundation
import StrataTestSupport
import StrataTesting
import Testing

@testable import Strata

/// Leases and records of a folder: files of the store's own, kept and checked under the
/// directory's lock, so that they hold across the processes that share the directory.
@Suite("FolderStore leases and records")
struct FolderStoreLeaseTests {
    static func entry(_ text: String) -> StoredEntry {
        StoredEntry(bytes: Array(text.utf8), expiresAt: nil)
    }

    /// Runs the fixture with `arguments` and waits for it to succeed.
    static func inAnotherProcess(_ arguments: [String]) async throws {
        try await ChildProcess.run(builtExecutable("strata-fixture"), arguments)
    }

    @Test(
        "a second OS process's set, delete (of a missing key too) or increment breaks this process's lease; with nothing in between the leased write lands",
        .timeLimit(.minutes(2)), arguments: ["set", "delete", "delete of a missing key", "increment"])
    func anotherProcessBreaksTheLease(change: String) async throws {
        let directory = temporaryDirectory("lease-processes")
        let folder = try FolderStore(directory: directory)
        if change != "delete of a missing key" { try await folder.set("k", 5) }

        let lease = EntryLease.random()
        _ = try await folder.leaseEntry(forKey: "k", lease: lease, duration: .seconds(60))
        switch change {
        case "set": try await Self.inAnotherProcess(["set", directory, "k", "7"])
        case "increment": try await Self.inAnotherProcess(["increment", directory, "k", "1"])
        default: try await Self.inAnotherProcess(["delete", directory, "k", "0"])
        }
        let wrote = try await folder.setEntry(Self.entry("stale"), forKey: "k", ifLeased: lease, keepingLease: false)
        #expect(!wrote, "the leased write after another process's \(change) is refused")
        let expected: Int? = ["set": 7, "increment": 6][change]
        #expect(try await folder.get("k", as: Int.self) == expected, "the other process's \(change) stands")

        let unbroken = EntryLease.random()
        _ = try await folder.leaseEntry(forKey: "k", lease: unbroken, duration: .seconds(60))
        #expect(
            try await folder.setEntry(Self.entry("8"), forKey: "k", ifLeased: unbroken, keepingLease: false),
            "with nothing in between, the leased write lands")
        #expect(try await folder.get("k", as: Int.self) == 8)
    }

    @Test("a lease belongs to the directory: a lease taken through another open of it replaces one taken through this one")
    func leaseOfTheDirectory() async throws {
        let directory = temporaryDirectory("lease-seen")
        let mine = try FolderStore(directory: directory)
        let other = try FolderStore(directory: directory)  // another open of the directory: its own lock descriptor
        let first = EntryLease.random(), second = EntryLease.random()
        _ = try await other.leaseEntry(forKey: "k", lease: first, duration: .seconds(60))
        _ = try await mine.leaseEntry(forKey: "k", lease: second, duration: .seconds(60))
        #expect(!(try await other.setEntry(Self.entry("first"), forKey: "k", ifLeased: first, keepingLease: false)))
        #expect(
            try await other.setEntry(Self.entry("second"), forKey: "k", ifLeased: second, keepingLease: false),
            "the lease is the directory's, whichever open of it wrote it")
    }

    @Test(
        "leases and records are files of the store's own: .leases/<SHA-256 of the key>, .records/<SHA-256 of the name>, 0600 in 0700 directories"
    )
    func layout() async throws {
        let directory = temporaryDirectory("lease-layout")
        let folder = try FolderStore(directory: directory)
        _ = try await folder.leaseEntry(forKey: "../k", lease: .random(), duration: .seconds(60))
        try await folder.raiseRecord(named: "tag:team/3", to: 42)
        let leaseName = SHA256.hex(Array("../k".utf8)), recordName = SHA256.hex(Array("tag:team/3".utf8))
        let files = FileManager.default
        #expect(try files.contentsOfDirectory(atPath: directory + "/.leases") == [leaseName])
        #expect(try files.contentsOfDirectory(atPath: directory + "/.records") == [recordName])
        #expect(String(decoding: files.contents(atPath: directory + "/.records/" + recordName) ?? Data(), as: UTF8.self) == "42")
        for (path, mode) in [(".leases", 0o700), (".records", 0o700), (".leases/" + leaseName, 0o600), (".records/" + recordName, 0o600)] {
            let actual = (try files.attributesOfItem(atPath: directory + "/" + path)[.posixPermissions] as! NSNumber).intValue
            #expect(actual == mode, "\(path)")
        }
        #expect(try await folder.keys().isEmpty, "neither is a key")
    }

    @Test(
        "clear(prefix:) breaks the leases of the keys it covers, present or not, and no other; a sweep removes ended leases; records outlive both"
    )
    func clearAndSweep() async throws {
        let directory = temporaryDirectory("lease-clear")
        let clock = ManualClock()
        let folder = try FolderStore(configuration: .init(directory: directory, clock: clock))
        let covered = EntryLease.random(), other = EntryLease.random(), short = EntryLease.random()
        try await folder.set("ab", "v")
        _ = try await folder.leaseEntry(forKey: "ab", lease: covered, duration: .seconds(60))
        _ = try await folder.leaseEntry(forKey: "b", lease: other, duration: .seconds(60))
        try await folder.raiseRecord(named: "envelopes", to: 1)
        #expect(try await folder.clear(prefix: "a") == 1)
        #expect(!(try await folder.setEntry(Self.entry("stale"), forKey: "ab", ifLeased: covered, keepingLease: false)))
        #expect(
            try await folder.setEntry(Self.entry("kept"), forKey: "b", ifLeased: other, keepingLease: true),
            "a lease outside the prefix holds")

        _ = try await folder.leaseEntry(forKey: "c", lease: short, duration: .seconds(1))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/.leases").count == 2)
        clock.advance(by: .seconds(2))
        #expect(try await folder.sweepExpired() == 0, "a lease is not an entry")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory + "/.leases") == [SHA256.hex(Array("b".utf8))],
            "the ended lease is gone, the live one stays")
        #expect(try await folder.clear() == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/.leases").isEmpty, "clear() breaks every lease")
        #expect(try await folder.records(named: ["envelopes"]) == [1])
    }

    @Test("a record raised in another OS process is read here, and a lower value raised here does not replace it", .timeLimit(.minutes(2)))
    func recordsAcrossProcesses() async throws {
        let directory = temporaryDirectory("records-processes")
        let folder = try FolderStore(directory: directory)
        try await Self.inAnotherProcess(["raise-record", directory, "tag:t", "1700000000000"])
        #expect(try await folder.records(named: ["tag:t", "tag:never"]) == [1_700_000_000_000, 0])
        try await folder.raiseRecord(named: "tag:t", to: 5)
        #expect(try await folder.records(named: ["tag:t"]) == [1_700_000_000_000])
    }

    @Test("a tag record an earlier release wrote under its reserved key is still read, and raised from")
    func earlierRecords() async throws {
        let folder = try FolderStore(directory: temporaryDirectory("records-earlier"))
        try await folder.setEntry(Self.entry("1234"), forKey: ReservedRecords.key(for: "tag:old"))
        #expect(try await folder.records(named: ["tag:old"]) == [1_234])
        try await folder.raiseRecord(named: "tag:old", to: 1_000)
        try await folder.clear()
        #expect(try await folder.records(named: ["tag:old"]) == [1_234], "kept apart from the keys once raised")
    }

    @Test("a record that is not a number is corruptEntry naming it")
    func corruptRecord() async throws {
        let directory = temporaryDirectory("records-corrupt")
        let folder = try FolderStore(directory: directory)
        try await folder.raiseRecord(named: "tag:x", to: 1)
        let path = directory + "/.records/" + SHA256.hex(Array("tag:x".utf8))
        try Data("twelve".utf8).write(to: URL(fileURLWithPath: path))
        let error = await #expect(throws: StrataError.corruptEntry) { try await folder.records(named: ["tag:x"]) }
        #expect(error?.description.contains("tag:x") == true)
    }
}
