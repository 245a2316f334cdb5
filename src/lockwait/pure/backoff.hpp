// Backoff between lock-safe DDL attempts: exponential in the attempt number, capped, with jitter.
// Pure C++ (no PostgreSQL headers) so that it is unit-tested without a server.
#pragma once
#include "common/cpp_only.hpp"

#include <cstdint>

namespace zdm::lockwait {

// The longest pause between two attempts, whatever zdm.lock_retry_delay and the attempt number say.
constexpr int64_t kMaxRetryDelayMs = 10000;

// The pause before retry number `retry` (1 for the first retry) with base delay `base_ms`:
// the exponential step base * 2^(retry-1), capped at max(base, cap), then "equal jitter": half of the
// step is fixed and the other half scaled by `unit` (a random number in [0, 1)). Equal jitter keeps
// every pause at least half a step, so a retry never comes back at once, and spreads the sessions
// that retry against the same blocker so they do not all re-enter the lock queue together.
// Negative inputs count as 0; `unit` is clamped to [0, 1].
int64_t retry_delay_ms(int retry, int64_t base_ms, double unit, int64_t cap_ms = kMaxRetryDelayMs);

// The exponential step without jitter (the upper bound of retry_delay_ms).
int64_t retry_step_ms(int retry, int64_t base_ms, int64_t cap_ms = kMaxRetryDelayMs);

// The lock_timeout to apply to a statement: zdm's value, unless the session's own lock_timeout is
// smaller and not 0 (0 means "wait forever" in PostgreSQL). Returns 0 when nothing is to be set
// (zdm.lock_timeout is 0, or the session's own value already wins).
int effective_lock_timeout_ms(int zdm_ms, int session_ms);

}  // namespace zdm::lockwait
