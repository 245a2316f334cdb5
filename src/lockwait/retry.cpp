// The retry loop of lock-safe DDL.
//
// Written in PostgreSQL's own C style on purpose: the statement runs in this frame, PostgreSQL leaves
// it by longjmp, so no C++ object with a destructor may be alive here. Each attempt follows PL/pgSQL's
// exception block (pl_exec.c: exec_stmt_block): BeginInternalSubTransaction, run, and on error
// CopyErrorData, FlushErrorState, RollbackAndReleaseCurrentSubTransaction and restore the memory
// context and resource owner. A failed attempt so leaves nothing behind, and the locks taken by
// earlier statements of the transaction stay held. The bounded lock_timeout is set at a GUC nest level
// of its own (as a function's SET clause is, fmgr.c: fmgr_security_definer) and so ends with the
// attempt, whatever its outcome.
#include <cerrno>
#include <csignal>

#include "lockwait/lockwait.hpp"
#include "lockwait/pure/backoff.hpp"
#include "lockwait/settings.hpp"

extern "C" {
#include "access/twophase.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

namespace zdm::lockwait {

namespace {

// > 0 while an attempt runs: a DDL statement run by that statement (an event trigger's, say) is
// already bounded by the attempt's lock_timeout and retried with it, so it gets no loop of its own.
int attempt_depth = 0;

// Longest part of a blocker's query shown in messages.
constexpr int kQueryChars = 200;

const char* state_name(BackendState state) {
  switch (state) {
    case STATE_IDLE: return "idle";
    case STATE_RUNNING: return "active";
    case STATE_IDLEINTRANSACTION: return "idle in transaction";
    case STATE_FASTPATH: return "fastpath function call";
    case STATE_IDLEINTRANSACTION_ABORTED: return "idle in transaction (aborted)";
    case STATE_DISABLED: return "disabled";
    default: return "unknown state";
  }
}

PgBackendStatus* find_backend(int pid) {
  int n = pgstat_fetch_stat_numbackends();
  for (int i = 1; i <= n; i++) {
    LocalPgBackendStatus* local = pgstat_fetch_stat_local_beentry(i);
    if (local != nullptr && local->backendStatus.st_procpid == pid) return &local->backendStatus;
  }
  return nullptr;
}

// One line per blocker: "pid 123 (idle in transaction, application_name reader): SELECT ...".
// State and query are shown under pg_stat_activity's rule, as zdm.lock_report shows them (the same
// role or pg_read_all_stats: pgstatfuncs.c HAS_PGSTAT_PERMISSIONS); application_name always, as there.
void describe_backend(StringInfo out, int pid, PgBackendStatus* be, bool* idle_in_transaction) {
  appendStringInfo(out, "pid %d", pid);
  if (be == nullptr) return;
  bool visible = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS) || has_privs_of_role(GetUserId(), be->st_userid);
  if (visible && (be->st_state == STATE_IDLEINTRANSACTION || be->st_state == STATE_IDLEINTRANSACTION_ABORTED))
    *idle_in_transaction = true;
  bool has_app = be->st_appname != nullptr && be->st_appname[0] != '\0';
  if (visible || has_app) {
    appendStringInfoString(out, " (");
    if (visible) appendStringInfoString(out, state_name(be->st_state));
    if (has_app) appendStringInfo(out, "%sapplication_name %s", visible ? ", " : "", be->st_appname);
    appendStringInfoChar(out, ')');
  }
  if (visible) {
    char* query = pgstat_clip_activity(be->st_activity_raw);
    if (query != nullptr && query[0] != '\0') {
      appendStringInfoString(out, ": ");
      int shown = 0;
      for (const char* p = query; *p != '\0'; p++) {
        if (shown == kQueryChars) {
          appendStringInfoString(out, "...");
          break;
        }
        appendStringInfoChar(out, (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p);
        // count characters, not bytes, for multibyte text
        if ((static_cast<unsigned char>(*p) & 0xC0) != 0x80) shown++;
      }
    }
  } else {
    appendStringInfoString(out, ": <insufficient privilege>");
  }
}

// The gid of a prepared transaction, from pg_prepared_xacts (twophase.c keeps GlobalTransactionData
// private), or nullptr. Allocated in the caller's memory context.
char* prepared_gid(TransactionId xid) {
  MemoryContext caller_context = CurrentMemoryContext;
  char* gid = nullptr;
  Oid argtypes[1] = {XIDOID};
  Datum values[1] = {TransactionIdGetDatum(xid)};
  if (SPI_connect() != SPI_OK_CONNECT) return nullptr;
  if (SPI_execute_with_args("SELECT gid FROM pg_catalog.pg_prepared_xacts WHERE transaction = $1", 1, argtypes,
                            values, nullptr, true, 1) == SPI_OK_SELECT &&
      SPI_processed == 1) {
    char* value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    if (value != nullptr) gid = MemoryContextStrdup(caller_context, value);
  }
  SPI_finish();
  return gid;
}

// Cancels an autovacuum worker that holds a conflicting lock, as ProcSleep does once a lock wait has
// lasted deadlock_timeout (proc.c: DS_BLOCKED_BY_AUTOVACUUM): a worker vacuuming to prevent wraparound
// is left alone. Lock-safe DDL needs it because an attempt gives up after zdm.lock_timeout, which is
// usually no longer than deadlock_timeout: the wait would end before PostgreSQL's own cancel, and the
// DDL would time out against autovacuum attempt after attempt. Returns whether it sent the cancel.
bool cancel_autovacuum(PGPROC* proc) {
  // PGPROC.statusFlags mirrors ProcGlobal->statusFlags[pgxactoff] and, unlike the index, stays
  // meaningful for a process that is leaving the proc array; both change under ProcArrayLock.
  LWLockAcquire(ProcArrayLock, LW_SHARED);
  uint8 flags = proc->statusFlags;
  int pid = proc->pid;
  LWLockRelease(ProcArrayLock);
  if (!(flags & PROC_IS_AUTOVACUUM) || (flags & PROC_VACUUM_FOR_WRAPAROUND) || pid == 0) return false;
  // The worker may be gone by now, and its pid reused only in a far-fetched race (proc.c says the same).
  if (kill(pid, SIGINT) < 0 && errno != ESRCH)
    ereport(WARNING, (errmsg("could not send signal to process %d: %m", pid)));
  return true;
}

// Calls holder(xid, proc) for each transaction holding a lock that conflicts with one the plan needs
// on its relations (lock.c GetLockConflicts, as WaitForLockers uses it): a prepared transaction as its
// xid (it keeps the virtual xid of the session that prepared it, twophase.c MarkAsPreparingGuts, so it
// is looked for first: that session may be us, or gone) with proc nullptr; any other as its PGPROC,
// never this backend's. `holder` must be trivially destructible: this runs between PostgreSQL calls.
template <typename Fn>
void for_each_conflicting_holder(const Plan& plan, Fn&& holder) {
  for (int r = 0; r < plan.relations; r++) {
    LOCKTAG tag;
    SET_LOCKTAG_RELATION(tag, MyDatabaseId, plan.relids[r]);
    VirtualTransactionId* vxids = GetLockConflicts(&tag, plan.modes[r], nullptr);
    for (; VirtualTransactionIdIsValid(*vxids); vxids++) {
      bool more = false;
      TransactionId xid = TwoPhaseGetXidByVirtualXID(*vxids, &more);
      if (TransactionIdIsValid(xid)) {
        holder(xid, static_cast<PGPROC*>(nullptr));
        continue;
      }
      PGPROC* proc = BackendIdGetProc(vxids->backendId);
      if (proc != nullptr && proc->pid != 0 && proc != MyProc) holder(InvalidTransactionId, proc);
    }
  }
}

// Before a TimeoutOnly statement: cancels the autovacuum workers that hold a lock conflicting with the
// one it takes on a relation it names. It gets no retry, so cancelling after its timeout (as
// retry_loop does) would come too late; PostgreSQL would cancel them after deadlock_timeout anyway.
void cancel_blocking_autovacuum(const Plan& plan) {
  for_each_conflicting_holder(plan, [&](TransactionId, PGPROC* proc) {
    if (proc != nullptr && cancel_autovacuum(proc))
      ereport(NOTICE, (errmsg("cancelled autovacuum worker %d, which held a lock %s needs", proc->pid,
                              plan.command)));
  });
}

// The sessions that hold a lock conflicting with the one the statement needs, one per line.
// Taken after the failed attempt was rolled back: by then this backend no longer waits, so
// pg_blocking_pids(pg_backend_pid()) would be empty; the holders of conflicting locks on the
// statement's relations (lock.c: GetLockConflicts, as WaitForLockers uses it) are the same sessions.
// With `cancel` (a retry follows), a blocking autovacuum worker is cancelled (cancel_autovacuum).
void describe_blockers(const Plan& plan, TimestampTz waiting_since, bool cancel, StringInfo out,
                       bool* idle_in_transaction, bool* prepared) {
  int pids[64];
  bool cancelled[64];
  int npids = 0;
  TransactionId xids[16];
  int nxids = 0;
  for_each_conflicting_holder(plan, [&](TransactionId xid, PGPROC* proc) {
    if (proc == nullptr) {
      bool known = false;
      for (int i = 0; i < nxids; i++) known = known || xids[i] == xid;
      if (!known && nxids < 16) xids[nxids++] = xid;
      return;
    }
    bool known = false;
    for (int i = 0; i < npids; i++) known = known || pids[i] == proc->pid;
    if (known || npids == 64) return;
    cancelled[npids] = cancel && cancel_autovacuum(proc);
    pids[npids++] = proc->pid;
  });
  pgstat_clear_backend_activity_snapshot();  // fresh states, not those cached earlier in the transaction
  // Sessions whose transaction began after this attempt started waiting did not block it: they got
  // their lock once it left the queue (busy readers of the table). Name only the others, unless no
  // other is left.
  int named = 0;
  for (int pass = 0; pass < 2 && named == 0; pass++) {
    for (int i = 0; i < npids; i++) {
      PgBackendStatus* be = find_backend(pids[i]);
      if (pass == 0 && be != nullptr && be->st_xact_start_timestamp > waiting_since) continue;
      if (out->len > 0) appendStringInfoChar(out, '\n');
      appendStringInfoString(out, "Blocked by ");
      describe_backend(out, pids[i], be, idle_in_transaction);
      if (cancelled[i]) appendStringInfoString(out, " (autovacuum worker: cancelled)");
      named++;
    }
    if (nxids > 0) break;  // prepared transactions are named below
  }
  for (int i = 0; i < nxids; i++) {
    if (out->len > 0) appendStringInfoChar(out, '\n');
    char* gid = prepared_gid(xids[i]);
    if (gid != nullptr)
      appendStringInfo(out, "Blocked by prepared transaction %s", quote_literal_cstr(gid));
    else
      appendStringInfo(out, "Blocked by prepared transaction %u (see pg_prepared_xacts)", xids[i]);
    *prepared = true;
  }
  if (npids == 0 && nxids == 0) appendStringInfoString(out, "No session holds a conflicting lock any more.");
}

// The pause between attempts: WaitLatch so that a cancel or terminate is served at once.
void pause_ms(int64 ms) {
  TimestampTz end = GetCurrentTimestamp() + ms * 1000;
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    long left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end);
    if (left <= 0) break;
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}

// What an attempt runs: the statement through the next hook, or (for a statement an event trigger
// fires for, which PostgreSQL itself will run next) only the locking of the plan's relations. Plain
// pointers and values: it lives in frames PostgreSQL may leave by longjmp.
struct Body {
  const Plan* plan;
  ProcessUtility_hook_type next;  // nullptr: lock the plan's relations only
  PlannedStmt* pstmt;
  const char* query;
  ProcessUtilityContext context;
  ParamListInfo params;
  QueryEnvironment* query_env;
  DestReceiver* dest;
  QueryCompletion* qc;
};

static_assert(std::is_trivially_destructible_v<Body>, "Body lives in frames PostgreSQL may longjmp out of");

// Runs the body once in a subtransaction with the bounded lock_timeout. Returns nullptr on success,
// or the error of a lock timeout (in the caller's memory context); any other error is re-thrown.
ErrorData* attempt(const Body& body, int timeout_ms) {
  MemoryContext volatile caller_context = CurrentMemoryContext;
  ResourceOwner volatile caller_owner = CurrentResourceOwner;
  ErrorData* volatile error = nullptr;
  int depth_before = attempt_depth;

  BeginInternalSubTransaction(nullptr);
  MemoryContextSwitchTo(caller_context);
  PG_TRY();
  {
    int nest_level = NewGUCNestLevel();
    if (timeout_ms > 0) {
      char value[32];
      snprintf(value, sizeof(value), "%d", timeout_ms);
      (void)set_config_option("lock_timeout", value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
                              false);
    }
    attempt_depth++;
    if (body.next != nullptr) {
      // read_only_tree = true: standard_ProcessUtility then works on a copy, so that a retry gets the
      // parse tree as it was (utility commands may scribble on theirs).
      body.next(body.pstmt, body.query, true, body.context, body.params, body.query_env, body.dest, body.qc);
    } else {
      // The statement itself takes these locks next; held by the transaction, they are then granted
      // at once (lock.c: LockAcquireExtended finds them in the local lock table).
      for (int r = 0; r < body.plan->relations; r++) LockRelationOid(body.plan->relids[r], body.plan->modes[r]);
    }
    attempt_depth--;
    AtEOXact_GUC(true, nest_level);
    ReleaseCurrentSubTransaction();  // a successful attempt's locks pass to the enclosing transaction
    MemoryContextSwitchTo(caller_context);
    CurrentResourceOwner = caller_owner;
  }
  PG_CATCH();
  {
    attempt_depth = depth_before;
    MemoryContextSwitchTo(caller_context);
    error = CopyErrorData();
    FlushErrorState();
    RollbackAndReleaseCurrentSubTransaction();  // also unwinds the GUC nest level
    MemoryContextSwitchTo(caller_context);
    CurrentResourceOwner = caller_owner;
  }
  PG_END_TRY();

  if (error != nullptr && error->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE) ReThrowError(error);
  return error;
}

// Bounded attempts with retries: the NOTICE per retry, the pause, and the final 55P03 error.
void retry_loop(const Body& body) {
  const Plan& plan = *body.plan;
  int timeout_ms = effective_lock_timeout_ms(setting_lock_timeout_ms(), LockTimeout);
  int shown_timeout_ms = timeout_ms > 0 ? timeout_ms : LockTimeout;
  int retries = setting_lock_retries();

  for (int retry = 0;; retry++) {
    TimestampTz attempt_start = GetCurrentTimestamp();
    ErrorData* error = attempt(body, timeout_ms);
    if (error == nullptr) return;

    StringInfoData blockers;
    initStringInfo(&blockers);
    bool idle_in_transaction = false;
    bool prepared = false;
    describe_blockers(plan, attempt_start, retry < retries, &blockers, &idle_in_transaction, &prepared);

    if (retry >= retries) {
      ereport(ERROR,
              (errcode(ERRCODE_LOCK_NOT_AVAILABLE),
               errmsg("%s could not lock %s: %d attempt%s timed out after %d ms each", plan.command, plan.relation,
                      retry + 1, retry == 0 ? "" : "s", shown_timeout_ms),
               errdetail_internal("%s", blockers.data),
               idle_in_transaction
                   ? errhint("End the idle transaction that holds the lock (pg_terminate_backend(pid)), "
                             "or run the statement at a quieter time; zdm.lock_retries and "
                             "zdm.lock_retry_delay allow more and longer attempts.")
               : prepared
                   ? errhint("Finish the prepared transaction (COMMIT PREPARED or ROLLBACK PREPARED with the "
                             "gid above), then run the statement again.")
                   : errhint("Run the statement at a quieter time, or wait for the blocking statement to "
                             "finish; zdm.lock_retries and zdm.lock_retry_delay allow more and longer "
                             "attempts.")));
    }
    FreeErrorData(error);

    if (IsTransactionBlock())
      appendStringInfoString(&blockers, "\nLocks taken by earlier statements of this transaction are held "
                                        "while it waits.");
    ereport(NOTICE, (errmsg("%s timed out waiting %d ms for a lock on %s, retry %d of %d", plan.command,
                            shown_timeout_ms, plan.relation, retry + 1, retries),
                     errdetail_internal("%s", blockers.data)));
    pfree(blockers.data);
    pause_ms(retry_delay_ms(retry + 1, setting_lock_retry_delay_ms(), pg_prng_double(&pg_global_prng_state)));
  }
}

// A statement that cannot run in a transaction block, under the bounded lock_timeout, once.
//
// Such a statement commits internally (vacuum.c: vacuum, indexcmds.c: DefineIndex and
// ReindexRelationConcurrently), so a GUC set at a nest level, or by SET, would not last or would not
// be undone: the first internal commit ends a nest level and makes a SET the session's value, and an
// error in a later internal transaction rolls back only to that value (guc.c: AtEOXact_GUC). So the
// bound is written to lock_timeout's variable, which ProcSleep reads at each wait (proc.c), and the
// session's value is written back on the way out, on success and on error: no GUC stack entry is
// made, so no commit or abort in between can keep or restore anything else. The statement runs no
// SET lock_timeout of its own (it is not a transaction block), so nothing else writes the variable
// meanwhile; a function's SET clause inside it saves and restores the variable's current value.
void run_timeout_only(const Body& body) {
  const Plan& plan = *body.plan;
  const int session_ms = LockTimeout;
  int timeout_ms = effective_lock_timeout_ms(setting_lock_timeout_ms(), session_ms);
  MemoryContext volatile caller_context = CurrentMemoryContext;
  ErrorData* volatile error = nullptr;

  cancel_blocking_autovacuum(plan);
  if (timeout_ms > 0) LockTimeout = timeout_ms;
  PG_TRY();
  {
    body.next(body.pstmt, body.query, true, body.context, body.params, body.query_env, body.dest, body.qc);
  }
  PG_CATCH();
  {
    LockTimeout = session_ms;
    MemoryContextSwitchTo(caller_context);
    ErrorData* e = CopyErrorData();
    if (e->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE) {
      FreeErrorData(e);
      PG_RE_THROW();
    }
    FlushErrorState();
    error = e;
  }
  PG_END_TRY();
  LockTimeout = session_ms;
  if (error == nullptr) return;

  // The lock timeout, with what bounded it and how to retry: PostgreSQL's own message and SQLSTATE
  // are kept, the DETAIL and HINT are zdm's.
  ErrorData* e = error;
  if (e->detail == nullptr)
    e->detail = timeout_ms > 0
                    ? psprintf("zdm.lock_timeout bounded the lock wait to %d ms. %s cannot run in a transaction "
                               "block, so zdm does not retry it.",
                               timeout_ms, plan.command)
                    : psprintf("The session's lock_timeout (%d ms, smaller than zdm.lock_timeout) bounded the lock "
                               "wait. %s cannot run in a transaction block, so zdm does not retry it.",
                               session_ms, plan.command);
  if (e->hint == nullptr) {
    switch (plan.leftover) {
      case Plan::Leftover::InvalidIndex:
        e->hint = plan.index[0] != '\0'
                      ? psprintf("Drop the INVALID index it may have left, then run it again at a quieter time:\n"
                                 "DROP INDEX CONCURRENTLY IF EXISTS %s;",
                                 plan.index)
                      : psprintf("Drop the INVALID index it may have left (SELECT indexrelid::regclass FROM "
                                 "pg_index WHERE NOT indisvalid), with DROP INDEX CONCURRENTLY, then run it "
                                 "again at a quieter time.");
        break;
      case Plan::Leftover::ReindexCopies:
        e->hint = psprintf("Drop the INVALID copies it may have left (indexes named *_ccnew or *_ccold: SELECT "
                           "indexrelid::regclass FROM pg_index WHERE NOT indisvalid), with DROP INDEX "
                           "CONCURRENTLY, then run it again at a quieter time.");
        break;
      case Plan::Leftover::DroppedIndex:
        e->hint = psprintf("Run the same statement again at a quieter time: it finishes dropping the index, "
                           "which it may have left INVALID.");
        break;
      case Plan::Leftover::None:
        e->hint = psprintf("Run it again at a quieter time, or retry it from the client on SQLSTATE 55P03; "
                           "SET zdm.lock_timeout = 0 lets it wait as long as it must.");
        break;
    }
  }
  ReThrowError(e);
}

}  // namespace

bool attempt_running() { return attempt_depth > 0; }

void run(const Plan& plan, ProcessUtility_hook_type next, PlannedStmt* pstmt, const char* query,
         ProcessUtilityContext context, ParamListInfo params, QueryEnvironment* query_env,
         DestReceiver* dest, QueryCompletion* qc) {
  Body body = {&plan, next, pstmt, query, context, params, query_env, dest, qc};
  if (plan.kind == Plan::Kind::TimeoutOnly)
    run_timeout_only(body);
  else
    retry_loop(body);
}

void lock_for_event_trigger(Node* parsetree) {
  Plan plan;
  if (!plan_statement(parsetree, PROCESS_UTILITY_TOPLEVEL, &plan) || plan.kind != Plan::Kind::Retry) return;
  Body body = {&plan, nullptr, nullptr, nullptr, PROCESS_UTILITY_TOPLEVEL, nullptr, nullptr, nullptr, nullptr};
  retry_loop(body);
}

}  // namespace zdm::lockwait
