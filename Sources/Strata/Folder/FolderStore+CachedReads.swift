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
/// A read tries that first; anything else (a lookup or bytes not cached, a file system
/// without the flags, such as NFS, a foreign thing in the slot, any error) goes to the
/// store's threads, which read it the blocking way and report what they find.
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
            case ENOSYS, EPERM, EINVAL: cachedReads.markUnsupported()  // an old kernel, or a sandbox that refuses openat2
            default: break  // EAGAIN (not in the lookup cache), ELOOP, ENOTDIR, ...: the threads say what it is
            }
            return nil
        }
        defer { POSIX.closeDescriptor(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_nlink <= 1 else { return nil }
        let wanted = Int(info.st_size)
        var bytes = [UInt8](repeating: 0, count: wanted)
        var filled = 0
        while filled < wanted {
            let count = bytes.withUnsafeMutableBytes { buffer in
                strata_pread_cached(fd, buffer.baseAddress! + filled, wanted - filled, off_t(filled))
            }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EOPNOTSUPP || errno == ENOSYS { cachedReads.markUnsupported() }
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
    private let unsupported = Atomic<Bool>(false)

    var isSupported: Bool { !unsupported.load(ordering: .relaxed) }

    func markUnsupported() { unsupported.store(true, ordering: .relaxed) }
}
