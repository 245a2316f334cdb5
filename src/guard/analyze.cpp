// analyze(): a utility statement's parse tree -> Statement (facts only; rules/ judges them).
#include <string>

#include "guard/analyze_internal.hpp"
#include "guard/names.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
}

namespace zdm::guard {

Statement analyze(Node* parsetree, const std::string& text, const AnalysisContext& context) {
  NoLockScope no_lock(context.take_no_lock);
  BriefUnseenScope brief_unseen(context.skip_temporary_detail);
  Statement st;
  st.text = text;
  st.in_transaction_block = context.in_transaction_block;
  st.names = &catalog_names();
  CommandTag tag = pg::call([&] { return CreateCommandTag(parsetree); });
  st.command = GetCommandTagName(tag);
  if (IsA(parsetree, AlterTableStmt))
    analyze_alter_table(castNode(AlterTableStmt, parsetree), context, st);
  else
    analyze_other(parsetree, context, st);
  for (Action& a : st.actions) {
    a.in_transaction_block = context.in_transaction_block;
    if (a.command.empty()) a.command = st.command;
  }
  st.strongest_lock = strongest_lock(st);
  return st;
}

bool analyzes(Node* parsetree) {
  switch (nodeTag(parsetree)) {
    case T_AlterTableStmt:
    case T_AlterTableMoveAllStmt:
    case T_IndexStmt:
    case T_ReindexStmt:
    case T_ClusterStmt:
    case T_VacuumStmt:
    case T_RefreshMatViewStmt:
    case T_TruncateStmt:
    case T_DropStmt:
    case T_RenameStmt:
    case T_AlterObjectSchemaStmt:
    case T_AlterEnumStmt:
    case T_CreateStmt:
    case T_CreateForeignTableStmt:
    case T_CreateTrigStmt:
    case T_CreatePolicyStmt:
    case T_AlterPolicyStmt:
    case T_RuleStmt:
    case T_CreateStatsStmt:
    case T_ViewStmt:
    case T_CreateTableAsStmt:
    case T_CommentStmt:
    case T_LockStmt:
    case T_AlterDomainStmt:
      return true;
    default:
      return false;
  }
}

LockMode strongest_lock(const Statement& statement) {
  LockMode strongest = LockMode::None;
  for (const Action& a : statement.actions) {
    if (!a.rel.visible_to_others()) continue;
    if (static_cast<int>(a.lock) > static_cast<int>(strongest)) strongest = a.lock;
  }
  return strongest;
}

}  // namespace zdm::guard
