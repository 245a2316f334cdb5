// _PG_init: define settings and install hooks, nothing else. Each room owns its settings and hooks
// and exposes one init function.
#include "backfill/backfill.hpp"
#include "guard/guard.hpp"
#include "lockwait/lockwait.hpp"
#include "pg/postgres.hpp"

extern "C" {
#include "utils/guc.h"
}

extern "C" {
PG_MODULE_MAGIC;

void _PG_init(void);
}

void _PG_init(void) {
  zdm::guard::init();
  zdm::lockwait::init();
  zdm::backfill::init();
  MarkGUCPrefixReserved("zdm");
}
