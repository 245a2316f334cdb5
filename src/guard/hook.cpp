// The ProcessUtility hook and the ddl_command_start event trigger: the guard's two ways in.
//
// With the library preloaded (shared_preload_libraries, session_preload_libraries or LOAD) the hook
// judges every utility statement before standard_ProcessUtility requests any lock. With only
// CREATE EXTENSION, the extension's event trigger calls zdm.guard_ddl_command_start(), which loads
// the library (installing the hook for the rest of the session) and judges the statement it fires
// for; ddl_command_start fires before ProcessUtilitySlow opens the target relation, so strict mode
// still rejects before the lock queue.
#include <algorithm>
#include <string>
#include <vector>

#include "guard/guard.hpp"
#include "guard/hook.hpp"
#include "lockwait/lockwait.hpp"
#include "pg/boundary.hpp"
#include "pg/subtransaction.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
}

namespace zdm::guard {

namespace {

ProcessUtility_hook_type prev_process_utility = nullptr;
bool hooks_installed = false;

// > 0 while a statement that the hook has judged runs; the event trigger then has nothing to do.
int hook_depth = 0;

// Relations locked ACCESS EXCLUSIVE by earlier statements of the current transaction, with the
// subtransaction that took the lock (a rolled-back savepoint releases it).
struct HeldLock {
  std::string relation;
  SubTransactionId subxact;
};
std::vector<HeldLock> held_locks;
std::vector<std::string> held_names;  // view of held_locks for Statement

// The last statement judge_and_report() analysed, for reusable_analysis(): keyed by the parse tree and
// the transaction and command it was analysed in, so that a statement whose judgement ended in an
// error (strict mode) can never hand its analysis to a later statement whose tree reuses the address.
struct LastAnalysis {
  Node* parsetree = nullptr;
  LocalTransactionId lxid = InvalidLocalTransactionId;
  CommandId cid = InvalidCommandId;
  Statement statement;
};
LastAnalysis last_analysis;

void on_xact(XactEvent, void*) {
  held_locks.clear();
  held_names.clear();
}

void on_subxact(SubXactEvent event, SubTransactionId my_subid, SubTransactionId, void*) {
  if (event != SUBXACT_EVENT_ABORT_SUB) return;
  held_locks.erase(std::remove_if(held_locks.begin(), held_locks.end(),
                                  [&](const HeldLock& h) { return h.subxact == my_subid; }),
                   held_locks.end());
  held_names.clear();
  for (const auto& h : held_locks) held_names.push_back(h.relation);
}

bool should_judge(Node* node, ProcessUtilityContext context) {
  if (mode() == Mode::Off) return false;
  if (context == PROCESS_UTILITY_SUBCOMMAND) return false;  // parts of a statement already judged
  if (creating_extension) return false;                      // extension scripts
  if (IsAbortedTransactionBlockState()) return false;        // the statement will fail anyway
  if (!IsTransactionState()) return false;
  return analyzes(node);  // node types no analysis knows return at once
}

// Whether `rv` names a relation of this session's temporary schema. A plain lookup with no lock
// (RangeVarGetRelid, missing_ok) and the pg_class entry; a relation not found, or gone by then, is not.
bool own_temporary(RangeVar* rv) {
  Oid relid = RangeVarGetRelid(rv, NoLock, true);
  if (!OidIsValid(relid)) return false;
  HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
  if (!HeapTupleIsValid(tup)) return false;
  auto* form = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup));
  bool own = form->relpersistence == RELPERSISTENCE_TEMP && isTempOrTempToastNamespace(form->relnamespace);
  ReleaseSysCache(tup);
  return own;
}

// Whether the statement can reach nothing but this session's own temporary relations (or a table it
// creates), while the transaction holds no ACCESS EXCLUSIVE lock on a shared one: then no rule can
// flag it (nobody else can see those relations, and statement-after-access-exclusive needs such a
// lock) and lock-safe DDL has nothing to bound, so the hook skips both, without a subtransaction.
// Covers the statements a
// temporary table's life is made of: ALTER TABLE (except INHERIT / NO INHERIT, which reach a parent
// that may be permanent; PostgreSQL keeps a temporary table's partitions and foreign-key partners
// temporary), CREATE INDEX (not CONCURRENTLY) and DROP of relations, and a CREATE TABLE (temporary
// or not) that names no other relation. Anything else, or a name that does not resolve, takes the full
// path.
//
// Plain C: it holds no C++ object, so an ERROR raised by a lookup (one PostgreSQL's own lookup of the
// same name would raise a moment later) leaves through it as from PostgreSQL code.
bool reaches_nothing_shared(Node* node) {
  if (!held_names.empty()) return false;
  if (IsA(node, AlterTableStmt)) {
    auto* stmt = castNode(AlterTableStmt, node);
    ListCell* lc;
    foreach (lc, stmt->cmds) {
      AlterTableType t = lfirst_node(AlterTableCmd, lc)->subtype;
      if (t == AT_AddInherit || t == AT_DropInherit) return false;
    }
    return stmt->relation != nullptr && own_temporary(stmt->relation);
  }
  if (IsA(node, CreateStmt)) {
    // A new table that names no other relation: no parent (INHERITS, PARTITION OF), no LIKE
    // source, no REFERENCES. It reaches nothing that exists, temporary or not.
    auto* stmt = castNode(CreateStmt, node);
    if (stmt->inhRelations != NIL || stmt->partbound != nullptr) return false;
    ListCell* lc;
    foreach (lc, stmt->constraints) {
      if (lfirst_node(Constraint, lc)->contype == CONSTR_FOREIGN) return false;
    }
    foreach (lc, stmt->tableElts) {
      Node* elt = static_cast<Node*>(lfirst(lc));
      if (IsA(elt, Constraint) && castNode(Constraint, elt)->contype != CONSTR_FOREIGN) continue;
      if (!IsA(elt, ColumnDef)) return false;  // LIKE, or a table FOREIGN KEY
      ListCell* cc;
      foreach (cc, castNode(ColumnDef, elt)->constraints) {
        if (lfirst_node(Constraint, cc)->contype == CONSTR_FOREIGN) return false;
      }
    }
    return true;
  }
  if (IsA(node, IndexStmt)) {
    auto* stmt = castNode(IndexStmt, node);
    return !stmt->concurrent && stmt->relation != nullptr && own_temporary(stmt->relation);
  }
  if (IsA(node, DropStmt)) {
    auto* stmt = castNode(DropStmt, node);
    switch (stmt->removeType) {
      case OBJECT_TABLE:
      case OBJECT_INDEX:
      case OBJECT_SEQUENCE:
      case OBJECT_VIEW:
      case OBJECT_MATVIEW:
        break;
      default:
        return false;
    }
    if (stmt->objects == NIL) return false;
    ListCell* lc;
    foreach (lc, stmt->objects) {
      if (!own_temporary(makeRangeVarFromNameList(castNode(List, lfirst(lc))))) return false;
    }
    return true;
  }
  return false;
}

std::string statement_text(const char* query, int location, int length) {
  if (query == nullptr) return {};
  std::string all(query);
  if (location < 0 || static_cast<size_t>(location) > all.size()) return all;
  if (length <= 0) return all.substr(static_cast<size_t>(location));
  return all.substr(static_cast<size_t>(location), static_cast<size_t>(length));
}

// The judging half of the hook, in a frame of its own so that no C++ object is alive in the frame
// that runs the statement (standard_ProcessUtility may longjmp).
void judge_for_hook(PlannedStmt* pstmt, const char* query) {
  pg::guarded([&] {
    judge_and_report(pstmt->utilityStmt, statement_text(query, pstmt->stmt_location, pstmt->stmt_len));
  });
}

void zdm_process_utility(PlannedStmt* pstmt, const char* query, bool read_only_tree,
                         ProcessUtilityContext context, ParamListInfo params, QueryEnvironment* query_env,
                         DestReceiver* dest, QueryCompletion* qc) {
  forget_analysis();
  // Lock-safe DDL: a statement that needs a strong lock on an existing relation runs through the
  // retry loop (bounded lock waits, retries in subtransactions), planned from the analysis just made.
  // The plan is plain data: nothing with a destructor lives in this frame, which
  // standard_ProcessUtility may leave by longjmp.
  lockwait::Plan plan;
  bool lock_safe = false;
  bool skip = context != PROCESS_UTILITY_SUBCOMMAND && IsTransactionState() && !IsAbortedTransactionBlockState() &&
              reaches_nothing_shared(pstmt->utilityStmt);
  if (!skip) {
    lockwait::set_hook_statement(true);
    if (should_judge(pstmt->utilityStmt, context)) judge_for_hook(pstmt, query);
    lockwait::set_hook_statement(false);
    lock_safe = lockwait::plan_statement(pstmt->utilityStmt, context, &plan);
    forget_analysis();
  }
  ProcessUtility_hook_type next = prev_process_utility ? prev_process_utility : standard_ProcessUtility;

  hook_depth++;
  PG_TRY();
  {
    if (lock_safe)
      lockwait::run(plan, next, pstmt, query, context, params, query_env, dest, qc);
    else
      next(pstmt, query, read_only_tree, context, params, query_env, dest, qc);
  }
  PG_FINALLY();
  { hook_depth--; }
  PG_END_TRY();
}

}  // namespace

bool hook_depth_active() { return hook_depth > 0; }

void forget_analysis() { last_analysis.parsetree = nullptr; }

const Statement* reusable_analysis(Node* parsetree) {
  if (parsetree == nullptr || last_analysis.parsetree != parsetree || last_analysis.lxid != MyProc->lxid ||
      last_analysis.cid != GetCurrentCommandId(false))
    return nullptr;
  return &last_analysis.statement;
}

bool event_trigger_should_judge(Node* parsetree) {
  return should_judge(parsetree, PROCESS_UTILITY_TOPLEVEL);
}

void install_hooks() {
  if (hooks_installed) return;
  hooks_installed = true;
  prev_process_utility = ProcessUtility_hook;
  ProcessUtility_hook = zdm_process_utility;
  RegisterXactCallback(on_xact, nullptr);
  RegisterSubXactCallback(on_subxact, nullptr);
}

const std::vector<std::string>& held_access_exclusive() { return held_names; }

void remember_access_exclusive(const Statement& statement) {
  if (!IsTransactionBlock()) return;  // an implicit transaction ends with the statement
  for (const auto& action : statement.actions) {
    if (action.lock != LockMode::AccessExclusive || !action.rel.visible_to_others())
      continue;
    bool known = std::any_of(held_locks.begin(), held_locks.end(),
                             [&](const HeldLock& h) { return h.relation == action.rel.name; });
    if (known) continue;
    held_locks.push_back({action.rel.name, GetCurrentSubTransactionId()});
    held_names.push_back(action.rel.name);
  }
}

void judge_and_report(Node* parsetree, const std::string& text) {
  forget_analysis();
  AnalysisContext context;
  context.in_transaction_block = IsTransactionBlock();
  // statement-after-access-exclusive judges every statement while such a lock is held.
  context.skip_temporary_detail = held_access_exclusive().empty();

  // Analyse in a subtransaction: if the analysis hits an error (an unknown type, say), PostgreSQL
  // will report the same error itself when it runs the statement, so ours is discarded cleanly.
  // The analysis is kept for lock-safe DDL, which plans this same statement next (the session facts
  // added below do not change its plan).
  Statement& statement = last_analysis.statement;
  bool analysed = pg::in_subtransaction("statement not judged", [&] { statement = analyze(parsetree, text, context); });
  if (!analysed) return;
  last_analysis.parsetree = parsetree;
  last_analysis.lxid = MyProc->lxid;
  last_analysis.cid = GetCurrentCommandId(false);

  statement.held_access_exclusive = held_access_exclusive();
  lockwait::fill_session_facts(parsetree, statement);
  JudgeOptions options;
  options.ignore_below_bytes = ignore_below_bytes();
  std::vector<Finding> findings = judge(statement, options);
  // Remember the lock before reporting: in warn mode the statement runs and holds it.
  remember_access_exclusive(statement);
  if (!findings.empty()) report(findings, text, mode());
}

}  // namespace zdm::guard

// The event trigger's function: zdm.guard_ddl_command_start() RETURNS event_trigger.
extern "C" {
PG_FUNCTION_INFO_V1(zdm_guard_ddl_command_start);
Datum zdm_guard_ddl_command_start(PG_FUNCTION_ARGS);
}

Datum zdm_guard_ddl_command_start(PG_FUNCTION_ARGS) {
  if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("zdm.guard_ddl_command_start() must be called as an event trigger")));
  // Loading this function's library ran _PG_init, which installed the hook for the rest of the
  // session. If the hook already judged this statement, there is nothing left to do.
  if (zdm::guard::hook_depth_active()) PG_RETURN_VOID();
  auto* trigdata = reinterpret_cast<EventTriggerData*>(fcinfo->context);
  Node* parsetree = trigdata->parsetree;
  if (creating_extension || parsetree == nullptr) PG_RETURN_VOID();
  if (zdm::guard::mode() != zdm::guard::Mode::Off) {
    // Judged as the hook judges: lock-safe DDL bounds this statement's wait (below), which rule
    // missing-lock-timeout needs to know.
    zdm::lockwait::set_hook_statement(true);
    zdm::pg::guarded([&] {
      if (zdm::guard::event_trigger_should_judge(parsetree))
        zdm::guard::judge_and_report(parsetree, debug_query_string ? debug_query_string : "");
    });
    zdm::lockwait::set_hook_statement(false);
  }
  // Lock-safe DDL for this statement, which the hook did not see: its strong locks are taken now, in
  // bounded attempts, before ProcessUtilitySlow requests them. No C++ object is alive in this frame
  // (the call may raise the final 55P03).
  zdm::lockwait::lock_for_event_trigger(parsetree);
  zdm::guard::forget_analysis();
  PG_RETURN_VOID();
}
