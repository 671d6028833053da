// The two Linux calls that let FolderStore read a file on the calling thread only when that
// cannot wait: openat2(2) with RESOLVE_CACHED (the path must be in the kernel's lookup
// cache) and preadv2(2) with RWF_NOWAIT (the bytes must be in the page cache). Each fails
// with EAGAIN where it would have waited. Elsewhere both fail with ENOSYS.
#ifndef STRATA_NON_BLOCKING_FILES_H
#define STRATA_NON_BLOCKING_FILES_H

#include <errno.h>
#include <fcntl.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/syscall.h>
#include <sys/vfs.h>
#if __has_include(<linux/openat2.h>)  // kernel headers 5.6 and later
#include <linux/openat2.h>
#endif
#ifndef O_NOATIME
#define O_NOATIME 01000000
#endif

// Called through syscall(2), as openat2 is: libc declares preadv2 only under _GNU_SOURCE
// (glibc) or not in every version (musl).
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif
#endif

/// `path` (relative, no symbolic links, never above `directory`) opened with `flags` only
/// if every component is in the kernel's lookup cache; otherwise -1 with errno EAGAIN.
/// `O_NOATIME` too, so that the read does not start a journal transaction to update the
/// access time (-1 with EPERM for a file this process does not own).
static inline int strata_open_cached(int directory, const char *path, int flags) {
#if defined(__linux__) && defined(SYS_openat2) && defined(RESOLVE_CACHED)
    struct open_how how = {0};
    how.flags = (unsigned long long)(flags | O_NOATIME);
    how.resolve = RESOLVE_CACHED | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH;
    return (int)syscall(SYS_openat2, directory, path, &how, sizeof how);
#else
    (void)directory; (void)path; (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

/// The type of the file system `fd` is on (`statfs`'s `f_type`), or -1.
static inline long long strata_file_system_type(int fd) {
#if defined(__linux__)
    struct statfs info;
    if (fstatfs(fd, &info) != 0) return -1;
    return (long long)info.f_type;
#else
    (void)fd;
    return -1;
#endif
}

/// pread of what is already in the page cache; -1 with errno EAGAIN where it would wait.
static inline ssize_t strata_pread_cached(int fd, void *buffer, size_t count, off_t offset) {
#if defined(__linux__) && defined(SYS_preadv2) && (defined(__LP64__) || defined(_LP64))
    struct iovec vector = {buffer, count};
    // The kernel takes the offset as two halves (low, high); on a 64-bit system the low
    // half is the whole offset and the high half is not used.
    return (ssize_t)syscall(SYS_preadv2, fd, &vector, 1, (long)offset, 0L, RWF_NOWAIT);
#else
    (void)fd; (void)buffer; (void)count; (void)offset;
    errno = ENOSYS;
    return -1;
#endif
}

#endif
