// Internal to the lockwait room: the current values of its settings.
#pragma once

namespace zdm::lockwait {

int setting_lock_timeout_ms();
int setting_lock_retries();
int setting_lock_retry_delay_ms();

// Whether a lock-safe attempt is running (retry.cpp).
bool attempt_running();

}  // namespace zdm::lockwait
