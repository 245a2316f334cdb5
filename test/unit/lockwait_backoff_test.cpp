// Lock-safe DDL: the pause between attempts and the lock_timeout a statement gets.
#include <gtest/gtest.h>

#include <cmath>

#include "lockwait/pure/backoff.hpp"

using namespace zdm::lockwait;

TEST(LockwaitBackoff, StepDoublesPerRetry) {
  EXPECT_EQ(retry_step_ms(1, 100), 100);
  EXPECT_EQ(retry_step_ms(2, 100), 200);
  EXPECT_EQ(retry_step_ms(3, 100), 400);
  EXPECT_EQ(retry_step_ms(4, 100), 800);
}

TEST(LockwaitBackoff, StepIsCapped) {
  EXPECT_EQ(retry_step_ms(8, 100), 10000);   // 12800 capped
  EXPECT_EQ(retry_step_ms(1000, 100), 10000);  // no overflow however many retries
  EXPECT_EQ(retry_step_ms(5, 100, 1000), 1000);
}

TEST(LockwaitBackoff, BaseAboveCapIsKept) {
  // A base delay larger than the cap is the user's explicit choice: every pause uses it.
  EXPECT_EQ(retry_step_ms(1, 60000), 60000);
  EXPECT_EQ(retry_step_ms(5, 60000), 60000);
}

TEST(LockwaitBackoff, ZeroBaseMeansNoPause) {
  EXPECT_EQ(retry_delay_ms(1, 0, 0.5), 0);
  EXPECT_EQ(retry_delay_ms(7, -5, 0.9), 0);
}

TEST(LockwaitBackoff, EqualJitterStaysWithinHalfStepAndStep) {
  for (int retry = 1; retry <= 10; retry++) {
    int64_t step = retry_step_ms(retry, 100);
    for (double unit : {0.0, 0.25, 0.5, 0.999, 1.0}) {
      int64_t d = retry_delay_ms(retry, 100, unit);
      EXPECT_GE(d, step / 2) << "retry " << retry << " unit " << unit;
      EXPECT_LE(d, step) << "retry " << retry << " unit " << unit;
    }
  }
  EXPECT_EQ(retry_delay_ms(1, 100, 0.0), 50);
  EXPECT_EQ(retry_delay_ms(1, 100, 1.0), 100);
  EXPECT_EQ(retry_delay_ms(2, 100, 0.5), 150);
}

TEST(LockwaitBackoff, JitterOutOfRangeIsClamped) {
  EXPECT_EQ(retry_delay_ms(1, 100, -3.0), 50);
  EXPECT_EQ(retry_delay_ms(1, 100, 7.0), 100);
  EXPECT_EQ(retry_delay_ms(1, 100, std::nan("")), 50);
}

TEST(LockwaitTimeout, ZdmTimeoutAppliesWhenSessionWaitsForever) {
  EXPECT_EQ(effective_lock_timeout_ms(1000, 0), 1000);
}

TEST(LockwaitTimeout, SmallerSessionTimeoutWins) {
  EXPECT_EQ(effective_lock_timeout_ms(1000, 200), 0);   // keep the session's 200 ms
  EXPECT_EQ(effective_lock_timeout_ms(1000, 1000), 0);  // equal: nothing to change
}

TEST(LockwaitTimeout, LargerSessionTimeoutIsBounded) {
  EXPECT_EQ(effective_lock_timeout_ms(1000, 5000), 1000);
}

TEST(LockwaitTimeout, ZeroDisables) {
  EXPECT_EQ(effective_lock_timeout_ms(0, 0), 0);
  EXPECT_EQ(effective_lock_timeout_ms(0, 5000), 0);
}
