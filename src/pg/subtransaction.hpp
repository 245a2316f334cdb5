// Running a piece of C++ analysis so that a PostgreSQL error inside it is discarded cleanly.
//
// The guard and lock-safe DDL analyse a statement before PostgreSQL runs it. If the analysis hits an
// error (an unknown type, a relation dropped meanwhile), PostgreSQL will report the same error itself
// when it runs the statement; the analysis' own must leave nothing behind. An internal subtransaction
// (as PL/pgSQL's exception blocks use) releases what the failed part held: locks, buffer pins,
// relation and catalog cache references.
#pragma once

#include "pg/boundary.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/resowner.h"
}

namespace zdm::pg {

// Runs `fn` in an internal subtransaction. On a PgError the subtransaction is rolled back, the error
// is logged at DEBUG1 with `what`, and false is returned; on success it is released (what it took,
// such as locks, passes to the caller's transaction) and true is returned. Other exceptions pass
// through after the rollback. The caller's memory context and resource owner are restored either way.
template <typename Fn>
bool in_subtransaction(const char* what, Fn&& fn) {
  MemoryContext caller_context = CurrentMemoryContext;
  ResourceOwner caller_owner = CurrentResourceOwner;
  call([] { BeginInternalSubTransaction(nullptr); });
  MemoryContextSwitchTo(caller_context);
  bool ok = false;
  std::exception_ptr other;
  try {
    fn();
    ok = true;
  } catch (const PgError& e) {
    elog(DEBUG1, "zdm: %s: %s", what, e.what());
  } catch (...) {
    other = std::current_exception();
  }
  if (ok)
    call([] { ReleaseCurrentSubTransaction(); });
  else
    call([] { RollbackAndReleaseCurrentSubTransaction(); });
  MemoryContextSwitchTo(caller_context);
  CurrentResourceOwner = caller_owner;
  if (other) std::rethrow_exception(other);
  return ok;
}

}  // namespace zdm::pg
