#ifndef STRATA_CHIREDIS_SHIM_H
#define STRATA_CHIREDIS_SHIM_H

// hiredis 0.14 (Debian 12) and 1.x: only the API both share is used.
#include <hiredis/hiredis.h>

// The event loop that reads the pooled connections' replies waits in epoll (Glibc's
// Swift module leaves sys/epoll.h out).
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#endif

#endif
