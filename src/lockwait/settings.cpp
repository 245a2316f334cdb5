// zdm.lock_timeout, zdm.lock_retries, zdm.lock_retry_delay: PGC_USERSET, so a migration can tune them
// per session or per transaction (SET LOCAL zdm.lock_retries = 0).
#include <climits>

#include "lockwait/lockwait.hpp"
#include "lockwait/settings.hpp"

extern "C" {
#include "utils/guc.h"
}

namespace zdm::lockwait {

namespace {
int lock_timeout_ms = 1000;
int lock_retries = 3;
int lock_retry_delay_ms = 200;
}  // namespace

int setting_lock_timeout_ms() { return lock_timeout_ms; }
int setting_lock_retries() { return lock_retries; }
int setting_lock_retry_delay_ms() { return lock_retry_delay_ms; }

void init() {
  DefineCustomIntVariable(
      "zdm.lock_timeout", "Longest wait for a lock by a DDL statement that needs a strong lock.",
      "Applies, only while the statement runs, to each DDL statement that needs a lock stronger than "
      "SHARE UPDATE EXCLUSIVE on an existing relation; a smaller lock_timeout set by the session "
      "wins. 0 turns lock-safe DDL off.",
      &lock_timeout_ms, 1000, 0, INT_MAX, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "zdm.lock_retries", "How many times a DDL statement whose lock wait timed out is retried.",
      "Each attempt runs in its own subtransaction; 0 reports the first lock timeout as an error.",
      &lock_retries, 3, 0, 1000, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "zdm.lock_retry_delay", "Base pause before retrying a DDL statement after a lock timeout.",
      "The pause doubles with each retry, up to 10s (or this value if larger), with random jitter "
      "of up to half the pause.",
      &lock_retry_delay_ms, 200, 0, 3600 * 1000, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
}

}  // namespace zdm::lockwait
