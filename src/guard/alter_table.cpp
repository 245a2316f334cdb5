// ALTER TABLE: one Action per subcommand, with the lock PostgreSQL will take for it
// (AlterTableGetLockLevel) and the rewrite / scan decisions PostgreSQL will make
// (mirroring tablecmds.c: ATPrepAlterColumnType, ATColumnChangeRequiresRewrite, ...).
#include <string>
#include <vector>

#include "guard/analyze_internal.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parse_type.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
}

namespace zdm::guard {

namespace {

// tablecmds.c: ATColumnChangeRequiresRewrite. The transform expression needs a rewrite unless it
// reduces to the old column through binary-compatible relabelling, domains without constraints,
// and timestamp <-> timestamptz when the session TimeZone is UTC.
bool column_change_requires_rewrite(Node* expr, AttrNumber varattno) {
  for (;;) {
    if (IsA(expr, Var) && reinterpret_cast<Var*>(expr)->varattno == varattno) return false;
    if (IsA(expr, RelabelType)) {
      expr = reinterpret_cast<Node*>(reinterpret_cast<RelabelType*>(expr)->arg);
    } else if (IsA(expr, CoerceToDomain)) {
      auto* d = reinterpret_cast<CoerceToDomain*>(expr);
      if (DomainHasConstraints(d->resulttype)) return true;
      expr = reinterpret_cast<Node*>(d->arg);
    } else if (IsA(expr, FuncExpr)) {
      auto* f = reinterpret_cast<FuncExpr*>(expr);
      switch (f->funcid) {
        case F_TIMESTAMPTZ_TIMESTAMP:
        case F_TIMESTAMP_TIMESTAMPTZ:
          if (TimestampTimestampTzRequiresRewrite()) return true;
          expr = static_cast<Node*>(linitial(f->args));
          break;
        default:
          return true;
      }
    } else {
      return true;
    }
  }
}

struct TypeChange {
  bool ok;              // false: PostgreSQL will reject the statement; nothing to judge
  bool rewrite;
  Oid old_type, new_type;
  int32 old_typmod, new_typmod;
  Oid old_collation, new_collation;
  AttrNumber attnum;
};

// tablecmds.c: ATPrepAlterColumnType, the part that decides the rewrite.
TypeChange prepare_type_change(Oid relid, AlterTableCmd* cmd) {
  return pg::call([&]() -> TypeChange {
    TypeChange tc{};
    auto* def = castNode(ColumnDef, cmd->def);
    HeapTuple tuple = SearchSysCacheAttName(relid, cmd->name);
    if (!HeapTupleIsValid(tuple)) return tc;
    auto* att = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(tuple));
    tc.attnum = att->attnum;
    tc.old_type = att->atttypid;
    tc.old_typmod = att->atttypmod;
    tc.old_collation = att->attcollation;
    ReleaseSysCache(tuple);

    typenameTypeIdAndMod(nullptr, def->typeName, &tc.new_type, &tc.new_typmod);
    tc.new_collation = GetColumnDefCollation(nullptr, def, tc.new_type);

    ParseState* pstate = make_parsestate(nullptr);
    Node* transform = nullptr;
    Relation rel = nullptr;
    bool locked_here = false;
    if (def->raw_default != nullptr) {
      // The USING expression is parsed against the table's row type, as transformAlterTableStmt
      // does; that needs the relation open, so an ACCESS SHARE lock, taken only if free now.
      if (!ConditionalLockRelationOid(relid, AccessShareLock)) {
        tc.ok = true;
        tc.rewrite = true;  // cannot look without waiting: assume the worst
        return tc;
      }
      locked_here = true;
      rel = relation_open(relid, NoLock);
      ParseNamespaceItem* nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock, nullptr, false, true);
      addNSItemToQuery(pstate, nsitem, false, true, true);
      transform = transformExpr(pstate, static_cast<Node*>(copyObjectImpl(def->raw_default)),
                                EXPR_KIND_ALTER_COL_TRANSFORM);
    } else {
      transform = reinterpret_cast<Node*>(makeVar(1, tc.attnum, tc.old_type, tc.old_typmod, tc.old_collation, 0));
    }
    transform = coerce_to_target_type(pstate, transform, exprType(transform), tc.new_type, tc.new_typmod,
                                      COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
    if (transform != nullptr) {
      assign_expr_collations(pstate, transform);
      transform = reinterpret_cast<Node*>(expression_planner(reinterpret_cast<Expr*>(transform)));
      tc.rewrite = column_change_requires_rewrite(transform, tc.attnum);
      tc.ok = true;
    }
    if (rel != nullptr) relation_close(rel, NoLock);
    if (locked_here) UnlockRelationOid(relid, AccessShareLock);
    return tc;
  });
}

// Indexes on the column that ALTER COLUMN TYPE rebuilds although the table is not rewritten:
// the index is kept only when CheckIndexCompatible would accept it (tablecmds.c: TryReuseIndex):
// a plain (no expression, no predicate) index whose operator class and collation stay the same.
std::vector<std::string> rebuilt_indexes(Oid relid, const TypeChange& tc) {
  List* found = pg::call([&]() -> List* {
    List* result = NIL;
    Relation rel = RelationIdGetRelation(relid);
    if (rel == nullptr) return NIL;
    List* indexes = RelationGetIndexList(rel);
    RelationClose(rel);
    ListCell* lc;
    foreach (lc, indexes) {
      Oid indexoid = lfirst_oid(lc);
      HeapTuple tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
      if (!HeapTupleIsValid(tup)) continue;
      auto* index = reinterpret_cast<Form_pg_index>(GETSTRUCT(tup));
      bool uses_column = false;
      bool rebuilt = false;
      bool has_exprs = !heap_attisnull(tup, Anum_pg_index_indexprs, nullptr);
      bool has_pred = !heap_attisnull(tup, Anum_pg_index_indpred, nullptr);
      bool isnull;
      Datum d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indclass, &isnull);
      auto* indclass = reinterpret_cast<oidvector*>(DatumGetPointer(d));
      d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indcollation, &isnull);
      auto* indcoll = reinterpret_cast<oidvector*>(DatumGetPointer(d));
      HeapTuple classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(indexoid));
      if (!HeapTupleIsValid(classtup)) {
        ReleaseSysCache(tup);
        continue;
      }
      Oid am = reinterpret_cast<Form_pg_class>(GETSTRUCT(classtup))->relam;
      ReleaseSysCache(classtup);
      for (int i = 0; i < index->indnatts; i++) {
        if (index->indkey.values[i] != tc.attnum) continue;
        uses_column = true;
        if (i >= index->indnkeyatts) continue;  // INCLUDE columns have no operator class
        Oid old_opclass = indclass->values[i];
        // An explicit operator class is kept by name; the default one is chosen anew for the new type.
        Oid old_default = GetDefaultOpClass(tc.old_type, am);
        Oid new_opclass = old_opclass == old_default ? GetDefaultOpClass(tc.new_type, am) : old_opclass;
        if (new_opclass != old_opclass) rebuilt = true;
        if (IsPolymorphicType(get_opclass_input_type(old_opclass)) && tc.old_type != tc.new_type) rebuilt = true;
        Oid new_coll = tc.new_collation;
        if (indcoll->values[i] != new_coll) rebuilt = true;
      }
      if (uses_column && (has_exprs || has_pred)) rebuilt = true;
      if (uses_column && rebuilt) result = lappend_oid(result, indexoid);
      ReleaseSysCache(tup);
    }
    return result;
  });
  std::vector<std::string> names;
  ListCell* lc;
  foreach (lc, found) names.push_back(relation_name(lfirst_oid(lc)));
  return names;
}

Op op_for(AlterTableType subtype, const AlterTableCmd* cmd) {
  switch (subtype) {
    case AT_AddColumn: return Op::AddColumn;
    case AT_DropColumn: return Op::DropColumn;
    case AT_AlterColumnType: return Op::AlterColumnType;
    case AT_SetNotNull: return Op::SetNotNull;
    case AT_DropNotNull: return Op::DropNotNull;
    case AT_ColumnDefault: return cmd->def ? Op::SetDefault : Op::DropDefault;
    case AT_AddConstraint: return Op::AddConstraint;
    case AT_ValidateConstraint: return Op::ValidateConstraint;
    case AT_DropConstraint: return Op::DropConstraint;
    case AT_AttachPartition: return Op::AttachPartition;
    case AT_DetachPartition: return Op::DetachPartition;
    case AT_SetLogged: return Op::SetLogged;
    case AT_SetUnLogged: return Op::SetUnlogged;
    case AT_SetTableSpace: return Op::SetTablespace;
    case AT_SetAccessMethod: return Op::SetAccessMethod;
    default: return Op::AlterTableOther;
  }
}

void fill_type_change(const Resolved& target, AlterTableCmd* cmd, Action& a) {
  TypeChange tc = prepare_type_change(target.oid, cmd);
  if (!tc.ok) {
    a.op = Op::AlterTableOther;  // PostgreSQL will reject it; nothing to judge
    return;
  }
  a.old_type = type_name(tc.old_type, tc.old_typmod);
  a.new_type = type_name(tc.new_type, tc.new_typmod);
  a.rewrite = tc.rewrite;
  a.scan = tc.rewrite;
  if (!tc.rewrite) a.rebuilt_indexes = rebuilt_indexes(target.oid, tc);
  auto* def = castNode(ColumnDef, cmd->def);
  if (def->raw_default != nullptr) a.using_expr = "USING expression";
}

}  // namespace

void analyze_alter_table(AlterTableStmt* stmt, const AnalysisContext& context, Statement& out) {
  Resolved target = resolve(stmt->relation, context);
  ListCell* lc;
  foreach (lc, stmt->cmds) {
    auto* cmd = lfirst_node(AlterTableCmd, lc);
    Action a;
    a.command = "ALTER TABLE";
    a.rel = target.facts;
    a.op = op_for(cmd->subtype, cmd);
    a.lock = to_lock_mode(pg::call([&] { return AlterTableGetLockLevel(list_make1(cmd)); }));
    if (cmd->name != nullptr) a.column = quote_ident(cmd->name);
    if (target.oid != InvalidOid && a.op == Op::AlterColumnType) fill_type_change(target, cmd, a);
    out.actions.push_back(std::move(a));
  }
}

}  // namespace zdm::guard
