// Adaptive batch sizing: bounded growth, fast shrink on overshoot, min/max bounds, retry backoff.
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
  EXPECT_EQ(next_batch_size(p, 1000, 80.0), 1250);  // 25% under: grows to meet the target
}

TEST(BackfillBatchSize, ShrinksAtOnceOnOvershoot) {
  SizingPolicy p;
  p.target_ms = 100;
  EXPECT_EQ(next_batch_size(p, 1000, 1000.0), 100);  // 10x over: one step to the target's size
  EXPECT_EQ(next_batch_size(p, 1000, 200.0), 500);
}

TEST(BackfillBatchSize, StaysNearTarget) {
  SizingPolicy p;
  p.target_ms = 100;
  EXPECT_EQ(next_batch_size(p, 1000, 95.0), 1000);
  EXPECT_EQ(next_batch_size(p, 1000, 105.0), 1000);
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
