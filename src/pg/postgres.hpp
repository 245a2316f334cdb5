// PostgreSQL's headers for C++ files. Include every standard and fmt header *before* this one:
// port.h redefines printf-family names as macros, which would break them.
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "utils/palloc.h"
}
