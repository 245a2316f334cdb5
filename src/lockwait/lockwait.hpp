// The lock-safe DDL room's door: zdm.lock_timeout, zdm.lock_retries, zdm.lock_retry_delay, and the
// retry loop the ProcessUtility hook runs a DDL statement through.
//
// A DDL statement that needs a lock stronger than SHARE UPDATE EXCLUSIVE on an existing relation
// runs with lock_timeout bounded by zdm.lock_timeout, each attempt in its own subtransaction; when the
// lock wait times out, the attempt is rolled back, a NOTICE names the blockers, and after a pause
// (exponential backoff with jitter) the statement is tried again, up to zdm.lock_retries times.
#pragma once

#include <type_traits>

#include "rules/model.hpp"
#include "pg/postgres.hpp"

extern "C" {
#include "nodes/parsenodes.h"
#include "storage/lockdefs.h"
#include "tcop/utility.h"
}

namespace zdm::lockwait {

// Defines the settings. Called once by _PG_init.
void init();

// What the hook decided for one statement: plain data, so that it can live in the frame that runs
// the statement (which PostgreSQL may leave by longjmp).
struct Plan {
  static constexpr int kMaxRelations = 8;
  int relations = 0;                      // relations the statement locks stronger than SUE
  Oid relids[kMaxRelations] = {};
  LOCKMODE modes[kMaxRelations] = {};
  char relation[2 * NAMEDATALEN + 8] = {};  // the first of them, as the user wrote it
  char command[64] = {};                    // command tag ("ALTER TABLE")
};

// Whether lock-safe DDL applies to this statement; if so fills `plan`. Raises no error of its own:
// a statement it cannot analyse simply runs as it would without zdm.
bool plan_statement(Node* parsetree, ProcessUtilityContext context, Plan* plan);

// Runs the statement through `next` (the previous hook or standard_ProcessUtility) under the plan:
// bounded lock waits, retries in subtransactions, NOTICEs, and the final 55P03 error.
void run(const Plan& plan, ProcessUtility_hook_type next, PlannedStmt* pstmt, const char* query,
         ProcessUtilityContext context, ParamListInfo params, QueryEnvironment* query_env,
         DestReceiver* dest, QueryCompletion* qc);

// The hook marks the statements it judges, so that the analysis knows whether lock-safe DDL will
// bound the statement's lock wait (the event trigger's first statement is not bounded).
void set_hook_statement(bool through_hook);

// Fills the session's lock_timeout facts of a live statement (for rule missing-lock-timeout).
void fill_session_facts(Node* parsetree, Statement& statement);

}  // namespace zdm::lockwait

static_assert(std::is_trivially_destructible_v<zdm::lockwait::Plan>, "Plan lives in a frame PostgreSQL may longjmp out of");
