// The lock-safe DDL room's door: zdm.lock_timeout, zdm.lock_retries, zdm.lock_retry_delay, and the
// retry loop the ProcessUtility hook runs a DDL statement through.
//
// A DDL statement that needs a lock stronger than SHARE UPDATE EXCLUSIVE on an existing relation
// runs with lock_timeout bounded by zdm.lock_timeout, each attempt in its own subtransaction; when the
// lock wait times out, the attempt is rolled back, a NOTICE names the blockers, and after a pause
// (exponential backoff with jitter) the statement is tried again, up to zdm.lock_retries times.
//
// Statements that cannot run in a transaction block (VACUUM, CREATE INDEX CONCURRENTLY, REINDEX ...
// CONCURRENTLY, ...) get the bounded lock_timeout for the whole statement but no retry: no
// subtransaction can hold them. A lock timeout fails them with 55P03 and a HINT on retrying by hand.
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
  // What the statement gets: bounded attempts with retries, or (a statement that cannot run in a
  // transaction block) the bounded lock_timeout alone. A Retry plan lists the relations it locks
  // stronger than SUE; a TimeoutOnly plan the relations it names (for the autovacuum cancel).
  enum class Kind { Retry, TimeoutOnly };
  // What to say after a lock timeout of a TimeoutOnly statement.
  enum class Leftover { None, InvalidIndex, ReindexCopies, DroppedIndex };
  Kind kind = Kind::Retry;
  Leftover leftover = Leftover::None;
  int relations = 0;                      // the relations described above
  Oid relids[kMaxRelations] = {};
  LOCKMODE modes[kMaxRelations] = {};
  char relation[2 * NAMEDATALEN + 8] = {};  // the first of them, as the user wrote it
  char command[64] = {};                    // command tag ("ALTER TABLE", "VACUUM")
  char index[2 * NAMEDATALEN + 8] = {};     // CREATE INDEX CONCURRENTLY: the index, when named
};

// Whether lock-safe DDL applies to this statement; if so fills `plan`. Raises no error of its own:
// a statement it cannot analyse simply runs as it would without zdm.
bool plan_statement(Node* parsetree, ProcessUtilityContext context, Plan* plan);

// Runs the statement through `next` (the previous hook or standard_ProcessUtility) under the plan:
// bounded lock waits, retries in subtransactions, NOTICEs, and the final 55P03 error; for a
// TimeoutOnly plan the bounded lock_timeout alone, restored afterwards in every outcome.
void run(const Plan& plan, ProcessUtility_hook_type next, PlannedStmt* pstmt, const char* query,
         ProcessUtilityContext context, ParamListInfo params, QueryEnvironment* query_env,
         DestReceiver* dest, QueryCompletion* qc);

// For the statement that a ddl_command_start event trigger fires for when the hook did not see it
// (the trigger has just loaded the library: CREATE EXTENSION without preloading). The statement has
// not requested its locks yet; this takes the strong ones the plan names, in bounded attempts with
// retries, NOTICEs and the final 55P03 error as run() does, and leaves them held by the transaction,
// so that the statement then finds them granted. Does nothing for statements lock-safe DDL leaves
// alone. May raise an error (PostgreSQL's longjmp): call it with no C++ object alive in the frame.
void lock_for_event_trigger(Node* parsetree);

// The hook marks the statements it judges, so that the analysis knows whether lock-safe DDL will
// bound the statement's lock wait (rule missing-lock-timeout). The event trigger marks the statement
// it judges the same way when it calls lock_for_event_trigger for it; a statement judged unmarked
// counts as unbounded.
void set_hook_statement(bool through_hook);

// Fills the session's lock_timeout facts of a live statement (for rule missing-lock-timeout).
void fill_session_facts(Node* parsetree, Statement& statement);

}  // namespace zdm::lockwait

static_assert(std::is_trivially_destructible_v<zdm::lockwait::Plan>, "Plan lives in a frame PostgreSQL may longjmp out of");
