import CNonBlockingFiles
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads served on the calling thread when they cannot wait.
///
/// Handing every read to the store's threads kept Swift's cooperative threads free of file
/// work, but cost two thread switches a read: a `get` of a cached 64-byte file measured
/// 10–12x a raw `open`+`read`+`close` (`strata-bench hits`, 2026-12-04). Most reads of a
/// cache's files find them in the kernel's caches, and Linux can say so without waiting:
/// `openat2` with `RESOLVE_CACHED` fails with `EAGAIN` when a path component is not in its
/// lookup cache, and `preadv2` with `RWF_NOWAIT` when the bytes are not in the page cache.
/// A read tries that first; anything else (a lookup or bytes not cached, a foreign thing in
/// the slot, any error) goes to the store's threads, which read it the blocking way and
/// report what they find. Only on a local file system the store knows (ext4, XFS, Btrfs,
/// tmpfs, F2FS, overlayfs, ZFS, bcachefs): on NFS or FUSE a lookup the kernel has cached
/// can still be followed by an open that waits on a server or a daemon, so there every
/// read goes to the threads. The open asks for `O_NOATIME`, so that a read does not start a
/// journal transaction to update the file's access time.
extension FolderStore {
    /// The key's slot read without waiting, or `nil` when the read must go to the file
    /// threads: only a regular entry file (or no file at all) is answered here.
    func readSlotIfCached(of key: String) -> POSIX.FileContents? {
        guard cachedReads.isSupported else { return nil }
        let layout = FolderLayout(key: key)
        let path = layout.directories.isEmpty ? layout.file : (layout.directories + [layout.file]).joined(separator: "/")
        let fd = strata_open_cached(root, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            switch errno {
            case ENOENT: return .missing  // a cached negative lookup: no file, no directory
            case ENOSYS, EINVAL: cachedReads.markUnsupported()  // no openat2 or no RESOLVE_CACHED (before Linux 5.12)
            default: break  // EAGAIN (not in the lookup cache), EPERM (O_NOATIME on another user's file), ELOOP, ...
            }
            return nil
        }
        defer { POSIX.closeDescriptor(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_nlink <= 1,
            info.st_size <= POSIX.largestWholeRead  // the threads say why it is not read
        else { return nil }
        let wanted = Int(info.st_size)
        var bytes = [UInt8](repeating: 0, count: wanted)
        var filled = 0
        while filled < wanted {
            let count = bytes.withUnsafeMutableBytes { buffer in
                strata_pread_cached(fd, buffer.baseAddress! + filled, wanted - filled, off_t(filled))
            }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EOPNOTSUPP || errno == ENOSYS || errno == EPERM { cachedReads.markUnsupported() }
                return nil  // EAGAIN: not all in the page cache
            }
            if count == 0 { break }  // the file shrank: the caller sees a short read, as on the threads
            filled += count
        }
        bytes.removeSubrange(filled...)
        return .bytes(bytes)
    }
}

/// Whether this store's file system (and kernel) answers reads that cannot wait; once one
/// says it does not, every read goes to the threads.
final class CachedReadSupport: Sendable {
    private let unsupported: Atomic<Bool>

    /// `statfs` types of the local file systems whose opens and reads never wait on another
    /// process or machine: ext2/3/4, XFS, Btrfs, tmpfs, F2FS, overlayfs, ZFS, bcachefs.
    static let localFileSystems: Set<Int64> = [
        0xEF53, 0x5846_5342, 0x9123_683E, 0x0102_1994, 0xF2F5_2010, 0x794C_7630, 0x2FC1_2FC1, 0xCA45_1A4E,
    ]

    /// Supported when the directory `fd` is on one of ``localFileSystems``.
    init(directory fd: Int32) {
        unsupported = Atomic(!Self.localFileSystems.contains(Self.fileSystemType(of: fd)))
    }

    /// The `statfs` type of the file system `fd` is on, or -1.
    static func fileSystemType(of fd: Int32) -> Int64 { Int64(strata_file_system_type(fd)) }

    var isSupported: Bool { !unsupported.load(ordering: .relaxed) }

    func markUnsupported() { unsupported.store(true, ordering: .relaxed) }
}
