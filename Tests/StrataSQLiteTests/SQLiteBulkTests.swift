import CSQLite
import Foundation
import StrataSQLite
import StrataTestSupport
import StrataTesting
import Testing

/// SQLiteStore's native bulk calls: one query per chunk of keys, one transaction per write.
@Suite("SQLiteStore bulk calls")
struct SQLiteBulkTests {
    @Test("entries(forKeys:), setEntries and removeEntries answer exactly as one call per key")
    func parity() async throws {
        let store = try SQLiteStore(path: temporaryPath("bulk-parity"))
        #expect(try await BulkParity.checkReads(store) == [])
        #expect(try await BulkParity.checkWrites(store) == [])
        try await store.close()
        await #expect(throws: StrataError.closed) { try await store.entries(forKeys: ["a"]) }
        await #expect(throws: StrataError.closed) { try await store.setEntries([:]) }
        await #expect(throws: StrataError.closed) { try await store.removeEntries(forKeys: ["a"]) }
    }

    @Test(
        "a batch of 1,300 keys (chunks of 512, on the connections' threads) reads, writes and removes every key",
        arguments: [1, 7, 100, 1_300])
    func chunks(count: Int) async throws {
        let store = try SQLiteStore(path: temporaryPath("bulk-chunks"))
        let keys = (0..<count).map { "key:\($0)" }
        var batch: [String: StoredEntry] = [:]
        for (index, key) in keys.enumerated() where index % 3 != 0 { batch[key] = StoredEntry(bytes: Array(key.utf8)) }
        try await store.setEntries(batch)
        #expect(try await store.entries(forKeys: keys.reversed()) == batch)
        #expect(try await store.removeEntries(forKeys: keys) == batch.count)
        #expect(try await store.entries(forKeys: keys) == [:])
        try await store.close()
    }

    @Test("a row that is not a valid entry fails the batch read with corruptEntry naming its key")
    func corruptRow() async throws {
        let path = temporaryPath("bulk-corrupt")
        let store = try SQLiteStore(path: path)
        try await store.setEntries(["fine": StoredEntry(bytes: [1])])
        try RawConnection(path).execute("INSERT INTO strata_cache VALUES ('number', 42, NULL)")
        let error = await #expect(throws: StrataError.corruptEntry) { try await store.entries(forKeys: ["fine", "number"]) }
        #expect(error?.key == "number")
        try await store.close()
    }

    @Test("a write refused part-way rolls the whole batch back: the error names the key, writtenKeys is empty")
    func allOrNothing() async throws {
        let path = temporaryPath("bulk-refused")
        let store = try SQLiteStore(path: path)
        try await store.setEntries(["a": StoredEntry(bytes: [0]), "c": StoredEntry(bytes: [0])])
        // Another program's rule on the table refuses key "c" (inserted or updated) and its removal.
        let raw = try RawConnection(path)
        for (event, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
            try raw.execute(
                "CREATE TRIGGER refuse_\(event) BEFORE \(event) ON strata_cache WHEN \(row).key = 'c' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        }
        let batch = [
            "a": StoredEntry(bytes: [1]), "b": StoredEntry(bytes: [1]), "c": StoredEntry(bytes: [1]), "d": StoredEntry(bytes: [1]),
        ]
        let error = await #expect(throws: StrataError(code: .backendUnavailable, message: "")) { try await store.setEntries(batch) }
        #expect(error?.key == "c")
        #expect(error?.writtenKeys == [])
        #expect((error?.underlying as? SQLiteFailure)?.primaryCode == SQLITE_CONSTRAINT)
        #expect(try await store.entries(forKeys: ["a", "b", "c", "d"]) == ["a": StoredEntry(bytes: [0]), "c": StoredEntry(bytes: [0])])
        let removal = await #expect(throws: StrataError(code: .backendUnavailable, message: "")) {
            try await store.removeEntries(forKeys: ["a", "c"])
        }
        #expect(removal?.key == "c")
        #expect(try await store.entries(forKeys: ["a", "c"]).count == 2, "the removal of a was rolled back")
        try await store.close()
    }

    @Test(
        "a full disk (SQLITE_FULL) in a batch: storageFull, writtenKeys empty, the old values intact",
        .enabled(if: getuid() == 0, "needs root to mount a 512 KiB tmpfs"))
    func diskFull() async throws {
        let directory = temporaryPath("bulk-tmpfs")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await ChildProcess.run("/bin/sh", ["-c", "mount -t tmpfs -o size=512k tmpfs '\(directory)'"])
        let store = try SQLiteStore(path: directory + "/cache.sqlite")
        try await store.setEntries(["k:00": StoredEntry(bytes: [0])])
        var batch: [String: StoredEntry] = [:]
        for index in 0..<64 {
            batch["k:\(index < 10 ? "0" : "")\(index)"] = StoredEntry(bytes: Array(repeating: UInt8(index), count: 32 << 10))
        }
        let error = await #expect(throws: StrataError(code: .storageFull, message: "")) { try await store.setEntries(batch) }
        #expect(error?.writtenKeys == [])
        #expect((error?.underlying as? SQLiteFailure)?.primaryCode == SQLITE_FULL)
        #expect(try await store.entries(forKeys: Array(batch.keys)) == ["k:00": StoredEntry(bytes: [0])])
        try await store.close()
        try await ChildProcess.run("/bin/sh", ["-c", "umount -l '\(directory)'"])
    }

    @Test("a bulk write or removal in one process's store breaks the leases another store of the file holds")
    func leasesBroken() async throws {
        let path = temporaryPath("bulk-leases")
        let holder = try SQLiteStore(path: path)
        let other = try SQLiteStore(path: path)
        let leases = (0..<3).map { _ in EntryLease.random() }
        for (index, key) in ["a", "b", "c"].enumerated() {
            try await holder.setEntry(StoredEntry(bytes: [0]), forKey: key)
            _ = try await holder.leaseEntry(forKey: key, lease: leases[index], duration: .seconds(60))
        }
        try await other.setEntries(["a": StoredEntry(bytes: [1])])
        #expect(try await other.removeEntries(forKeys: ["b", "missing"]) == 1)
        #expect(!(try await holder.setEntry(StoredEntry(bytes: [9]), forKey: "a", ifLeased: leases[0], keepingLease: false)))
        #expect(!(try await holder.setEntry(StoredEntry(bytes: [9]), forKey: "b", ifLeased: leases[1], keepingLease: false)))
        #expect(try await holder.setEntry(StoredEntry(bytes: [9]), forKey: "c", ifLeased: leases[2], keepingLease: false))
        try await holder.close()
        try await other.close()
    }
}
