#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The outcome of a system call that failed, with the call's name.
struct SystemCallError: Error, CustomStringConvertible {
    let call: String
    let errno: Int32

    var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }

    /// What a caller can do about it: no room (`ENOSPC`, `EDQUOT`), no permission
    /// (`EACCES`, `EPERM`, `EROFS`), or anything else.
    var code: StrataError.Code {
        switch errno {
        case ENOSPC, EDQUOT: .storageFull
        case EACCES, EPERM, EROFS: .accessDenied
        default: .backendUnavailable
        }
    }
}

/// Thin wrappers over the `*at` system calls, relative to an open directory, never
/// following symbolic links, so every path stays inside the store's directory.
enum POSIX {
    /// Closes a descriptor (named apart from the stores' own `close()`).
    static func closeDescriptor(_ fd: Int32) {
        _ = close(fd)
    }

    static func check(_ result: Int32, _ call: String) throws(SystemCallError) -> Int32 {
        if result < 0 { throw SystemCallError(call: call, errno: errno) }
        return result
    }

    /// Opens the subdirectory `name` of `directory`; `nil` when it does not exist, or
    /// when something that is not a directory (a symbolic link, a file) stands there and
    /// `create` is false. With `create`, such a foreign thing is replaced by a directory.
    static func openDirectory(_ name: String, in directory: Int32, create: Bool) throws(SystemCallError) -> Int32? {
        if create, mkdirat(directory, name, 0o700) < 0, errno != EEXIST {
            throw SystemCallError(call: "mkdirat", errno: errno)
        }
        let fd = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0 { return fd }
        switch errno {
        case ENOENT:
            return nil
        case ELOOP, ENOTDIR:
            guard create else { return nil }
            _ = try removeSlot(name, in: directory)
            return try openDirectory(name, in: directory, create: true)
        default:
            throw SystemCallError(call: "openat(directory)", errno: errno)
        }
    }

    /// The most bytes a read takes in whole: half the machine's memory. A file larger than
    /// that (a foreign one, a sparse one) is not an entry this process could have written
    /// and read back, and allocating its size would end the process.
    static let largestWholeRead: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return 1 << 32 }
        return pages.multipliedReportingOverflow(by: pageSize).partialValue / 2
    }()

    /// How a file too large to read is described.
    static func tooLarge(_ size: off_t) -> String {
        "a file of \(size) bytes, more than a read takes in whole (\(largestWholeRead))"
    }

    /// What an entry's name holds.
    enum FileContents {
        /// Nothing.
        case missing
        /// Something that is not an entry file of the store's: a symbolic link, a
        /// directory, a FIFO, a socket, a device, a file with other hard links, or one
        /// too large to read whole (``largestWholeRead``).
        case foreign(String)
        /// A regular file's bytes (up to the limit asked for).
        case bytes([UInt8])
    }

    /// The contents of the file `name` in `directory`, up to `limit` bytes. Never follows
    /// a symbolic link and never waits on a FIFO (`O_NONBLOCK`): anything but a regular
    /// file with one link is `.foreign`, except a regular file with none: a rename (a
    /// write of the key) or a delete took its name after it was opened here, and its bytes
    /// are the whole entry it was (entries are written once, in `.tmp`, then renamed), so
    /// they are read: the reader sees the entry as it was when the read began.
    static func readFile(_ name: String, in directory: Int32, limit: Int = .max) throws(SystemCallError) -> FileContents {
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            switch errno {
            case ENOENT: return .missing
            case ELOOP: return .foreign("a symbolic link")
            case ENXIO, EOPNOTSUPP: return .foreign("a socket or device")
            default: throw SystemCallError(call: "openat", errno: errno)
            }
        }
        defer { close(fd) }
        var info = stat()
        _ = try check(fstat(fd, &info), "fstat")
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: return .foreign("a directory")
        case S_IFIFO: return .foreign("a FIFO")
        case S_IFSOCK: return .foreign("a socket")
        default: return .foreign("a device or special file")
        }
        guard info.st_nlink <= 1 else { return .foreign("a file with \(info.st_nlink) hard links") }
        let wanted = min(Int(info.st_size), limit)
        guard wanted <= largestWholeRead else { return .foreign(tooLarge(info.st_size)) }
        var bytes = [UInt8](repeating: 0, count: wanted)
        var filled = 0
        while filled < wanted {
            let count = bytes.withUnsafeMutableBytes { buffer in
                pread(fd, buffer.baseAddress! + filled, wanted - filled, off_t(filled))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(call: "pread", errno: errno)
            }
            if count == 0 { break }  // the file shrank: the caller sees a short read
            filled += count
        }
        bytes.removeSubrange(filled...)
        return .bytes(bytes)
    }

    /// Removes whatever is at `name` in `directory`: a file, a link, a FIFO, a socket, or
    /// a whole directory tree (never following a symbolic link). `false` when nothing was there.
    static func removeSlot(_ name: String, in directory: Int32) throws(SystemCallError) -> Bool {
        if unlinkat(directory, name, 0) == 0 { return true }
        switch errno {
        case ENOENT: return false
        case EISDIR, EPERM:
            // A directory (unlink answers EISDIR on Linux, EPERM on macOS): empty it first.
            guard let child = try openDirectory(name, in: directory, create: false) else { return false }
            defer { closeDescriptor(child) }
            for inner in try names(in: child) { _ = try removeSlot(inner, in: child) }
            if unlinkat(directory, name, AT_REMOVEDIR) == 0 || errno == ENOENT { return true }
            throw SystemCallError(call: "unlinkat(directory)", errno: errno)
        default:
            throw SystemCallError(call: "unlinkat", errno: errno)
        }
    }

    /// Writes `bytes` to a new file `name` in `directory`, created with mode 0600.
    static func writeNewFile(_ name: String, in directory: Int32, bytes: [UInt8], synchronize: Bool) throws(SystemCallError) {
        let fd = openat(directory, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd < 0 { throw SystemCallError(call: "openat(create)", errno: errno) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                write(fd, buffer.baseAddress! + written, bytes.count - written)
            }
            if count < 0 {
                if errno == EINTR { continue }
                let failure = SystemCallError(call: "write", errno: errno)
                close(fd)
                unlinkat(directory, name, 0)
                throw failure
            }
            written += count
        }
        if synchronize, fsync(fd) < 0 {
            let failure = SystemCallError(call: "fsync", errno: errno)
            close(fd)
            unlinkat(directory, name, 0)
            throw failure
        }
        // Some file systems (NFS, quotas) report a failed write only when the file is
        // closed: the entry is written only if `close` says so. (EINTR: Linux has closed
        // the descriptor and the data went through the write calls above.)
        if close(fd) < 0, errno != EINTR {
            let failure = SystemCallError(call: "close", errno: errno)
            unlinkat(directory, name, 0)
            throw failure
        }
    }

    /// Removes the file `name` from `directory`: `true` when it did, `false` when it was
    /// already gone; any other failure (a read-only or immutable file system, say) throws.
    static func removeFile(_ name: String, in directory: Int32) throws(SystemCallError) -> Bool {
        if unlinkat(directory, name, 0) == 0 { return true }
        if errno == ENOENT { return false }
        throw SystemCallError(call: "unlinkat", errno: errno)
    }

    /// Makes the renames in `directory` durable: a failure fails the write that asked for it.
    /// A file system that cannot synchronize a directory (`EINVAL`, `ENOTSUP`: some FUSE and
    /// network ones) has nothing more to make durable, as SQLite also takes it.
    static func synchronizeDirectory(_ directory: Int32) throws(SystemCallError) {
        if fsync(directory) == 0 { return }
        let error = errno
        if error == EINVAL || error == ENOTSUP { return }
        throw SystemCallError(call: "fsync(directory)", errno: error)
    }

    /// The names in `directory`, without `.` and `..`.
    static func names(in directory: Int32) throws(SystemCallError) -> [String] {
        // A fresh descriptor, so concurrent listings do not share a read position.
        let fd = openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw SystemCallError(call: "openat(.)", errno: errno) }
        guard let stream = fdopendir(fd) else {
            let failure = SystemCallError(call: "fdopendir", errno: errno)
            close(fd)
            throw failure
        }
        defer { closedir(stream) }
        var names: [String] = []
        while true {
            // `readdir` answers NULL at the end and on a failure: only errno tells them apart.
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw SystemCallError(call: "readdir", errno: errno) }
                break
            }
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes the files in `directory` last modified before `limit` (seconds since
    /// 1970): temporary files of writers that were killed.
    static func removeFiles(in directory: Int32, olderThan limit: Int) throws(SystemCallError) {
        for name in try names(in: directory) where isOlder(name, in: directory, than: limit) {
            if unlinkat(directory, name, 0) < 0, errno != ENOENT { throw SystemCallError(call: "unlinkat", errno: errno) }
        }
    }

    /// Whether the file `name` in `directory` was last modified before `limit` (seconds since 1970).
    static func isOlder(_ name: String, in directory: Int32, than limit: Int) -> Bool {
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return false }
        #if canImport(Darwin)
        return Int(info.st_mtimespec.tv_sec) < limit
        #else
        return Int(info.st_mtim.tv_sec) < limit
        #endif
    }
}
