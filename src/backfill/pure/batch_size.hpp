// Adaptive batch sizing for backfills: pure arithmetic, unit-tested without a server.
#pragma once
#include "common/cpp_only.hpp"

#include <cstdint>

namespace zdm::backfill {

struct SizingPolicy {
  int64_t min_size = 1;
  int64_t max_size = 100000;
  // target_batch_ms: the longest a batch should take, and so the longest a writer waits for a row the
  // batch has updated (it holds that row's lock until it commits). The size steers towards aim × target
  // and stays put while a batch takes between low × target and target: a batch's duration varies by
  // tens of percent from one to the next, and one that lands just over the target is what the writers
  // of the table feel.
  double target_ms = 100;
  double aim = 0.8;
  double low = 0.6;
  // Growth per step is bounded (a fast batch does not make the next one explode); a batch that
  // overshoots shrinks at once to the size that would have met the aim.
  double max_growth = 2.0;
};

// The next batch size after a batch of `current` key positions that took `elapsed_ms`.
int64_t next_batch_size(const SizingPolicy& policy, int64_t current, double elapsed_ms);

// Clamps a requested size into [min_size, max_size].
int64_t clamp_batch_size(const SizingPolicy& policy, int64_t size);

// Backoff before retry number `attempt` (1-based) after a lock timeout: doubling from base_ms, capped.
int64_t retry_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms);

}  // namespace zdm::backfill
