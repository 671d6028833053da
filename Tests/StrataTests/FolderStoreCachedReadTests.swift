import Foundation
import StrataTestSupport
import StrataTesting
import Testing

@testable import Strata

#if os(Linux)
/// A read whose path and bytes are in the kernel's caches is served on the calling thread;
/// everything else still goes to the store's threads, with the same answers.
/// Whether the tests' folders are on a local disk file system, where the calling thread
/// serves cached reads and a file's pages can be dropped from the page cache (tmpfs has
/// nothing to drop them to). CI's and this machine's are ext4.
private let testFoldersOnLocalDisk: Bool = {
    let fd = open(FileManager.default.temporaryDirectory.path, O_RDONLY | O_DIRECTORY)
    defer { close(fd) }
    let type = CachedReadSupport.fileSystemType(of: fd)
    return CachedReadSupport.localFileSystems.contains(type) && type != 0x0102_1994
}()

@Suite("FolderStore reads that cannot wait", .enabled(if: testFoldersOnLocalDisk))
struct FolderStoreCachedReadTests {

    @Test("a cached file, a long key's file in its directories, and a missing key are read without a hand-off to the threads")
    func cachedReadsStayOnTheCallingThread() async throws {
        let folder = try FolderStore(directory: temporaryDirectory("cached-reads"))
        #expect(folder.cachedReads.isSupported)
        let longKey = String(repeating: "k", count: 1_024)
        try await folder.set("user:1", "Ada")
        try await folder.set(longKey, "long")
        // The first look-up of a missing name reads the directory; later ones hit the
        // kernel's cached "no such file".
        #expect(try await folder.get("absent", as: String.self) == nil)
        let before = folder.threads.handOffs
        for _ in 0..<20 {
            #expect(try await folder.get("user:1", as: String.self) == "Ada")
            #expect(try await folder.get(longKey, as: String.self) == "long")
            #expect(try await folder.get("absent", as: String.self) == nil)
        }
        #expect(folder.threads.handOffs == before)
    }

    @Test("a file whose bytes left the page cache is read by the store's threads, with the same value")
    func uncachedBytesGoToTheThreads() async throws {
        let directory = temporaryDirectory("uncached-reads")
        let folder = try FolderStore(directory: directory)
        try await folder.set("user:1", "Ada")
        // Written back to disk, then dropped from the page cache. The kernel may keep a page
        // (CI's machine did, under load): each try checks with mincore that the bytes left the
        // cache before it reads. The page may come back between that check and the read (it
        // did once on a loaded machine), and the store then rightly reads it inline: so of
        // the tries whose bytes had left, at least one must go to the threads.
        let path = directory + "/" + FolderLayout(key: "user:1").file
        var evicted = 0
        var handedOff = 0
        for _ in 0..<5 {
            let fd = open(path, O_RDONLY)
            try #require(fd >= 0)
            #expect(fsync(fd) == 0)
            #expect(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0)
            let resident = Self.isResident(fd)
            close(fd)
            let before = folder.threads.handOffs
            #expect(try await folder.get("user:1", as: String.self) == "Ada")
            guard !resident else { continue }
            evicted += 1
            if folder.threads.handOffs == before + 1 { handedOff += 1 }
        }
        #expect(evicted == 0 || handedOff > 0, "of \(evicted) reads of bytes that left the page cache, none went to the store's threads")
        if evicted == 0 { print("FolderStoreCachedReadTests: the kernel kept the page in all five tries; nothing to check") }
    }

    /// Whether the first page of the file open at `fd` is in the page cache (mincore).
    private static func isResident(_ fd: Int32) -> Bool {
        let length = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let mapped = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), mapped != MAP_FAILED else { return true }
        defer { munmap(mapped, length) }
        var vector: [UInt8] = [0]
        guard mincore(mapped, length, &vector) == 0 else { return true }
        return vector[0] & 1 == 1
    }

    @Test("an expired entry, a corrupt file and a symbolic link read as they do on the threads")
    func sameAnswersAsTheThreads() async throws {
        let directory = temporaryDirectory("cached-answers")
        let clock = ManualClock()
        let folder = try FolderStore(configuration: .init(directory: directory, clock: clock))
        try await folder.set("short", "lived", expires: "10s")
        clock.advance(by: .seconds(11))
        #expect(try await folder.get("short", as: String.self) == nil)
        #expect(folder.cachedReads.isSupported)

        try Data("not an entry".utf8).write(to: URL(fileURLWithPath: directory + "/" + FolderLayout(key: "corrupt").file))
        _ = try? await folder.get("corrupt", as: String.self)  // warms the look-up
        let beforeCorrupt = folder.threads.handOffs
        do {
            _ = try await folder.get("corrupt", as: String.self)
            Issue.record("a corrupt file was read as an entry")
        } catch let error as StrataError {
            #expect(error.code == .corruptEntry)
            #expect(error.key == "corrupt")
        }
        #expect(folder.threads.handOffs == beforeCorrupt)  // found corrupt on the calling thread

        try FileManager.default.createSymbolicLink(
            atPath: directory + "/" + FolderLayout(key: "link").file, withDestinationPath: "/etc/hostname")
        let beforeLink = folder.threads.handOffs
        do {
            _ = try await folder.get("link", as: String.self)
            Issue.record("a symbolic link in a key's slot was read")
        } catch let error as StrataError {
            #expect(error.code == .corruptEntry)
        }
        #expect(folder.threads.handOffs == beforeLink + 1)  // the threads say what it is
    }

    @Test("a closed store refuses a read it could serve from the caches")
    func closedStoreRefusesCachedReads() async throws {
        let folder = try FolderStore(directory: temporaryDirectory("cached-closed"))
        try await folder.set("user:1", "Ada")
        #expect(try await folder.get("user:1", as: String.self) == "Ada")
        await folder.close()
        do {
            _ = try await folder.get("user:1", as: String.self)
            Issue.record("a closed store served a read")
        } catch let error as StrataError {
            #expect(error.code == .closed)
        }
    }
}
#endif
