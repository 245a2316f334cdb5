// Internal to the guard room: one analyser per statement family. Each appends Actions to the
// Statement; all may throw pg::PgError.
#pragma once

#include <string>

#include "guard/catalog.hpp"
#include "guard/guard.hpp"

namespace zdm::guard {

void analyze_alter_table(AlterTableStmt* stmt, const AnalysisContext& context, Statement& out);
void analyze_other(Node* node, const AnalysisContext& context, Statement& out);

// The lock mode from PostgreSQL's LOCKMODE number.
inline LockMode to_lock_mode(int lockmode) { return static_cast<LockMode>(lockmode); }

}  // namespace zdm::guard
