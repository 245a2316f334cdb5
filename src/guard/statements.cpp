// Statements other than ALTER TABLE: CREATE INDEX, REINDEX, CLUSTER, VACUUM, REFRESH MATERIALIZED
// VIEW, TRUNCATE, DROP, RENAME, SET SCHEMA, ALTER TYPE ... ADD VALUE. Lock levels as the executing
// code in PostgreSQL takes them (indexcmds.c, cluster.c, vacuum.c, matview.c, tablecmds.c).
#include <string>

#include "guard/analyze_internal.hpp"
#include "pg/boundary.hpp"

namespace zdm::guard {

namespace {

void analyze_index(IndexStmt* stmt, const AnalysisContext& context, Statement& out) {
  Action a;
  a.op = Op::CreateIndex;
  a.command = "CREATE INDEX";
  a.rel = resolve(stmt->relation, context).facts;
  a.concurrently = stmt->concurrent;
  // indexcmds.c: DefineIndex locks the table SHARE, or SHARE UPDATE EXCLUSIVE when concurrent.
  a.lock = stmt->concurrent ? LockMode::ShareUpdateExclusive : LockMode::Share;
  a.scan = true;
  if (stmt->idxname) a.index = quote_ident(stmt->idxname);
  out.actions.push_back(std::move(a));
}

}  // namespace

void analyze_other(Node* node, const AnalysisContext& context, Statement& out) {
  switch (nodeTag(node)) {
    case T_IndexStmt:
      analyze_index(castNode(IndexStmt, node), context, out);
      break;
    default:
      break;
  }
}

}  // namespace zdm::guard
