// analyze(): a utility statement's parse tree -> Statement (facts only; rules/ judges them).
#include <string>

#include "guard/analyze_internal.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
}

namespace zdm::guard {

Statement analyze(Node* parsetree, const std::string& text, const AnalysisContext& context) {
  Statement st;
  st.text = text;
  st.in_transaction_block = context.in_transaction_block;
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

LockMode strongest_lock(const Statement& statement) {
  LockMode strongest = LockMode::None;
  for (const Action& a : statement.actions) {
    if (!a.rel.exists || a.rel.created_in_transaction) continue;
    if (static_cast<int>(a.lock) > static_cast<int>(strongest)) strongest = a.lock;
  }
  return strongest;
}

}  // namespace zdm::guard
