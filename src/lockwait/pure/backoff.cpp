// Backoff arithmetic for lock-safe DDL (see backoff.hpp).
#include "lockwait/pure/backoff.hpp"

#include <algorithm>

namespace zdm::lockwait {

int64_t retry_step_ms(int retry, int64_t base_ms, int64_t cap_ms) {
  if (base_ms <= 0) return 0;
  int64_t cap = std::max(base_ms, cap_ms);
  int64_t step = base_ms;
  // Doubling stops at the cap, so the loop is short and never overflows.
  for (int i = 1; i < retry && step < cap; i++) step = step > cap / 2 ? cap : step * 2;
  return std::min(step, cap);
}

int64_t retry_delay_ms(int retry, int64_t base_ms, double unit, int64_t cap_ms) {
  int64_t step = retry_step_ms(retry, base_ms, cap_ms);
  if (step <= 0) return 0;
  if (!(unit >= 0.0)) unit = 0.0;  // also catches NaN
  if (unit > 1.0) unit = 1.0;
  int64_t half = step / 2;
  int64_t jitter = static_cast<int64_t>(static_cast<double>(step - half) * unit);
  return std::min(step, half + jitter);
}

int effective_lock_timeout_ms(int zdm_ms, int session_ms) {
  if (zdm_ms <= 0) return 0;
  if (session_ms > 0 && session_ms <= zdm_ms) return 0;
  return zdm_ms;
}

}  // namespace zdm::lockwait
