// missing-lock-timeout: the session explicitly turned lock_timeout off (SET lock_timeout = 0) and now
// runs a DDL statement that needs ACCESS EXCLUSIVE on an existing table, with nothing to bound the
// wait. If a long transaction holds any lock on the table, the statement queues, and every query on
// the table queues behind it until that transaction ends.
//
// Only in strict mode (the default lock_timeout is 0 too, and warn mode already has zdm's lock-safe
// DDL on by default), and only when zdm.lock_timeout does not bound the wait: lock-safe DDL is off
// (zdm.lock_timeout = 0) or cannot apply (the first statement of a session that loaded zdm through
// CREATE EXTENSION's event trigger).
#include <string>

#include "rules/families.hpp"
#include "rules/rules.hpp"

namespace zdm::rules {

void add_lock_timeout_rules(Rules& r) {
  r.push_back({"missing-lock-timeout", Severity::Critical,
               "SET lock_timeout = 0 followed by DDL that needs ACCESS EXCLUSIVE on an existing table, while "
               "zdm.lock_timeout does not bound the wait: a long transaction makes every query on the table "
               "queue behind the DDL",
               "keep a short lock_timeout (or zdm.lock_timeout) and retry on lock timeout"});
}

void check_lock_timeout(const Statement& st, Findings& out) {
  if (!st.strict_mode || !st.lock_timeout_explicit_zero || st.lock_wait_bounded) return;
  for (const Action& a : st.actions) {
    if (a.lock != LockMode::AccessExclusive || !a.rel.visible_to_others()) continue;
    Finding f;
    f.rule = "missing-lock-timeout";
    f.severity = Severity::Critical;
    f.relation = a.rel.name;
    f.lock = LockMode::AccessExclusive;
    f.message = st.command + " waits without limit for an ACCESS EXCLUSIVE lock on " + a.rel.name;
    f.detail = "lock_timeout is 0 (set by this session) and zdm.lock_timeout " +
               std::string(st.zdm_lock_timeout_ms > 0 ? "does not apply to this statement"
                                                      : "is 0 (lock-safe DDL is off)") +
               ". While it waits, every query on " + a.rel.name + " waits behind it.";
    f.hint = "Bound the wait and let zdm retry:\nSET zdm.lock_timeout = '1s';\n"
             "or set a short lock_timeout and retry on SQLSTATE 55P03 yourself:\nSET lock_timeout = '1s';";
    out.push_back(std::move(f));
    return;  // one finding per statement
  }
}

}  // namespace zdm::rules
