import Foundation
import StrataTesting
import Testing

@testable import StrataSQLite

/// Real damaged files: random bytes where a database should be (SQLite: `SQLITE_NOTADB`),
/// and a valid database with garbage over a page in the middle (`SQLITE_CORRUPT`).
@Suite("SQLiteStore damaged files")
struct SQLiteDamageTests {
    static let damaged = StrataError(code: .damagedDatabase, message: "")

    /// A file of 64 KiB of random bytes.
    static func randomFile(_ label: String) throws -> String {
        let path = temporaryPath(label)
        var generator = SystemRandomNumberGenerator()
        try Data((0..<65_536).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A store's file with 2,000 rows of 500 bytes (some 250 pages), everything checkpointed
    /// into the database file and the write-ahead log emptied.
    static func filledDatabase(_ label: String) async throws -> (path: String, store: SQLiteStore) {
        let path = temporaryPath(label)
        let store = try SQLiteStore(path: path)
        for index in 0..<2_000 {
            try await store.set("row:\(index)", [UInt8](repeating: UInt8(index % 251), count: 500))
            // A write runs inline when it can, so this loop would otherwise keep its thread
            // for its whole length, from other tests that need the cooperative pool.
            if index % 50 == 0 { await Task.yield() }
        }
        try RawConnection(path).execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return (path, store)
    }

    /// Writes garbage over the page in the middle of the database file.
    static func damageMiddlePage(_ path: String) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        let size = try handle.seekToEnd()
        let pages = size / 4096
        #expect(pages > 100, "the file has \(pages) pages")
        try handle.seek(toOffset: (pages / 2) * 4096)
        try handle.write(contentsOf: Data(repeating: 0x5A, count: 4096))
        try handle.close()
    }

    @Test("random bytes: opening throws damagedDatabase naming the path, not backendUnavailable")
    func randomBytesAtOpen() async throws {
        let path = try Self.randomFile("notadb")
        let error = #expect(throws: Self.damaged) { try SQLiteStore(path: path) }
        #expect(error?.description.contains(path) == true, "\(String(describing: error))")
        #expect(error?.description.contains("damaged") == true, "\(String(describing: error))")
    }

    @Test("garbage over a middle page, found at open: the calls that read it throw damagedDatabase naming the path")
    func corruptPageAtOpen() async throws {
        let (path, store) = try await Self.filledDatabase("corrupt-open")
        try await store.close()
        try Self.damageMiddlePage(path)
        let reopened = try SQLiteStore(path: path)
        let error = await #expect(throws: Self.damaged) { _ = try await reopened.storedEntries(prefix: "row:") }
        #expect(error?.description.contains(path) == true, "\(String(describing: error))")
        try await reopened.close()
    }

    @Test("garbage over a middle page of a store opened before the damage: its calls throw damagedDatabase")
    func corruptPageWhileOpen() async throws {
        let (path, store) = try await Self.filledDatabase("corrupt-live")
        try Self.damageMiddlePage(path)
        let error = await #expect(throws: Self.damaged) { _ = try await store.storedEntries(prefix: "row:") }
        #expect(error?.description.contains(path) == true, "\(String(describing: error))")
        await #expect(throws: Self.damaged) { _ = try await store.clear() }
        try await store.close()
    }

    @Test("recoversFromDamage: random bytes are moved aside, named so, and a fresh database opens")
    func recoverRandomBytes() async throws {
        let path = try Self.randomFile("recover-notadb")
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let store = try SQLiteStore(configuration: .init(path: path, recoversFromDamage: true))
        let aside = try #require(store.damagedFileMovedAside)
        #expect(aside.hasPrefix(path + ".damaged-"), "\(aside)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: aside)) == original)
        try await store.set("k", "fresh")
        #expect(try await store.get("k", as: String.self) == "fresh")
        try await store.close()
        // A healthy file is left where it is.
        let again = try SQLiteStore(configuration: .init(path: path, recoversFromDamage: true))
        #expect(again.damagedFileMovedAside == nil)
        #expect(try await again.get("k", as: String.self) == "fresh")
        try await again.close()
    }

    @Test("recoversFromDamage: a middle page of garbage is found at open (quick_check) and the file moved aside")
    func recoverCorruptPage() async throws {
        let (path, store) = try await Self.filledDatabase("recover-corrupt")
        try await store.close()
        try Self.damageMiddlePage(path)
        let recovered = try SQLiteStore(configuration: .init(path: path, recoversFromDamage: true))
        #expect(recovered.damagedFileMovedAside != nil)
        #expect(try await recovered.keys() == [])
        try await recovered.set("k", 1)
        try await recovered.close()
    }

    @Test("recoversFromDamage never moves aside a file another connection has open: it throws damagedDatabase")
    func noRecoveryWhileInUse() async throws {
        let (path, store) = try await Self.filledDatabase("recover-in-use")
        try Self.damageMiddlePage(path)
        let error = #expect(throws: Self.damaged) { try SQLiteStore(configuration: .init(path: path, recoversFromDamage: true)) }
        #expect(error?.description.contains("another connection") == true, "\(String(describing: error))")
        let siblings = try FileManager.default.contentsOfDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        #expect(!siblings.contains { $0.contains("damaged") }, "\(siblings)")
        try await store.close()
        // Once it is closed, the next opening recovers.
        let recovered = try SQLiteStore(configuration: .init(path: path, recoversFromDamage: true))
        #expect(recovered.damagedFileMovedAside != nil)
        try await recovered.close()
    }

    @Test("moving aside takes the -wal and -shm along, under a free name")
    func movingAside() throws {
        let path = try Self.randomFile("aside")
        for suffix in ["-wal", "-shm"] { try Data(suffix.utf8).write(to: URL(fileURLWithPath: path + suffix)) }
        let first = try DamagedFile.moveAside(path, damage: Self.damaged, backend: "test")
        for suffix in ["-wal", "-shm"] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: first + suffix)) == Data(suffix.utf8))
            #expect(!FileManager.default.fileExists(atPath: path + suffix))
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(first.hasPrefix(path + ".damaged-"))
        // A name taken (two recoveries in one millisecond): the next one gets a number.
        #expect(DamagedFile.asideName(for: path, stamp: "T") == path + ".damaged-T")
        try Data().write(to: URL(fileURLWithPath: path + ".damaged-T-wal"))
        #expect(DamagedFile.asideName(for: path, stamp: "T") == path + ".damaged-T-2")
        #expect(DamagedFile.utcStamp().count == "20250314T092653.123Z".count)
    }
}
