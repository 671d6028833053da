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
#include <linux/openat2.h>
#include <sys/syscall.h>

// Called through syscall(2), as openat2 is: libc declares preadv2 only under _GNU_SOURCE
// (glibc) or not in every version (musl).
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif
#endif

/// `path` (relative, no symbolic links, never above `directory`) opened with `flags` only
/// if every component is in the kernel's lookup cache; otherwise -1 with errno EAGAIN.
static inline int strata_open_cached(int directory, const char *path, int flags) {
#if defined(__linux__) && defined(SYS_openat2) && defined(RESOLVE_CACHED)
    struct open_how how = {0};
    how.flags = (unsigned long long)flags;
    how.resolve = RESOLVE_CACHED | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH;
    return (int)syscall(SYS_openat2, directory, path, &how, sizeof how);
#else
    (void)directory; (void)path; (void)flags;
    errno = ENOSYS;
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
