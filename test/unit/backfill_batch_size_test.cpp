// Adaptive batch sizing: target_batch_ms is a ceiling; the size aims at 80% of it, grows (bounded) when a
// batch took under 60%, shrinks at once when one took over 100%, stays in between; min/max bounds;
// retry backoff.
#include <gtest/gtest.h>

#include "backfill/pure/batch_size.hpp"

using zdm::backfill::SizingPolicy;
using zdm::backfill::next_batch_size;
using zdm::backfill::retry_backoff_ms;

TEST(BackfillBatchSize, GrowthIsBoundedPerStep) {
  SizingPolicy p;
  p.target_ms = 100;
  EXPECT_EQ(next_batch_size(p, 1000, 1.0), 2000);   // 100x under target: only doubles
  EXPECT_EQ(next_batch_size(p, 1000, 0.0), 2000);   // unmeasurably fast: doubles
  EXPECT_EQ(next_batch_size(p, 1000, 50.0), 1600);  // half the target: grows to the aim (80 ms)
}

TEST(BackfillBatchSize, ShrinksAtOnceOnOvershoot) {
  SizingPolicy p;
  p.target_ms = 100;
  EXPECT_EQ(next_batch_size(p, 1000, 1000.0), 80);  // 10x over: one step to the aim's size
  EXPECT_EQ(next_batch_size(p, 1000, 200.0), 400);
  EXPECT_EQ(next_batch_size(p, 1000, 125.0), 640);  // just over the target is over: writers feel it
}

TEST(BackfillBatchSize, StaysInTheBandUnderTarget) {
  SizingPolicy p;
  p.target_ms = 100;
  EXPECT_EQ(next_batch_size(p, 1000, 60.0), 1000);
  EXPECT_EQ(next_batch_size(p, 1000, 80.0), 1000);
  EXPECT_EQ(next_batch_size(p, 1000, 100.0), 1000);
}

TEST(BackfillBatchSize, RespectsBounds) {
  SizingPolicy p;
  p.target_ms = 100;
  p.min_size = 10;
  p.max_size = 5000;
  EXPECT_EQ(next_batch_size(p, 4000, 1.0), 5000);
  EXPECT_EQ(next_batch_size(p, 20, 100000.0), 10);
  EXPECT_EQ(next_batch_size(p, 1, 1.0), 20);  // a start below min is clamped first
}

TEST(BackfillBatchSize, SmallSizesStillGrow) {
  SizingPolicy p;
  p.target_ms = 100;
  p.max_growth = 1.05;
  EXPECT_EQ(next_batch_size(p, 1, 1.0), 2);
}

TEST(BackfillRetryBackoff, DoublesAndCaps) {
  EXPECT_EQ(retry_backoff_ms(1, 10, 1000), 10);
  EXPECT_EQ(retry_backoff_ms(2, 10, 1000), 20);
  EXPECT_EQ(retry_backoff_ms(4, 10, 1000), 80);
  EXPECT_EQ(retry_backoff_ms(20, 10, 1000), 1000);
}
