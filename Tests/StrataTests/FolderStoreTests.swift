import Foundation
import StrataTestSupport
import StrataTesting
import Testing

@Suite("FolderStore")
struct FolderStoreTests {
    /// Every file and directory below `path`, relative to it.
    func tree(_ path: String) throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: path).sorted()
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
    }

    @Test("no key names a file outside the directory; names are hex, files 0600, directories 0700")
    func containment() async throws {
        let parent = temporaryDirectory("containment")
        let directory = parent + "/store"
        let folder = try FolderStore(directory: directory)
        for key in KeyValueStoreConformanceKeys.hostile { try await folder.set(key, "v") }
        #expect(try tree(parent).allSatisfy { $0.hasPrefix("store") }, "nothing outside the store's directory")
        for path in try tree(directory) {
            let name = URL(fileURLWithPath: path).lastPathComponent
            let isHex = name.dropLast(name.hasSuffix(".e") ? 2 : 0).allSatisfy { "0123456789abcdef".contains($0) }
            #expect(isHex || [".lock", ".tmp", ".leases", ".records"].contains(name), "\(path)")
            #expect(name.utf8.count <= 255)
            let expected = path.hasSuffix(".e") || name == ".lock" ? 0o600 : 0o700
            #expect(try mode(directory + "/" + path) == expected, "\(path)")
        }
        #expect(try mode(directory) == 0o700)
        #expect(try tree(directory).contains { !$0.hasSuffix(".e") && $0 != ".lock" }, "a long key nests directories")
    }

    @Test("lifetimes are wall-clock instants in the file, so they survive a restart")
    func restart() async throws {
        let directory = temporaryDirectory("restart")
        let clock = ManualClock()
        do {
            let folder = try FolderStore(configuration: .init(directory: directory, clock: clock))
            try await folder.set("short", "v", expires: "1min")
            try await folder.set("long", "v", expires: "1h")
            await folder.close()
        }
        clock.advance(by: .seconds(120))
        let reopened = try FolderStore(configuration: .init(directory: directory, clock: clock))
        #expect(try await reopened.get("short", as: String.self) == nil)
        #expect(try await reopened.get("long", as: String.self) == "v")
        let remaining = clock.now().milliseconds(until: try #require(try await reopened.entry(forKey: "long")?.expiresAt))
        #expect(remaining == 3_480_000)
    }

    @Test(
        "a file that is not a valid entry throws corruptEntry naming the key, never crashes",
        arguments: ["truncated", "garbage", "empty", "foreign key", "flipped byte", "huge length"])
    func corruption(kind: String) async throws {
        let directory = temporaryDirectory("corrupt")
        let folder = try FolderStore(directory: directory)
        try await folder.set("victim", "a value that is long enough")
        try await folder.set("other", "another value")
        let victim = directory + "/" + hex("victim") + ".e"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: victim)))
        switch kind {
        case "truncated": bytes.removeLast(5)
        case "garbage": bytes = Array("<html>not an entry</html>".utf8)
        case "empty": bytes = []
        case "foreign key": bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/" + hex("other") + ".e")))
        case "flipped byte": bytes[bytes.count - 3] ^= 0x20
        default: bytes.replaceSubrange(20..<28, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        }
        try Data(bytes).write(to: URL(fileURLWithPath: victim))
        let error = await #expect(throws: StrataError.corruptEntry) {
            try await folder.get("victim", as: String.self)
        }
        #expect(error?.key == "victim")
        #expect(error?.description.contains("FolderStore(\(directory))") == true)
        await #expect(throws: StrataError.corruptEntry) { try await folder.increment("victim") }
        #expect(try await folder.get("other", as: String.self) == "another value")
        #expect(try await folder.keys().contains("victim"), "listed, so the corruption can be found")
        let listing = await #expect(throws: StrataError.corruptEntry) { try await folder.entries(as: String.self) }
        #expect(listing?.key == "victim", "a batch read names the corrupt entry's key")
        #expect(try await folder.delete("victim"))
        #expect(try await folder.get("victim", as: String.self) == nil)
    }

    @Test("an unusable directory throws backendUnavailable naming it")
    func unusableDirectory() throws {
        let file = temporaryDirectory("file")
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let error = #expect(throws: StrataError(code: .backendUnavailable, message: "")) {
            try FolderStore(directory: file)
        }
        #expect(error?.description.contains(file) == true)
        #expect(throws: StrataError(code: .backendUnavailable, message: "")) {
            try FolderStore(directory: file + "/below")
        }
        if getuid() != 0 {  // root may write anywhere
            let readOnly = temporaryDirectory("readonly")
            try FileManager.default.createDirectory(atPath: readOnly, withIntermediateDirectories: true)
            chmod(readOnly, 0o500)
            #expect(throws: StrataError(code: .backendUnavailable, message: "")) { try FolderStore(directory: readOnly) }
        }
    }

    @Test("a sweep removes expired files, abandoned temporary files and empty directories")
    func sweep() async throws {
        let directory = temporaryDirectory("sweep")
        let clock = ManualClock()
        let folder = try FolderStore(configuration: .init(directory: directory, clock: clock, abandonedFileAge: .seconds(60)))
        let longKey = String(repeating: "x", count: 300)
        try await folder.set(longKey, "v", expires: "1s")
        try await folder.set("kept", "v")
        let abandoned = directory + "/.t-deadbeef"
        _ = FileManager.default.createFile(atPath: abandoned, contents: Data("half a val".utf8))
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -3_600)], ofItemAtPath: abandoned)
        clock.advance(by: .seconds(2))
        #expect(try await folder.sweepExpired() == 1)
        #expect(try tree(directory) == [".leases", ".lock", ".records", ".tmp", hex("kept") + ".e"])
    }

    @Test("increment is atomic across two OS processes sharing the directory", .timeLimit(.minutes(2)))
    func twoProcessIncrements() async throws {
        let directory = temporaryDirectory("processes")
        let folder = try FolderStore(directory: directory)
        let fixture = builtExecutable("strata-fixture")
        let other = try ChildProcess(fixture, ["increment", directory, "shared", "400"])
        for _ in 0..<400 { try await folder.increment("shared") }
        #expect(try await other.exited() == 0)
        #expect(try await folder.get("shared", as: Int.self) == 800)
    }

    @Test("a writer killed mid-write never leaves a torn value for readers", .timeLimit(.minutes(2)))
    func killedWriter() async throws {
        let directory = temporaryDirectory("killed")
        let folder = try FolderStore(directory: directory)
        let size = 256 * 1024
        let writer = try ChildProcess(builtExecutable("strata-fixture"), ["write-forever", directory, "big", String(size)], output: .piped)
        // Wait for "ready" without holding a cooperative thread in a blocking read.
        _ = await writer.readAvailable()
        var reads = 0
        let deadline = Date().addingTimeInterval(1.0)
        while Date() < deadline {
            await Task.yield()  // the reads do not suspend: let other tests run
            if let value = try await folder.get("big", as: [UInt8].self) {
                #expect(value.count == size && value.allSatisfy { $0 == value[0] }, "a whole value")
                reads += 1
            }
        }
        writer.send(SIGKILL)
        try await writer.exited()
        let last = try #require(try await folder.get("big", as: [UInt8].self))
        #expect(last.count == size && last.allSatisfy { $0 == last[0] })
        #expect(reads > 0)
        #expect(try await folder.keys() == ["big"], "a temporary file is not a key")
    }

    func hex(_ key: String) -> String {
        key.utf8.map { String(format: "%02x", $0) }.joined()
    }
}

/// The suite's hostile keys, for backend tests that inspect what they produce.
enum KeyValueStoreConformanceKeys {
    static let hostile = [
        "../x", "../../etc/passwd", "/", "/abs", "a/b", "..", ".", ".lock", "a\0b", "line\nbreak",
        "*", "A", "a", "é", "e\u{301}", String(repeating: "k", count: 1024),
    ]
}

/// Failures of the file system reach the caller with a code that says what cures them,
/// and no call reports work done that was not done.
@Suite("FolderStore refusals")
struct FolderStoreRefusalTests {
    @Test(
        "a full file system: set throws storageFull, leaves the old entry, and no temporary file",
        .enabled(if: SmallFileSystem.available, "needs root to mount a 256 KiB tmpfs"))
    func diskFull() async throws {
        let mount = try await SmallFileSystem(kilobytes: 256)
        let folder = try FolderStore(directory: mount.path + "/cache")
        try await folder.set("k", "old")
        let error = await #expect(throws: StrataError(code: .storageFull, message: "")) {
            try await folder.set("k", [UInt8](repeating: 1, count: 512 << 10))
        }
        #expect(error?.key == "k")
        #expect(try await folder.get("k", as: String.self) == "old")
        #expect(try FileManager.default.contentsOfDirectory(atPath: mount.path + "/cache/.tmp").isEmpty, "no temporary file left")
        try await mount.unmount()
    }

    @Test(
        "a file that cannot be removed: clear, sweep and delete throw instead of reporting success",
        .enabled(if: SmallFileSystem.available, "needs root for chattr +i"))
    func undeletableFile() async throws {
        let directory = temporaryDirectory("immutable")
        let clock = ManualClock()
        let folder = try FolderStore(configuration: .init(directory: directory, clock: clock))
        try await folder.set("stuck", "v", expires: "1s")
        let file = try #require(try FileManager.default.subpathsOfDirectory(atPath: directory).first { $0.hasSuffix(".e") })
        try await ChildProcess.run("/usr/bin/chattr", ["+i", directory + "/" + file])
        // Before: clear reported 0 removed and success while the entry stayed.
        await #expect(throws: StrataError(code: .accessDenied, message: "")) { try await folder.clear(prefix: "st") }
        await #expect(throws: StrataError(code: .accessDenied, message: "")) { try await folder.delete("stuck") }
        clock.advance(by: .seconds(2))
        await #expect(throws: StrataError(code: .accessDenied, message: "")) { try await folder.sweepExpired() }
        try await ChildProcess.run("/usr/bin/chattr", ["-i", directory + "/" + file])
        #expect(try await folder.sweepExpired() == 1)
    }
}

/// A tmpfs of a fixed size, to fill a disk for real.
struct SmallFileSystem {
    let path: String

    /// Whether this process may mount (and so also `chattr`): root.
    static var available: Bool { getuid() == 0 }

    init(kilobytes: Int) async throws {
        path = temporaryDirectory("tmpfs")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try await ChildProcess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", path])
    }

    /// Lazily: the store may still hold its directory open.
    func unmount() async throws { try await ChildProcess.run("/bin/umount", ["-l", path]) }
}

/// Things in the store's directory that the store did not put there.
@Suite("FolderStore and foreign files")
struct FolderStoreForeignFileTests {
    /// What can stand in an entry's slot instead of an entry file.
    enum Foreign: String, CaseIterable, Sendable {
        case symlink, directory, fifo, socket, hardLink, truncated
        /// A sparse file of 1 TiB that begins as an entry does: more than any read can hold.
        case huge

        /// Puts one at `path`; `outside` is a file outside the store a link may point at.
        func make(at path: String, outside: String) throws {
            switch self {
            case .symlink:
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: outside)
            case .directory:
                try FileManager.default.createDirectory(atPath: path + "/inner", withIntermediateDirectories: true)
                _ = FileManager.default.createFile(atPath: path + "/inner/file", contents: Data("x".utf8))
            case .fifo:
                guard mkfifo(path, 0o600) == 0 else { throw StrataError(code: .backendUnavailable, message: "mkfifo") }
            case .socket:
                let descriptor = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                var address = sockaddr_un()
                address.sun_family = sa_family_t(AF_UNIX)
                withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                    for (index, byte) in path.utf8.enumerated() where index < buffer.count - 1 { buffer[index] = byte }
                }
                let bound = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
                close(descriptor)
                guard bound == 0 else { throw StrataError(code: .backendUnavailable, message: "bind") }
            case .hardLink:
                try FileManager.default.linkItem(atPath: outside, toPath: path)
            case .truncated:
                _ = FileManager.default.createFile(atPath: path, contents: Data("STRATA".utf8))
            case .huge:
                _ = FileManager.default.createFile(atPath: path, contents: Data("STRATA".utf8))
                guard truncate(path, 1 << 40) == 0 else { throw StrataError(code: .backendUnavailable, message: "truncate") }
            }
        }

        /// Whether the store lists it as a (corrupt) entry: it is a regular file.
        var isListed: Bool { self == .truncated || self == .huge }
    }

    @Test(
        "a foreign thing in an entry's slot: skipped by keys, clear and sweep; get is corruptEntry (never a hang); set replaces it; delete removes it",
        .timeLimit(.minutes(1)), arguments: Foreign.allCases)
    func foreignSlot(kind: Foreign) async throws {
        let directory = temporaryDirectory("foreign")
        let outside = temporaryDirectory("outside")
        _ = FileManager.default.createFile(atPath: outside, contents: Data("not the store's".utf8))
        let folder = try FolderStore(directory: directory)
        try await folder.set("other", "kept")
        let slot = directory + "/6b.e"  // the slot of key "k": its hex, then ".e"
        try kind.make(at: slot, outside: outside)

        let listed = try await folder.keys()
        #expect(listed == (kind.isListed ? ["k", "other"] : ["other"]), "\(kind): a corrupt file is listed, a foreign thing is not")
        await #expect(throws: StrataError.corruptEntry) { try await folder.get("k", as: String.self) }
        #expect(try await folder.sweepExpired() == 0)
        #expect(try await folder.clear(prefix: "o") == 1)
        #expect(try await folder.keys() == (kind.isListed ? ["k"] : []))

        try await folder.set("k", "mine")
        #expect(try await folder.get("k", as: String.self) == "mine", "\(kind) was replaced")
        #expect(
            String(decoding: FileManager.default.contents(atPath: outside) ?? Data(), as: UTF8.self) == "not the store's",
            "nothing was written through a link")
        try await folder.delete("k")
        try kind.make(at: slot, outside: outside)
        try await folder.delete("k")
        #expect(!FileManager.default.fileExists(atPath: slot), "delete removed the \(kind)")
        #expect(FileManager.default.fileExists(atPath: outside), "and nothing it pointed at")
        #expect(try await folder.setIfAbsent("k", "again"), "a foreign thing is no entry")
    }

    @Test(
        "a file too large to read (a sparse 1 TiB) in an entry's slot or in .leases: corruptEntry, or skipped by a listing, a clear and a sweep; never a crash",
        .timeLimit(.minutes(1)))
    func hugeFiles() async throws {
        let directory = temporaryDirectory("huge")
        let folder = try FolderStore(directory: directory)
        try await folder.set("k", "value")
        try Foreign.huge.make(at: directory + "/.leases/foreign", outside: "")
        // Every lease file is read by a clear (its leases are broken first) and by a sweep.
        #expect(try await folder.clear(prefix: "k") == 1)
        _ = try await folder.sweepExpired()
        try await folder.set("k", "value")
        let lease = EntryLease(token: 7)
        _ = try await folder.leaseEntry(forKey: "k", lease: lease, duration: .seconds(10))
        #expect(try await folder.setEntry(StoredEntry(bytes: Array("new".utf8)), forKey: "k", ifLeased: lease, keepingLease: false))
        #expect(try await folder.entry(forKey: "k")?.bytes == Array("new".utf8))
        // A listing of every entry reads each file whole: one it cannot read is left out.
        try Foreign.huge.make(at: directory + "/6c.e", outside: "")  // the slot of key "l"
        await #expect(throws: StrataError.corruptEntry) { try await folder.get("l", as: String.self) }
        #expect(try await folder.storedEntries(prefix: "").map(\.key) == ["k"])
        try await folder.set("l", "replaced")
        #expect(try await folder.get("l", as: String.self) == "replaced")
    }

    @Test("a foreign thing where a long key's directory goes, and foreign names: skipped, and replaced by a write")
    func foreignDirectories() async throws {
        let directory = temporaryDirectory("foreign-directories")
        let folder = try FolderStore(directory: directory)
        let longKey = String(repeating: "a", count: 200)  // 400 hex digits: one directory level
        let component = String(repeating: "61", count: 120)
        try FileManager.default.createSymbolicLink(atPath: directory + "/" + component, withDestinationPath: "/tmp")
        _ = FileManager.default.createFile(atPath: directory + "/notes.txt", contents: Data("hello".utf8))
        _ = FileManager.default.createFile(atPath: directory + "/6.e", contents: Data("odd".utf8))
        #expect(try await folder.keys().isEmpty)
        #expect(try await folder.get(longKey, as: String.self) == nil)
        try await folder.set(longKey, "long")
        #expect(try await folder.get(longKey, as: String.self) == "long")
        #expect(try await folder.keys() == [longKey])
        #expect(try await folder.clear() == 1)
        #expect(FileManager.default.fileExists(atPath: directory + "/notes.txt"), "a foreign name is left alone")
    }

    @Test("temporary files of a killed writer are removed when the store opens and by a sweep, once older than abandonedFileAge")
    func abandonedTemporaryFiles() async throws {
        let directory = temporaryDirectory("abandoned")
        _ = try FolderStore(directory: directory)
        let old = directory + "/.tmp/t-killed-writer", fresh = directory + "/.tmp/t-writing-now"
        _ = FileManager.default.createFile(atPath: old, contents: Data("partial".utf8))
        _ = FileManager.default.createFile(atPath: fresh, contents: Data("partial".utf8))
        let tenMinutesAgo = Date(timeIntervalSinceNow: -600)
        try FileManager.default.setAttributes([.modificationDate: tenMinutesAgo], ofItemAtPath: old)

        let folder = try FolderStore(directory: directory)
        #expect(!FileManager.default.fileExists(atPath: old), "removed at open")
        #expect(FileManager.default.fileExists(atPath: fresh), "a write that may be in progress is left")
        try FileManager.default.setAttributes([.modificationDate: tenMinutesAgo], ofItemAtPath: fresh)
        _ = try await folder.sweepExpired()
        #expect(!FileManager.default.fileExists(atPath: fresh), "removed by the sweep")
    }
}
