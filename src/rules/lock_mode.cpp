#include "rules/model.hpp"

namespace zdm {

// Spellings as in PostgreSQL's lock.c (lock_mode_names) and the LOCK TABLE documentation.
const char* lock_mode_name(LockMode mode) {
  switch (mode) {
    case LockMode::None: return "";
    case LockMode::AccessShare: return "AccessShareLock";
    case LockMode::RowShare: return "RowShareLock";
    case LockMode::RowExclusive: return "RowExclusiveLock";
    case LockMode::ShareUpdateExclusive: return "ShareUpdateExclusiveLock";
    case LockMode::Share: return "ShareLock";
    case LockMode::ShareRowExclusive: return "ShareRowExclusiveLock";
    case LockMode::Exclusive: return "ExclusiveLock";
    case LockMode::AccessExclusive: return "AccessExclusiveLock";
  }
  return "";
}

const char* lock_mode_sql(LockMode mode) {
  switch (mode) {
    case LockMode::None: return "";
    case LockMode::AccessShare: return "ACCESS SHARE";
    case LockMode::RowShare: return "ROW SHARE";
    case LockMode::RowExclusive: return "ROW EXCLUSIVE";
    case LockMode::ShareUpdateExclusive: return "SHARE UPDATE EXCLUSIVE";
    case LockMode::Share: return "SHARE";
    case LockMode::ShareRowExclusive: return "SHARE ROW EXCLUSIVE";
    case LockMode::Exclusive: return "EXCLUSIVE";
    case LockMode::AccessExclusive: return "ACCESS EXCLUSIVE";
  }
  return "";
}

// From the conflict table (lock.c): SELECT takes ACCESS SHARE, which only ACCESS EXCLUSIVE conflicts
// with; INSERT/UPDATE/DELETE take ROW EXCLUSIVE, which SHARE and stronger conflict with.
bool blocks_reads(LockMode mode) { return mode == LockMode::AccessExclusive; }
bool blocks_writes(LockMode mode) { return static_cast<int>(mode) >= static_cast<int>(LockMode::Share); }

const char* severity_name(Severity s) { return s == Severity::Critical ? "critical" : "warning"; }

}  // namespace zdm
