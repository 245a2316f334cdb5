#include "backfill/pure/batch_size.hpp"

#include <algorithm>
#include <cmath>

namespace zdm::backfill {

int64_t clamp_batch_size(const SizingPolicy& policy, int64_t size) {
  int64_t lo = std::max<int64_t>(1, policy.min_size);
  int64_t hi = std::max(lo, policy.max_size);
  return std::clamp(size, lo, hi);
}

int64_t next_batch_size(const SizingPolicy& policy, int64_t current, double elapsed_ms) {
  current = clamp_batch_size(policy, current);
  if (policy.target_ms <= 0) return current;
  const double aim_ms = policy.target_ms * policy.aim;
  double ratio;
  if (elapsed_ms <= 0.0) {
    ratio = policy.max_growth;  // too quick to measure: grow by the bounded factor
  } else if (elapsed_ms > policy.target_ms) {
    ratio = aim_ms / elapsed_ms;  // over the target: shrink at once to the aim
  } else if (elapsed_ms < policy.target_ms * policy.low) {
    ratio = std::min(aim_ms / elapsed_ms, std::max(1.0, policy.max_growth));  // well under: grow, bounded
  } else {
    return current;  // in the band: stay, so that the size does not oscillate
  }
  double next = std::floor(static_cast<double>(current) * ratio);
  if (ratio > 1.0 && next <= static_cast<double>(current)) next = static_cast<double>(current) + 1;
  if (next > 9.0e18) next = 9.0e18;
  return clamp_batch_size(policy, static_cast<int64_t>(next));
}

int64_t retry_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms) {
  if (attempt < 1) attempt = 1;
  if (base_ms < 1) base_ms = 1;
  int64_t v = base_ms;
  for (int i = 1; i < attempt && v < cap_ms; ++i) v *= 2;
  return std::min(v, std::max<int64_t>(cap_ms, 1));
}

}  // namespace zdm::backfill
