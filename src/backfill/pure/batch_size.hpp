// Adaptive batch sizing for backfills: pure arithmetic, unit-tested without a server.
#pragma once
#include "common/cpp_only.hpp"

#include <cstdint>

namespace zdm::backfill {

struct SizingPolicy {
  int64_t min_size = 1;
  int64_t max_size = 100000;
  double target_ms = 100;
  // Growth per step is bounded (a fast batch does not make the next one explode); a batch that
  // overshoots shrinks at once to the size that would have met the target.
  double max_growth = 2.0;
};

// The next batch size after a batch of `rows_scanned` key positions that took `elapsed_ms`.
// Growth is bounded by max_growth; an overshoot (elapsed > target) shrinks proportionally, at once.
int64_t next_batch_size(const SizingPolicy& policy, int64_t current, double elapsed_ms);

// Clamps a requested size into [min_size, max_size].
int64_t clamp_batch_size(const SizingPolicy& policy, int64_t size);

// Backoff before retry number `attempt` (1-based) after a lock timeout: doubling from base_ms, capped.
int64_t retry_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms);

}  // namespace zdm::backfill
