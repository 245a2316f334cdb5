// Which statements lock-safe DDL applies to, decided from the guard's analysis (guard::analyze):
// those that need a lock stronger than SHARE UPDATE EXCLUSIVE on an existing relation.
#include <cstring>
#include <string>

#include "guard/guard.hpp"
#include "lockwait/lockwait.hpp"
#include "lockwait/settings.hpp"
#include "pg/boundary.hpp"
#include "pg/subtransaction.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/resowner.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/varlena.h"
#include "utils/regproc.h"
#include "storage/proc.h"
}

namespace zdm::lockwait {

namespace {

bool hook_statement = false;

bool has_true_option(List* params, const char* name) {
  ListCell* lc;
  foreach (lc, params) {
    DefElem* opt = lfirst_node(DefElem, lc);
    if (strcmp(opt->defname, name) == 0) return defGetBoolean(opt);
  }
  return false;
}

// The kind of the relation a statement names, looked up without a lock ('\0' when there is none).
// Plain C: a malformed name raises PostgreSQL's own error, as the statement itself would.
char named_relkind(RangeVar* rv) {
  if (rv == nullptr) return '\0';
  Oid relid = RangeVarGetRelid(rv, NoLock, true);
  return OidIsValid(relid) ? get_rel_relkind(relid) : '\0';
}

// Statements that call PreventInTransactionBlock or commit internally (vacuum.c, indexcmds.c,
// cluster.c, tablecmds.c: ATExecDetachPartition): they cannot run in the subtransaction an attempt
// needs, so they get no retry, and a lock_timeout set at a GUC nest level would end at their first
// internal commit, so retry.cpp bounds them another way (run_timeout_only). Besides the forms that
// always do, CLUSTER of a partitioned table and REINDEX INDEX / TABLE of a partitioned index or table
// do too: they process each partition in a transaction of its own (cluster.c cluster,
// indexcmds.c ReindexPartitions). May raise PostgreSQL's error for a malformed name (see
// named_relkind): call it from plain C frames, or through pg::call.
bool runs_outside_transaction(Node* node) {
  switch (nodeTag(node)) {
    case T_VacuumStmt:
      return true;
    case T_IndexStmt:
      return castNode(IndexStmt, node)->concurrent;
    case T_ReindexStmt: {
      auto* stmt = castNode(ReindexStmt, node);
      if (stmt->kind == REINDEX_OBJECT_SCHEMA || stmt->kind == REINDEX_OBJECT_SYSTEM ||
          stmt->kind == REINDEX_OBJECT_DATABASE || has_true_option(stmt->params, "concurrently"))
        return true;
      char kind = named_relkind(stmt->relation);
      return (stmt->kind == REINDEX_OBJECT_INDEX && kind == RELKIND_PARTITIONED_INDEX) ||
             (stmt->kind == REINDEX_OBJECT_TABLE && kind == RELKIND_PARTITIONED_TABLE);
    }
    case T_ClusterStmt: {
      RangeVar* rv = castNode(ClusterStmt, node)->relation;
      return rv == nullptr || named_relkind(rv) == RELKIND_PARTITIONED_TABLE;
    }
    case T_DropStmt:
      return castNode(DropStmt, node)->concurrent;
    case T_AlterTableStmt: {
      ListCell* lc;
      foreach (lc, castNode(AlterTableStmt, node)->cmds) {
        auto* cmd = lfirst_node(AlterTableCmd, lc);
        if ((cmd->subtype == AT_DetachPartition || cmd->subtype == AT_DetachPartitionFinalize) &&
            cmd->def != nullptr && IsA(cmd->def, PartitionCmd) && castNode(PartitionCmd, cmd->def)->concurrent)
          return true;
      }
      return false;
    }
    default:
      return false;
  }
}

// Of those, the ones that get the bounded lock_timeout (and no retry): all but ANALYZE alone, which
// takes only SHARE UPDATE EXCLUSIVE and is an ordinary weak-lock statement.
bool gets_timeout_only(Node* node) {
  if (IsA(node, VacuumStmt)) return castNode(VacuumStmt, node)->is_vacuumcmd;
  return true;
}

// The plan of a statement that gets the timeout alone: what to say if it times out.
void plan_timeout_only(Node* node, Plan* plan) {
  plan->kind = Plan::Kind::TimeoutOnly;
  const char* command = "";
  switch (nodeTag(node)) {
    case T_VacuumStmt:
      command = "VACUUM";
      break;
    case T_IndexStmt: {
      auto* stmt = castNode(IndexStmt, node);
      command = "CREATE INDEX CONCURRENTLY";
      plan->leftover = Plan::Leftover::InvalidIndex;
      // The index lives in its table's schema (DefineIndex); quote as the user would have to.
      if (stmt->idxname != nullptr) {
        const char* schema = stmt->relation != nullptr ? stmt->relation->schemaname : nullptr;
        const char* name = pg::call([&] { return quote_qualified_identifier(schema, stmt->idxname); });
        std::strncpy(plan->index, name, sizeof(plan->index) - 1);
      }
      break;
    }
    case T_ReindexStmt: {
      auto* stmt = castNode(ReindexStmt, node);
      bool concurrently = has_true_option(stmt->params, "concurrently");
      command = concurrently ? "REINDEX CONCURRENTLY" : "REINDEX";
      if (concurrently) plan->leftover = Plan::Leftover::ReindexCopies;
      break;
    }
    case T_ClusterStmt:
      command = "CLUSTER";
      break;
    case T_DropStmt:
      command = "DROP INDEX CONCURRENTLY";
      plan->leftover = Plan::Leftover::DroppedIndex;
      break;
    case T_AlterTableStmt:
      command = "ALTER TABLE ... DETACH PARTITION CONCURRENTLY";
      break;
    default:
      break;
  }
  std::strncpy(plan->command, command, sizeof(plan->command) - 1);
}

LOCKMODE pg_lock_mode(LockMode mode) { return static_cast<LOCKMODE>(static_cast<int>(mode)); }

void add_relation(Plan* plan, Oid relid, LOCKMODE mode) {
  if (!OidIsValid(relid) || plan->relations == Plan::kMaxRelations) return;
  plan->relids[plan->relations] = relid;
  plan->modes[plan->relations] = mode;
  plan->relations++;
}

Oid lookup(RangeVar* rv) {
  if (rv == nullptr) return InvalidOid;
  return pg::call([&] { return RangeVarGetRelid(rv, NoLock, true); });
}

// The table an index belongs to, for an index's name.
Oid table_of_index(Oid index) {
  if (!OidIsValid(index)) return InvalidOid;
  return pg::call([&] { return get_rel_relkind(index) == RELKIND_INDEX ? IndexGetRelation(index, true) : InvalidOid; });
}

// The relations a TimeoutOnly statement names, with the lock it takes on each first (vacuum.c:
// vacuum_rel, indexcmds.c: DefineIndex and ReindexRelationConcurrently, index.c: index_drop,
// tablecmds.c: ATExecDetachPartition): retry.cpp cancels a blocking autovacuum worker on them. The
// statements that name no relation (VACUUM of the whole database, REINDEX SCHEMA, CLUSTER) get none.
void find_relations(Node* node, Plan* plan) {
  switch (nodeTag(node)) {
    case T_VacuumStmt: {
      auto* stmt = castNode(VacuumStmt, node);
      LOCKMODE mode = has_true_option(stmt->options, "full") ? AccessExclusiveLock : ShareUpdateExclusiveLock;
      ListCell* lc;
      foreach (lc, stmt->rels) add_relation(plan, lookup(lfirst_node(VacuumRelation, lc)->relation), mode);
      break;
    }
    case T_IndexStmt:
      add_relation(plan, lookup(castNode(IndexStmt, node)->relation), ShareUpdateExclusiveLock);
      break;
    case T_ReindexStmt: {
      auto* stmt = castNode(ReindexStmt, node);
      if (stmt->kind == REINDEX_OBJECT_TABLE) add_relation(plan, lookup(stmt->relation), ShareUpdateExclusiveLock);
      if (stmt->kind == REINDEX_OBJECT_INDEX) {
        Oid index = lookup(stmt->relation);
        add_relation(plan, table_of_index(index), ShareUpdateExclusiveLock);
        add_relation(plan, index, ShareUpdateExclusiveLock);
      }
      break;
    }
    case T_DropStmt: {
      ListCell* lc;
      foreach (lc, castNode(DropStmt, node)->objects) {
        List* names = static_cast<List*>(lfirst(lc));
        Oid index = lookup(pg::call([&] { return makeRangeVarFromNameList(names); }));
        add_relation(plan, table_of_index(index), ShareUpdateExclusiveLock);
        add_relation(plan, index, ShareUpdateExclusiveLock);
      }
      break;
    }
    case T_AlterTableStmt: {
      auto* stmt = castNode(AlterTableStmt, node);
      add_relation(plan, lookup(stmt->relation), ShareUpdateExclusiveLock);
      ListCell* lc;
      foreach (lc, stmt->cmds) {
        auto* cmd = lfirst_node(AlterTableCmd, lc);
        if (cmd->subtype == AT_DetachPartition && cmd->def != nullptr && IsA(cmd->def, PartitionCmd))
          add_relation(plan, lookup(castNode(PartitionCmd, cmd->def)->name), ShareUpdateExclusiveLock);
      }
      break;
    }
    default:
      break;
  }
}

// find_relations in a subtransaction (as analyse_into below): a lookup error is discarded, and
// PostgreSQL reports its own when it runs the statement.
void find_relations_safely(Node* node, Plan* plan) {
  if (!pg::in_subtransaction("relations of the statement not found", [&] { find_relations(node, plan); }))
    plan->relations = 0;
}

// The plan from the guard's analysis: every relation others can see that the statement locks in a
// mode stronger than SHARE UPDATE EXCLUSIVE.
void plan_from(const Statement& st, Plan* plan) {
  if (static_cast<int>(guard::strongest_lock(st)) <= static_cast<int>(LockMode::ShareUpdateExclusive)) return;
  std::strncpy(plan->command, st.command.c_str(), sizeof(plan->command) - 1);
  for (const Action& a : st.actions) {
    if (!a.rel.visible_to_others() || a.rel.oid == 0) continue;
    if (static_cast<int>(a.lock) <= static_cast<int>(LockMode::ShareUpdateExclusive)) continue;
    bool known = false;
    for (int i = 0; i < plan->relations; i++)
      if (plan->relids[i] == a.rel.oid) {
        known = true;
        if (plan->modes[i] < pg_lock_mode(a.lock)) plan->modes[i] = pg_lock_mode(a.lock);
      }
    if (known) continue;
    if (plan->relations == Plan::kMaxRelations) break;
    if (plan->relations == 0) std::strncpy(plan->relation, a.rel.name.c_str(), sizeof(plan->relation) - 1);
    plan->relids[plan->relations] = a.rel.oid;
    plan->modes[plan->relations] = pg_lock_mode(a.lock);
    plan->relations++;
  }
}

// The guard's analysis of the statement: the one the guard has just made when it judged it, else
// guard::analyze in a subtransaction (as guard::judge_and_report does), whose error is discarded:
// PostgreSQL reports its own when it runs the statement.
void analyse_into(Node* parsetree, Plan* plan) {
  if (const Statement* judged = guard::reusable_analysis(parsetree)) {
    plan_from(*judged, plan);
    return;
  }
  guard::AnalysisContext context;
  context.in_transaction_block = IsTransactionBlock();
  if (!pg::in_subtransaction("lock-safe DDL does not apply, statement not analysed",
                             [&] { plan_from(guard::analyze(parsetree, std::string(), context), plan); }))
    plan->relations = 0;
}

// Where the session's lock_timeout came from (guc.c keeps it in config_generic.source).
GucSource lock_timeout_source() {
  static struct config_generic* lock_timeout_guc = nullptr;
  if (lock_timeout_guc == nullptr) {
    struct config_generic** vars = get_guc_variables();
    int n = GetNumConfigOptions();
    for (int i = 0; i < n; i++)
      if (strcmp(vars[i]->name, "lock_timeout") == 0) lock_timeout_guc = vars[i];
  }
  return lock_timeout_guc ? lock_timeout_guc->source : PGC_S_DEFAULT;
}

}  // namespace

void set_hook_statement(bool through_hook) { hook_statement = through_hook; }

bool plan_statement(Node* parsetree, ProcessUtilityContext context, Plan* plan) {
  *plan = Plan{};
  if (setting_lock_timeout_ms() <= 0) return false;
  if (context == PROCESS_UTILITY_SUBCOMMAND) return false;  // part of a statement already planned
  if (attempt_running()) return false;                        // run by a statement already bounded
  if (creating_extension) return false;
  if (!IsTransactionState() || IsAbortedTransactionBlockState()) return false;
  if (runs_outside_transaction(parsetree)) {
    if (!gets_timeout_only(parsetree)) return false;
    pg::guarded([&] {
      plan_timeout_only(parsetree, plan);
      find_relations_safely(parsetree, plan);
    });
    return true;
  }
  if (!guard::analyzes(parsetree)) return false;
  // LOCK ... NOWAIT asks to fail at once rather than wait: nothing to bound, nothing to retry.
  if (IsA(parsetree, LockStmt) && castNode(LockStmt, parsetree)->nowait) return false;
  pg::guarded([&] { analyse_into(parsetree, plan); });
  return plan->relations > 0;
}

void fill_session_facts(Node* parsetree, Statement& statement) {
  statement.strict_mode = guard::mode() == guard::Mode::Strict;
  statement.session_lock_timeout_ms = LockTimeout;
  statement.lock_timeout_explicit_zero = LockTimeout == 0 && lock_timeout_source() >= PGC_S_INTERACTIVE;
  statement.zdm_lock_timeout_ms = setting_lock_timeout_ms();
  // Statements that run outside a transaction block are bounded too (for the whole statement,
  // without retries), except ANALYZE alone, which lock-safe DDL leaves alone.
  statement.lock_wait_bounded = hook_statement && setting_lock_timeout_ms() > 0 &&
                                (!pg::call([&] { return runs_outside_transaction(parsetree); }) ||
                                 gets_timeout_only(parsetree));
}

}  // namespace zdm::lockwait
