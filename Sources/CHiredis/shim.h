#ifndef STRATA_CHIREDIS_SHIM_H
#define STRATA_CHIREDIS_SHIM_H

// hiredis 0.14 (Debian 12) and 1.x: only the API both share is used.
#include <hiredis/hiredis.h>

#endif
