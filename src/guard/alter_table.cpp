// ALTER TABLE: one Action per subcommand, with the lock PostgreSQL will take for it
// (AlterTableGetLockLevel) and the rewrite / scan decisions PostgreSQL will make
// (mirroring tablecmds.c: ATPrepAlterColumnType, ATColumnChangeRequiresRewrite, ...).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "guard/analyze_internal.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/heap.h"
#include "catalog/index.h"
#include "catalog/partition.h"
#include "catalog/pg_am.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_tablespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "commands/tablespace.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parse_type.h"
#include "parser/parse_utilcmd.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
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
  char* using_text;     // the USING expression, deparsed over the table's columns (nullptr without USING)
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
      if (!may_lock() || !ConditionalLockRelationOid(relid, AccessShareLock)) {
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
      tc.using_text = deparse_expression(transform, deparse_context_for(RelationGetRelationName(rel), relid),
                                         false, false);
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
List* rebuilt_indexes(Oid relid, const TypeChange& tc) {
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
  return found;
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

// Opens a relation to read its definition: takes ACCESS SHARE only if it is free now (never queues
// behind a waiting DDL). nullptr when it is not. Call inside pg::call; undo with close_read.
Relation open_if_free(Oid relid) {
  if (!may_lock() || !ConditionalLockRelationOid(relid, AccessShareLock)) return nullptr;
  return relation_open(relid, NoLock);
}

void close_read(Relation rel) {
  Oid relid = RelationGetRelid(rel);
  relation_close(rel, NoLock);
  UnlockRelationOid(relid, AccessShareLock);
}

// tablecmds.c: NotNullImpliedByRelConstraints (static), which asks ConstraintImpliedByRelConstraint
// (static) whether the relation's valid CHECK constraints prove "col IS NOT NULL".
// PartConstraintImpliedByRelConstraint is the exported door to the same proof (it adds the NOT NULL
// columns as known facts, which cannot prove another column non-null).
bool not_null_implied(Relation rel, AttrNumber attnum) {
  Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
  NullTest* test = makeNode(NullTest);
  test->arg = reinterpret_cast<Expr*>(makeVar(1, attnum, attr->atttypid, attr->atttypmod, attr->attcollation, 0));
  test->nulltesttype = IS_NOT_NULL;
  test->argisrow = false;
  test->location = -1;
  return PartConstraintImpliedByRelConstraint(rel, list_make1(test));
}

struct NotNullState {
  bool known;       // false: the column is missing (PostgreSQL will reject the statement)
  bool attnotnull;  // already NOT NULL: SET NOT NULL is a no-op
  bool implied;     // a valid CHECK proves it: no scan
};

NotNullState not_null_state(Oid relid, const char* column) {
  return pg::call([&]() -> NotNullState {
    NotNullState s{};
    HeapTuple tuple = SearchSysCacheAttName(relid, column);
    if (!HeapTupleIsValid(tuple)) return s;
    auto* att = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(tuple));
    s.known = true;
    s.attnotnull = att->attnotnull;
    AttrNumber attnum = att->attnum;
    ReleaseSysCache(tuple);
    if (s.attnotnull || attnum <= 0) return s;
    Relation rel = open_if_free(relid);
    if (rel == nullptr) return s;  // cannot look without waiting: assume the scan
    s.implied = not_null_implied(rel, attnum);
    close_read(rel);
    return s;
  });
}

// Valid CHECK constraints that mention the column. ALTER COLUMN TYPE drops and re-adds every
// constraint that depends on the column (tablecmds.c: RememberConstraintForRebuilding,
// ATPostAlterTypeParse -> AT_ReAddConstraint -> ATAddCheckConstraint), and a re-added valid CHECK is
// queued for validation in phase 3: a full scan even when the table is not rewritten.
void checks_on_column(Oid relid, AttrNumber attnum, Action& a) {
  List* names = pg::call([&]() -> List* {
    List* result = NIL;
    Relation rel = RelationIdGetRelation(relid);  // no lock: cached definition only
    if (rel == nullptr) return NIL;
    TupleConstr* constr = RelationGetDescr(rel)->constr;
    for (int i = 0; constr != nullptr && i < constr->num_check; i++) {
      ConstrCheck* check = &constr->check[i];
      if (!check->ccvalid) continue;
      Bitmapset* attrs = nullptr;
      pull_varattnos(static_cast<Node*>(stringToNode(check->ccbin)), 1, &attrs);
      if (bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, attrs)) {
        result = lappend(result, pstrdup(check->ccname));
        List* ctx = deparse_context_for(RelationGetRelationName(rel), relid);
        result = lappend(result, deparse_expression(static_cast<Node*>(stringToNode(check->ccbin)), ctx, false, false));
      }
    }
    RelationClose(rel);
    return result;
  });
  for (int i = 0; i + 1 < list_length(names); i += 2) {
    a.revalidated_checks.push_back(quote_ident(static_cast<char*>(list_nth(names, i))));
    a.revalidated_check_defs.push_back(std::string("CHECK (") + static_cast<char*>(list_nth(names, i + 1)) + ")");
  }
}

std::string collation_clause(Oid collation);

// A lock-only action on another relation the subcommand touches (no rule judges it on its own).
Action side_action(Oid relid, LockMode lock, bool scan, const Action& of) {
  Action s;
  s.op = Op::AlterTableOther;
  s.command = "ALTER TABLE";
  s.rel = resolve_oid(relid).facts;
  s.lock = lock;
  s.scan = scan;
  s.referenced = of.rel.name;
  s.referenced_side = true;
  return s;
}

struct ForeignKeyUse {
  Oid other;        // the relation at the other end
  bool referencing; // other holds the foreign key (it references the altered column)
  bool validated;
};

// Foreign keys that depend on the column (pg_depend, as ATExecAlterColumnType finds them): PostgreSQL
// drops and re-adds each one. Either way the other table ends up ACCESS EXCLUSIVE: ATPostAlterTypeCleanup
// locks a referencing table so, and dropping the old key drops its triggers on the referenced table
// (RemoveConstraintById). Unless TryReuseForeignKey applies (the altered table is not rewritten), the
// re-added key is validated again, reading both tables.
List* foreign_keys_on_column(Oid relid, AttrNumber attnum) {
  List* result = NIL;
  for (const Dependent& d : dependents(RelationRelationId, relid, attnum)) {
    if (d.classid != ConstraintRelationId) continue;
    result = pg::call([&]() -> List* {
      HeapTuple ctup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(d.objid));
      if (!HeapTupleIsValid(ctup)) return result;
      auto* con = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(ctup));
      List* r = result;
      if (con->contype == CONSTRAINT_FOREIGN && con->conrelid != con->confrelid) {
        auto* use = static_cast<ForeignKeyUse*>(palloc0(sizeof(ForeignKeyUse)));
        use->referencing = con->conrelid != relid;
        use->other = use->referencing ? con->conrelid : con->confrelid;
        use->validated = con->convalidated;
        r = lappend(r, use);
      }
      ReleaseSysCache(ctup);
      return r;
    });
  }
  return result;
}

void fill_type_change(const Resolved& target, AlterTableCmd* cmd, Action& a, Statement* side = nullptr) {
  TypeChange tc = prepare_type_change(target.oid, cmd);
  if (!tc.ok) {
    a.op = Op::AlterTableOther;  // PostgreSQL will reject it; nothing to judge
    return;
  }
  a.old_type = type_name(tc.old_type, tc.old_typmod);
  a.new_type = type_name(tc.new_type, tc.new_typmod);
  if (tc.old_collation != tc.new_collation) {
    // A collation-only change reads "text COLLATE "C"", which is also what the hints need.
    a.old_type += collation_clause(tc.old_collation);
    a.new_type += collation_clause(tc.new_collation);
  }
  a.rewrite = tc.rewrite;
  if (!tc.rewrite) {
    List* indexes = rebuilt_indexes(target.oid, tc);
    ListCell* lc;
    foreach (lc, indexes) {
      Oid indexoid = lfirst_oid(lc);
      a.rebuilt_indexes.push_back(relation_name(indexoid));
      // An index behind a constraint cannot be dropped on its own: no definition to rebuild it from.
      const char* def = pg::call([&]() -> const char* {
        return OidIsValid(get_index_constraint(indexoid)) ? "" : pg_get_indexdef_string(indexoid);
      });
      a.rebuilt_index_defs.push_back(def);
    }
    checks_on_column(target.oid, tc.attnum, a);
  }
  // A rewrite reads every row; so does each index build and each re-validated CHECK.
  a.scan = tc.rewrite || !a.rebuilt_indexes.empty() || !a.revalidated_checks.empty();
  if (!RELKIND_HAS_STORAGE(target.facts.kind)) {
    // A partitioned table has no rows of its own: its partitions' actions carry the work.
    a.rewrite = false;
    a.scan = false;
  }
  if (tc.using_text != nullptr) a.using_expr = tc.using_text;
  // What the hint carries over: read only where a finding can be made (not for a table nobody else sees).
  if ((a.rewrite || !a.rebuilt_indexes.empty()) && target.facts.visible_to_others())
    fill_column_role(target.oid, tc.attnum, a);
  if (side != nullptr) {
    List* fks = foreign_keys_on_column(target.oid, tc.attnum);
    ListCell* lc;
    foreach (lc, fks) {
      auto* use = static_cast<ForeignKeyUse*>(lfirst(lc));
      bool validate = use->validated && tc.rewrite;  // RI_Initial_Check reads both tables
      side->actions.push_back(side_action(use->other, LockMode::AccessExclusive, validate, a));
    }
  }
}

char* deparse_over(Oid relid, Node* raw, ParseExprKind kind, const char** single_column);

std::string collation_clause(Oid collation) {
  if (!OidIsValid(collation)) return {};
  char* name = pg::call([&] { return generate_collation_name(collation); });
  return std::string(" COLLATE ") + name;
}

// The domain's constraints (its own and its base domains') as one CHECK over the new column:
// typcache.c's DomainConstraintCache holds them already planned; VALUE deparses as "VALUE", which
// becomes the column name.
std::string domain_check(Oid type, const char* colname) {
  List* parts = pg::call([&]() -> List* {
    List* out = NIL;
    Oid t = type;
    while (get_typtype(t) == TYPTYPE_DOMAIN) {
      HeapTuple tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(t));
      if (!HeapTupleIsValid(tup)) break;
      auto* typ = reinterpret_cast<Form_pg_type>(GETSTRUCT(tup));
      if (typ->typnotnull) out = lappend(out, pstrdup("VALUE IS NOT NULL"));
      Oid next = typ->typbasetype;
      ReleaseSysCache(tup);
      Relation conrel = table_open(ConstraintRelationId, AccessShareLock);
      ScanKeyData key;
      ScanKeyInit(&key, Anum_pg_constraint_contypid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(t));
      SysScanDesc scan = systable_beginscan(conrel, ConstraintTypidIndexId, true, nullptr, 1, &key);
      HeapTuple ctup;
      while (HeapTupleIsValid(ctup = systable_getnext(scan))) {
        auto* con = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(ctup));
        if (con->contype != CONSTRAINT_CHECK) continue;
        bool isnull;
        Datum bin = heap_getattr(ctup, Anum_pg_constraint_conbin, RelationGetDescr(conrel), &isnull);
        if (isnull) continue;
        out = lappend(out, deparse_expression(static_cast<Node*>(stringToNode(text_to_cstring(reinterpret_cast<::text*>(DatumGetPointer(bin))))), NIL,
                                              false, false));
      }
      systable_endscan(scan);
      table_close(conrel, AccessShareLock);
      t = next;
    }
    return out;
  });
  std::string col = quote_ident(colname);
  std::string all;
  ListCell* lc;
  foreach (lc, parts) {
    std::string p = static_cast<char*>(lfirst(lc));
    for (size_t pos = 0; (pos = p.find("VALUE", pos)) != std::string::npos;) {
      bool word_start = pos == 0 || !(isalnum(static_cast<unsigned char>(p[pos - 1])) || p[pos - 1] == '_');
      bool word_end = pos + 5 >= p.size() || !(isalnum(static_cast<unsigned char>(p[pos + 5])) || p[pos + 5] == '_');
      if (word_start && word_end) {
        p.replace(pos, 5, col);
        pos += col.size();
      } else {
        pos += 5;
      }
    }
    all += (all.empty() ? "" : " AND ") + p;
  }
  return all;
}

bool is_serial(const TypeName* tn) {
  if (tn == nullptr || tn->arrayBounds != NIL || list_length(tn->names) > 2) return false;
  if (list_length(tn->names) == 2 && strcmp(strVal(linitial(tn->names)), "pg_catalog") != 0) return false;
  const char* n = strVal(llast(tn->names));
  for (const char* s : {"smallserial", "serial2", "serial", "serial4", "bigserial", "serial8"})
    if (strcmp(n, s) == 0) return true;
  return false;
}

const char* serial_base_type(const TypeName* tn) {
  const char* n = strVal(llast(tn->names));
  if (strcmp(n, "smallserial") == 0 || strcmp(n, "serial2") == 0) return "smallint";
  if (strcmp(n, "bigserial") == 0 || strcmp(n, "serial8") == 0) return "bigint";
  return "integer";
}

struct CookedDefault {
  bool is_null;      // DEFAULT NULL: no default at all for PostgreSQL (AddRelationNewConstraints)
  bool is_volatile;  // contain_volatile_functions: no missing value, a rewrite (ATExecAddColumn)
  Node* expr;
};

// heap.c: cookDefault, the transformation ATExecAddColumn applies (through AddRelationNewConstraints).
CookedDefault cook_default(Node* raw, Oid type, int32 typmod, const char* colname) {
  return pg::call([&]() -> CookedDefault {
    CookedDefault c{};
    ParseState* pstate = make_parsestate(nullptr);
    Node* expr = cookDefault(pstate, static_cast<Node*>(copyObjectImpl(raw)), type, typmod, colname, '\0');
    c.expr = expr;
    c.is_null = expr == nullptr || (IsA(expr, Const) && reinterpret_cast<Const*>(expr)->constisnull);
    c.is_volatile = expr != nullptr && contain_volatile_functions(expr);
    return c;
  });
}

std::string join_names(List* names, const char* sep) {
  std::string s;
  ListCell* lc;
  foreach (lc, names) {
    if (!s.empty()) s += sep;
    s += strVal(lfirst(lc));
  }
  return s;
}

std::vector<std::string> quoted_names(List* names) {
  std::vector<std::string> v;
  ListCell* lc;
  foreach (lc, names) v.push_back(quote_ident(strVal(lfirst(lc))));
  return v;
}

std::string join_quoted(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); i++) s += (i ? ", " : "") + v[i];
  return s;
}

const char* fk_action_sql(char action) {
  switch (action) {
    case FKCONSTR_ACTION_RESTRICT: return "RESTRICT";
    case FKCONSTR_ACTION_CASCADE: return "CASCADE";
    case FKCONSTR_ACTION_SETNULL: return "SET NULL";
    case FKCONSTR_ACTION_SETDEFAULT: return "SET DEFAULT";
    default: return nullptr;  // NO ACTION, the default
  }
}

// The FOREIGN KEY clause as SQL, rebuilt from the raw constraint (parse trees have no deparser).
std::string foreign_key_sql(Constraint* c, const std::vector<std::string>& columns) {
  std::string s = "FOREIGN KEY (" + join_quoted(columns) + ") REFERENCES ";
  if (c->pktable->schemaname) s += quote_ident(c->pktable->schemaname) + ".";
  s += quote_ident(c->pktable->relname);
  if (c->pk_attrs != NIL) s += " (" + join_quoted(quoted_names(c->pk_attrs)) + ")";
  if (c->fk_matchtype == FKCONSTR_MATCH_FULL) s += " MATCH FULL";
  if (const char* u = fk_action_sql(c->fk_upd_action)) s += std::string(" ON UPDATE ") + u;
  if (const char* d = fk_action_sql(c->fk_del_action)) s += std::string(" ON DELETE ") + d;
  if (c->deferrable) s += " DEFERRABLE";
  if (c->initdeferred) s += " INITIALLY DEFERRED";
  return s;
}

// The referenced side of a FOREIGN KEY: tablecmds.c ATAddForeignKeyConstraint opens it with
// SHARE ROW EXCLUSIVE (ATExecValidateConstraint with ROW SHARE) and RI_Initial_Check joins it.
void add_referenced_side(const RangeVar* pktable, const Resolved& target, LockMode lock, bool validated,
                         const Action& fk, const AnalysisContext& context, Statement& out) {
  Resolved ref = resolve(pktable, context);
  if (ref.oid != InvalidOid && ref.oid == target.oid) return;  // self-reference: one relation, one action
  Action r;
  r.op = fk.op;
  r.command = "ALTER TABLE";
  r.rel = ref.facts;
  r.lock = lock;
  r.scan = validated;
  r.constraint = fk.constraint;
  r.constraint_type = 'f';
  r.referenced = target.facts.name;
  r.referenced_side = true;
  out.actions.push_back(std::move(r));
}

void fill_add_column(const Resolved& target, AlterTableCmd* cmd, Action& a, const AnalysisContext& context,
                     Statement& out) {
  auto* def = castNode(ColumnDef, cmd->def);
  a.column = quote_ident(def->colname);
  // ADD COLUMN IF NOT EXISTS of a column that exists: PostgreSQL skips it with a NOTICE.
  if (cmd->missing_ok && pg::call([&] { return SearchSysCacheExistsAttName(target.oid, def->colname); })) {
    a.op = Op::AlterTableOther;
    return;
  }
  Node* raw_default = def->raw_default;
  Constraint* fk = nullptr;
  bool check = false, index = false;
  ListCell* lc;
  foreach (lc, def->constraints) {
    auto* c = lfirst_node(Constraint, lc);
    switch (c->contype) {
      case CONSTR_DEFAULT: raw_default = c->raw_expr; break;
      case CONSTR_NOTNULL: a.not_null = true; break;
      case CONSTR_IDENTITY:
        a.identity = true;
        a.identity_kind = static_cast<char>(c->generated_when);  // ATTRIBUTE_IDENTITY_ALWAYS 'a' / BY_DEFAULT 'd'
        break;
      case CONSTR_GENERATED: a.generated_stored = true; break;  // PostgreSQL 15: STORED only
      case CONSTR_CHECK: check = !c->skip_validation; break;
      case CONSTR_PRIMARY: a.not_null = true; index = true; break;
      case CONSTR_UNIQUE: index = true; break;
      case CONSTR_FOREIGN: fk = c; break;
      default: break;
    }
  }
  Oid type = InvalidOid;
  int32 typmod = -1;
  if (is_serial(def->typeName)) {
    // parse_utilcmd.c: transformColumnDefinition turns serial into integer + DEFAULT nextval(...),
    // and nextval is volatile.
    a.serial = true;
    a.has_default = true;
    a.volatile_default = true;
    a.not_null = true;
    a.new_type = serial_base_type(def->typeName);
  } else {
    pg::call([&] { typenameTypeIdAndMod(nullptr, def->typeName, &type, &typmod); });
    a.new_type = type_name(type, typmod);
    a.domain_with_constraints = pg::call([&] { return DomainHasConstraints(type); });
    if (a.domain_with_constraints) {
      Oid base = pg::call([&] { return getBaseType(type); });
      a.base_type = type_name(base, -1);
      a.domain_check = domain_check(type, def->colname);
    }
    if (a.generated_stored && raw_default == nullptr) {
      ListCell* gc;
      foreach (gc, def->constraints) {
        auto* c = lfirst_node(Constraint, gc);
        if (c->contype == CONSTR_GENERATED && c->raw_expr != nullptr && target.oid != InvalidOid) {
          char* g = pg::call([&] { return deparse_over(target.oid, c->raw_expr, EXPR_KIND_GENERATED_COLUMN, nullptr); });
          if (g) a.generation_expr = g;
        }
      }
    }
    if (raw_default != nullptr && !a.generated_stored) {
      CookedDefault cooked = cook_default(raw_default, type, typmod, def->colname);
      if (!cooked.is_null) {
        a.has_default = true;
        a.volatile_default = cooked.is_volatile;
        if (target.oid != InvalidOid) a.default_expr = deparse(cooked.expr, target.oid);
      }
    }
  }
  if (!RELKIND_HAS_STORAGE(target.facts.kind)) return;
  // tablecmds.c ATExecAddColumn: identity columns, domains with constraints, and defaults that
  // could not become a "missing value" (volatile, or a generation expression) force a rewrite.
  a.rewrite = a.identity || a.generated_stored || a.domain_with_constraints || a.volatile_default;
  // Without a rewrite, phase 3 still reads every row to check NOT NULL when there is no missing
  // value (verify_new_notnull), to validate a CHECK, or to build an index.
  bool missing_value = a.has_default && !a.volatile_default;
  bool fk_validated = fk != nullptr && a.has_default;  // parse_utilcmd.c: skipValidation only without default
  a.scan = a.rewrite || (a.not_null && !missing_value) || check || index || fk_validated;
  if (fk != nullptr) {
    a.referenced = fk->pktable->schemaname ? quote_ident(fk->pktable->schemaname) + "." : std::string();
    a.referenced += quote_ident(fk->pktable->relname);
    add_referenced_side(fk->pktable, target, LockMode::ShareRowExclusive, fk_validated, a, context, out);
  }
}

void fill_set_not_null(const Resolved& target, AlterTableCmd* cmd, Action& a) {
  NotNullState s = not_null_state(target.oid, cmd->name);
  if (!s.known) {
    a.op = Op::AlterTableOther;
    return;
  }
  a.valid_not_null_check = s.implied;
  a.not_null = s.attnotnull;
  // tablecmds.c ATExecSetNotNull: nothing to do when already NOT NULL; otherwise phase 3 scans unless
  // NotNullImpliedByRelConstraints.
  a.scan = !s.attnotnull && !s.implied && RELKIND_HAS_STORAGE(target.facts.kind);
}

// An expression over the relation's columns, transformed as PostgreSQL will (transformExpr) and
// deparsed; nullptr when the relation could not be opened without waiting. Call inside pg::call.
char* deparse_over(Oid relid, Node* raw, ParseExprKind kind, const char** single_column) {
  Relation rel = open_if_free(relid);
  if (rel == nullptr) return nullptr;
  ParseState* pstate = make_parsestate(nullptr);
  ParseNamespaceItem* nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock, nullptr, false, true);
  addNSItemToQuery(pstate, nsitem, true, true, true);
  Node* expr = transformExpr(pstate, static_cast<Node*>(copyObjectImpl(raw)), kind);
  if (kind == EXPR_KIND_CHECK_CONSTRAINT) expr = coerce_to_boolean(pstate, expr, "CHECK");
  assign_expr_collations(pstate, expr);
  List* ctx = deparse_context_for(RelationGetRelationName(rel), relid);
  char* text = deparse_expression(expr, ctx, false, false);
  if (single_column != nullptr) {
    List* vars = list_union(NIL, pull_var_clause(expr, 0));
    if (list_length(vars) == 1)
      *single_column = get_attname(relid, reinterpret_cast<Var*>(linitial(vars))->varattno, true);
  }
  close_read(rel);
  return text;
}

struct CheckInfo {
  char* name;  // the name PostgreSQL will choose (heap.c: AddRelationNewConstraints)
  char* expr;  // deparsed, nullptr when the relation could not be opened without waiting
};

// heap.c AddRelationNewConstraints: a CHECK's name is ChooseConstraintName(relname, the one column
// it mentions or none, "check"); the expression is transformed against the relation (cookConstraint).
CheckInfo check_info(Oid relid, Constraint* c) {
  return pg::call([&]() -> CheckInfo {
    CheckInfo info{};
    const char* colname = nullptr;
    info.expr = deparse_over(relid, c->raw_expr, EXPR_KIND_CHECK_CONSTRAINT, &colname);
    if (c->conname != nullptr)
      info.name = pstrdup(c->conname);
    else
      info.name = ChooseConstraintName(get_rel_name(relid), colname, "check", get_rel_namespace(relid), NIL);
    return info;
  });
}

// Columns of `names` that are nullable and not proven NOT NULL by a valid CHECK: PRIMARY KEY sets
// them NOT NULL, which scans (parse_utilcmd.c transformIndexConstraint, tablecmds.c ATExecSetNotNull).
std::vector<std::string> nullable_columns(Oid relid, const std::vector<std::string>& raw_names) {
  std::vector<std::string> out;
  for (const std::string& n : raw_names) {
    NotNullState s = not_null_state(relid, n.c_str());
    if (s.known && !s.attnotnull && !s.implied) out.push_back(quote_ident(n.c_str()));
  }
  return out;
}

std::vector<std::string> index_key_columns(Oid indexoid) {
  List* names = pg::call([&]() -> List* {
    List* result = NIL;
    HeapTuple tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
    if (!HeapTupleIsValid(tup)) return NIL;
    auto* index = reinterpret_cast<Form_pg_index>(GETSTRUCT(tup));
    for (int i = 0; i < index->indnkeyatts; i++) {
      AttrNumber attnum = index->indkey.values[i];
      if (attnum > 0) result = lappend(result, get_attname(index->indrelid, attnum, false));
    }
    ReleaseSysCache(tup);
    return result;
  });
  std::vector<std::string> v;
  ListCell* lc;
  foreach (lc, names) v.emplace_back(static_cast<char*>(lfirst(lc)));
  return v;
}

void fill_add_constraint(const Resolved& target, AlterTableCmd* cmd, Action& a, const AnalysisContext& context,
                         Statement& out) {
  if (!IsA(cmd->def, Constraint)) return;
  auto* c = castNode(Constraint, cmd->def);
  bool storage = RELKIND_HAS_STORAGE(target.facts.kind);
  a.not_valid = c->skip_validation;
  a.using_index = c->indexname != nullptr;
  if (c->conname) a.constraint = quote_ident(c->conname);
  switch (c->contype) {
    case CONSTR_CHECK: {
      a.constraint_type = 'c';
      CheckInfo info = check_info(target.oid, c);
      a.constraint = quote_ident(info.name);
      if (info.expr) {
        a.constraint_expr = info.expr;
        a.constraint_def = "CHECK (" + a.constraint_expr + ")";
      }
      // tablecmds.c ATAddCheckConstraint: queued for phase 3 validation unless NOT VALID.
      a.scan = storage && !a.not_valid;
      break;
    }
    case CONSTR_FOREIGN: {
      a.constraint_type = 'f';
      a.columns = quoted_names(c->fk_attrs);
      if (a.constraint.empty()) {
        std::string addition = join_names(c->fk_attrs, "_");
        char* name = pg::call([&] {
          return ChooseConstraintName(get_rel_name(target.oid), addition.c_str(), "fkey",
                                      get_rel_namespace(target.oid), NIL);
        });
        a.constraint = quote_ident(name);
      }
      a.referenced = c->pktable->schemaname ? quote_ident(c->pktable->schemaname) + "." : std::string();
      a.referenced += quote_ident(c->pktable->relname);
      a.constraint_def = foreign_key_sql(c, a.columns);
      // tablecmds.c: validateForeignKeyConstraint (RI_Initial_Check) in phase 3 unless NOT VALID.
      a.scan = storage && !a.not_valid;
      add_referenced_side(c->pktable, target, LockMode::ShareRowExclusive, a.scan, a, context, out);
      break;
    }
    case CONSTR_PRIMARY:
    case CONSTR_UNIQUE:
    case CONSTR_EXCLUSION: {
      a.constraint_type = c->contype == CONSTR_PRIMARY ? 'p' : c->contype == CONSTR_UNIQUE ? 'u' : 'x';
      std::vector<std::string> raw;
      if (a.using_index) {
        Oid indexoid = pg::call([&] {
          return get_relname_relid(c->indexname, get_rel_namespace(target.oid));
        });
        if (OidIsValid(indexoid)) raw = index_key_columns(indexoid);
        a.index = quote_ident(c->indexname);
      } else if (c->contype != CONSTR_EXCLUSION) {
        ListCell* lc;
        foreach (lc, c->keys) raw.emplace_back(strVal(lfirst(lc)));
      }
      for (const std::string& n : raw) a.columns.push_back(quote_ident(n.c_str()));
      if (a.constraint.empty()) {
        // indexcmds.c ChooseIndexName: relname_pkey, relname_col1_col2_key, relname_..._excl.
        std::string addition;
        for (const std::string& n : raw) addition += (addition.empty() ? "" : "_") + n;
        const char* label = c->contype == CONSTR_PRIMARY ? "pkey" : c->contype == CONSTR_UNIQUE ? "key" : "excl";
        char* name = a.using_index ? c->indexname : pg::call([&] {
          return ChooseRelationName(get_rel_name(target.oid),
                                    c->contype == CONSTR_PRIMARY ? nullptr : addition.c_str(), label,
                                    get_rel_namespace(target.oid), true);
        });
        a.constraint = quote_ident(name);
      }
      if (a.index.empty()) a.index = a.constraint;
      if (!a.using_index && c->contype != CONSTR_EXCLUSION) {
        // The index the constraint would build, as CREATE INDEX CONCURRENTLY can build it beforehand
        // (key columns, INCLUDE, NULLS NOT DISTINCT, USING INDEX TABLESPACE).
        a.index_def = "CREATE UNIQUE INDEX CONCURRENTLY " + a.index + " ON " + target.facts.name + " (" +
                      join_quoted(a.columns) + ")";
        if (c->including != NIL) a.index_def += " INCLUDE (" + join_quoted(quoted_names(c->including)) + ")";
        if (c->nulls_not_distinct) a.index_def += " NULLS NOT DISTINCT";
        if (c->indexspace != nullptr) a.index_def += " TABLESPACE " + quote_ident(c->indexspace);
      }
      if (c->deferrable) a.constraint_def = c->initdeferred ? " DEFERRABLE INITIALLY DEFERRED" : " DEFERRABLE";
      if (c->contype == CONSTR_PRIMARY) a.nullable_columns = nullable_columns(target.oid, raw);
      // Without USING INDEX the index is built under the lock; a PRIMARY KEY also sets its columns
      // NOT NULL (a scan unless a valid CHECK proves them).
      a.scan = storage && (!a.using_index || !a.nullable_columns.empty());
      break;
    }
    default:
      break;
  }
}

void fill_validate_constraint(const Resolved& target, AlterTableCmd* cmd, Action& a, const AnalysisContext& context,
                              Statement& out) {
  a.constraint = quote_ident(cmd->name);
  struct Found {
    bool ok, validated;
    char type;
    Oid confrelid;
  };
  Found f = pg::call([&]() -> Found {
    Found r{};
    Oid conoid = get_relation_constraint_oid(target.oid, cmd->name, true);
    if (!OidIsValid(conoid)) return r;
    HeapTuple tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
    if (!HeapTupleIsValid(tup)) return r;
    auto* con = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tup));
    r.ok = true;
    r.validated = con->convalidated;
    r.type = con->contype;
    r.confrelid = con->confrelid;
    ReleaseSysCache(tup);
    return r;
  });
  if (!f.ok) return;
  a.constraint_type = f.type;
  // tablecmds.c ATExecValidateConstraint: nothing to do for a valid constraint; otherwise it scans
  // (a FOREIGN KEY through RI_Initial_Check, opening the referenced table with ROW SHARE).
  a.scan = !f.validated && RELKIND_HAS_STORAGE(target.facts.kind);
  if (f.type == CONSTRAINT_FOREIGN && !f.validated && OidIsValid(f.confrelid) && f.confrelid != target.oid) {
    Action r;
    r.op = Op::ValidateConstraint;
    r.command = "ALTER TABLE";
    r.rel = resolve_oid(f.confrelid).facts;
    r.lock = LockMode::RowShare;
    r.scan = true;
    r.constraint = a.constraint;
    r.constraint_type = 'f';
    r.referenced = target.facts.name;
    r.referenced_side = true;
    out.actions.push_back(std::move(r));
  }
}

struct PartitionProof {
  bool ok;              // the bound could be computed
  bool implied;         // the partition's constraints imply its new partition constraint
  char* constraint;     // the partition constraint, deparsed over the partition's columns
  char* bound;          // FOR VALUES ... / DEFAULT
  Oid default_part;     // the parent's default partition, if any (it gets re-checked)
  bool default_implied;
  char* default_constraint;  // the default partition's new constraint, deparsed over its columns
  List* missing_indexes;     // "name\tUSING ..." of parent indexes the partition has no match for
  List* below;               // a partitioned table being attached: every relation below it ...
  List* below_scanned;       // ... and (int list) whether it is scanned
};

// tablecmds.c QueuePartitionConstraintValidation: a partitioned table whose constraints do not prove
// the bound passes the question down to each partition (locked ACCESS EXCLUSIVE, as ATExecAttachPartition
// locks every inheritor), and a plain partition that cannot prove it is scanned. Call inside pg::call.
void validate_below(Relation rel, List* constraint, bool proven_above, List** oids, List** scanned) {
  PartitionDesc desc = RelationGetPartitionDesc(rel, true);
  for (int i = 0; i < desc->nparts; i++) {
    Oid child = desc->oids[i];
    Relation c = open_if_free(child);
    bool proven = proven_above;
    if (c == nullptr) {
      *oids = lappend_oid(*oids, child);
      *scanned = lappend_int(*scanned, !proven);
      continue;
    }
    List* mapped = map_partition_varattnos(constraint, 1, c, rel);
    if (!proven) proven = PartConstraintImpliedByRelConstraint(c, mapped);
    *oids = lappend_oid(*oids, child);
    *scanned = lappend_int(*scanned, !proven && RELKIND_HAS_STORAGE(c->rd_rel->relkind));
    if (c->rd_rel->relkind == RELKIND_PARTITIONED_TABLE) validate_below(c, mapped, proven, oids, scanned);
    close_read(c);
  }
}

// tablecmds.c ATExecAttachPartition / QueuePartitionConstraintValidation: the partition is scanned
// unless PartConstraintImpliedByRelConstraint proves the bound (and the parent's own partition
// constraint) from its valid CHECK and NOT NULL constraints; a default partition is re-checked
// against the negation of the new bound (get_proposed_default_constraint).
// An index's definition from USING on, prefixed with U when unique: two indexes with the same
// signature over tables with the same column names are what CompareIndexInfo calls equivalent (a
// textual approximation: same method, keys, expressions, operator classes, collations, predicate).
// Call inside pg::call.
char* index_signature(Oid indexoid) {
  char* def = pg_get_indexdef_string(indexoid);
  char* using_clause = strstr(def, " USING ");
  HeapTuple tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
  bool unique = HeapTupleIsValid(tup) && reinterpret_cast<Form_pg_index>(GETSTRUCT(tup))->indisunique;
  if (HeapTupleIsValid(tup)) ReleaseSysCache(tup);
  return psprintf("%s%s", unique ? "U" : "", using_clause ? using_clause : def);
}

// tablecmds.c AttachPartitionEnsureIndexes: each index of the parent needs an equivalent index on the
// partition, which is attached; a missing one is built (DefineIndex) under the ACCESS EXCLUSIVE lock.
// Call inside pg::call.
List* missing_partition_indexes(Relation parent, Relation part) {
  List* result = NIL;
  List* part_sigs = NIL;
  ListCell* lc;
  List* part_indexes = RelationGetIndexList(part);
  foreach (lc, part_indexes) part_sigs = lappend(part_sigs, index_signature(lfirst_oid(lc)));
  List* parent_indexes = RelationGetIndexList(parent);
  foreach (lc, parent_indexes) {
    Oid idx = lfirst_oid(lc);
    char* sig = index_signature(idx);
    bool found = false;
    ListCell* pc;
    foreach (pc, part_sigs) found = found || strcmp(sig, static_cast<char*>(lfirst(pc))) == 0;
    if (!found) result = lappend(result, psprintf("%s\t%s", get_rel_name(idx), sig));
  }
  return result;
}

// partbounds.c check_default_partition_contents: a new bound is checked against the rows of the
// parent's default partition, unless its constraints imply the default's new constraint
// (get_proposed_default_constraint). Call inside pg::call.
void prove_default(Relation parent, PartitionBoundSpec* bound, List* bound_constraint, Oid partid,
                   PartitionProof& p) {
  p.default_part = get_default_oid_from_partdesc(RelationGetPartitionDesc(parent, true));
  p.default_implied = true;
  if (!OidIsValid(p.default_part) || p.default_part == partid || bound->is_default) {
    p.default_part = InvalidOid;
    return;
  }
  Relation def = open_if_free(p.default_part);
  p.default_implied = false;
  if (def == nullptr) return;
  List* def_constraint = get_proposed_default_constraint(bound_constraint);
  def_constraint = map_partition_varattnos(def_constraint, 1, def, parent);
  p.default_implied = PartConstraintImpliedByRelConstraint(def, def_constraint);
  p.default_constraint = deparse_expression(reinterpret_cast<Node*>(make_ands_explicit(def_constraint)),
                                            deparse_context_for(RelationGetRelationName(def), p.default_part),
                                            false, false);
  close_read(def);
}

PartitionProof prove_partition(Oid parentid, Oid partid, PartitionBoundSpec* raw_bound) {
  return pg::call([&]() -> PartitionProof {
    PartitionProof p{};
    Relation parent = open_if_free(parentid);
    if (parent == nullptr) return p;
    // Not a partitioned table (PostgreSQL rejects the statement: "... is not partitioned"), or no bound
    // to check: nothing to prove.
    if (parent->rd_rel->relkind != RELKIND_PARTITIONED_TABLE || raw_bound == nullptr) {
      close_read(parent);
      return p;
    }
    Relation part = open_if_free(partid);
    if (part == nullptr) {
      close_read(parent);
      return p;
    }
    ParseState* pstate = make_parsestate(nullptr);
    PartitionBoundSpec* bound =
        transformPartitionBound(pstate, parent, static_cast<PartitionBoundSpec*>(copyObjectImpl(raw_bound)));
    p.bound = deparse_expression(reinterpret_cast<Node*>(bound),
                                 deparse_context_for(RelationGetRelationName(parent), parentid), false, false);
    List* bound_constraint = get_qual_from_partbound(parent, bound);
    List* constraint = list_concat(list_copy(bound_constraint), RelationGetPartitionQual(parent));
    p.implied = true;
    if (constraint != NIL) {
      constraint = make_ands_implicit(reinterpret_cast<Expr*>(
          eval_const_expressions(nullptr, reinterpret_cast<Node*>(make_ands_explicit(constraint)))));
      constraint = reinterpret_cast<List*>(canonicalize_qual(reinterpret_cast<Expr*>(constraint), true));
      constraint = map_partition_varattnos(constraint, 1, part, parent);
      p.implied = PartConstraintImpliedByRelConstraint(part, constraint);
      if (part->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
        validate_below(part, constraint, p.implied, &p.below, &p.below_scanned);
      p.constraint = deparse_expression(reinterpret_cast<Node*>(make_ands_explicit(constraint)),
                                        deparse_context_for(RelationGetRelationName(part), partid), false, false);
    }
    if (part->rd_rel->relkind == RELKIND_RELATION) p.missing_indexes = missing_partition_indexes(parent, part);
    prove_default(parent, bound, bound_constraint, partid, p);
    close_read(part);
    close_read(parent);
    p.ok = true;
    return p;
  });
}

PartitionProof prove_new_partition(Oid parentid, PartitionBoundSpec* raw_bound) {
  return pg::call([&]() -> PartitionProof {
    PartitionProof p{};
    Relation parent = open_if_free(parentid);
    if (parent == nullptr) return p;
    if (parent->rd_rel->relkind != RELKIND_PARTITIONED_TABLE || raw_bound == nullptr) {
      close_read(parent);  // PostgreSQL rejects CREATE TABLE ... PARTITION OF a table not partitioned
      return p;
    }
    ParseState* pstate = make_parsestate(nullptr);
    PartitionBoundSpec* bound =
        transformPartitionBound(pstate, parent, static_cast<PartitionBoundSpec*>(copyObjectImpl(raw_bound)));
    p.bound = deparse_expression(reinterpret_cast<Node*>(bound),
                                 deparse_context_for(RelationGetRelationName(parent), parentid), false, false);
    prove_default(parent, bound, get_qual_from_partbound(parent, bound), InvalidOid, p);
    close_read(parent);
    p.ok = true;
    return p;
  });
}

// ALTER INDEX parent ATTACH PARTITION child (tablecmds.c ATExecAttachPartitionIdx,
// RangeVarCallbackForAttachIndex): the child index ACCESS EXCLUSIVE, the tables of both indexes ACCESS
// SHARE; a catalog change, nothing is read or built. (The parent index itself gets the subcommand's
// lock, SHARE UPDATE EXCLUSIVE.)
void fill_attach_partition_index(const Resolved& target, AlterTableCmd* cmd, Action& parent_action,
                                 const AnalysisContext& context, Statement& out) {
  parent_action.op = Op::AlterTableOther;
  auto* pc = castNode(PartitionCmd, cmd->def);
  Resolved child = resolve(pc->name, context);
  parent_action.new_name = child.facts.name;
  Oid parent_table = pg::call([&] { return IndexGetRelation(target.oid, true); });
  if (OidIsValid(parent_table)) out.actions.push_back(side_action(parent_table, LockMode::AccessShare, false, parent_action));
  if (child.oid == InvalidOid) return;
  char kind = pg::call([&] { return get_rel_relkind(child.oid); });
  if (kind != RELKIND_INDEX && kind != RELKIND_PARTITIONED_INDEX) return;  // PostgreSQL: "... is not an index"
  Oid child_table = pg::call([&] { return IndexGetRelation(child.oid, true); });
  if (OidIsValid(child_table) && child_table != parent_table)
    out.actions.push_back(side_action(child_table, LockMode::AccessShare, false, parent_action));
  out.actions.push_back(side_action(child.oid, LockMode::AccessExclusive, false, parent_action));
}

void fill_attach_partition(const Resolved& target, AlterTableCmd* cmd, Action& parent_action,
                           const AnalysisContext& context, Statement& out) {
  if (target.facts.kind == RELKIND_INDEX || target.facts.kind == RELKIND_PARTITIONED_INDEX) {
    fill_attach_partition_index(target, cmd, parent_action, context, out);
    return;
  }
  if (target.oid != InvalidOid && target.facts.kind != RELKIND_PARTITIONED_TABLE) {
    parent_action.op = Op::AlterTableOther;  // PostgreSQL rejects it: "... is not partitioned"
    return;
  }
  auto* pc = castNode(PartitionCmd, cmd->def);
  Resolved part = resolve(pc->name, context);
  Action a;
  a.op = Op::AttachPartition;
  a.command = "ALTER TABLE";
  a.rel = part.facts;
  // tablecmds.c ATExecAttachPartition: table_openrv(cmd->name, AccessExclusiveLock).
  a.lock = LockMode::AccessExclusive;
  a.parent = target.facts.name;
  parent_action.new_name = part.facts.name;
  PartitionProof p{};
  if (part.oid != InvalidOid && target.oid != InvalidOid) p = prove_partition(target.oid, part.oid, pc->bound);
  a.partition_constraint_implied = p.ok && p.implied;
  if (p.constraint) a.constraint_expr = p.constraint;
  if (p.bound) a.partition_bound = p.bound;
  ListCell* mi;
  foreach (mi, p.missing_indexes) {
    std::string entry = static_cast<char*>(lfirst(mi));
    size_t tab = entry.find('\t');
    std::string sig = entry.substr(tab + 1);
    bool unique = !sig.empty() && sig[0] == 'U';
    if (unique) sig = sig.substr(1);
    a.rebuilt_indexes.push_back(quote_ident(entry.substr(0, tab).c_str()));
    a.rebuilt_index_defs.push_back(std::string("CREATE ") + (unique ? "UNIQUE " : "") + "INDEX CONCURRENTLY ON " +
                                   part.facts.name + sig);
  }
  a.scan = (!a.partition_constraint_implied || !a.rebuilt_indexes.empty()) && RELKIND_HAS_STORAGE(part.facts.kind);
  out.actions.push_back(a);
  for (int i = 0; i < list_length(p.below); i++) {
    Action b;
    b.op = Op::AttachPartition;
    b.command = "ALTER TABLE";
    b.rel = resolve_oid(list_nth_oid(p.below, i)).facts;
    b.lock = LockMode::AccessExclusive;
    b.parent = part.facts.name;
    b.recursed_from = part.facts.name;
    b.scan = list_nth_int(p.below_scanned, i) != 0;
    out.actions.push_back(std::move(b));
  }
  if (p.ok && OidIsValid(p.default_part)) {
    Action d;
    d.op = Op::AttachPartition;
    d.command = "ALTER TABLE";
    d.rel = resolve_oid(p.default_part).facts;
    d.lock = LockMode::AccessExclusive;
    d.parent = target.facts.name;
    d.default_partition = true;
    d.partition_constraint_implied = p.default_implied;
    d.partition_bound = a.partition_bound;
    d.new_name = part.facts.name;
    if (p.default_constraint) d.constraint_expr = p.default_constraint;
    d.scan = !p.default_implied && RELKIND_HAS_STORAGE(d.rel.kind);
    out.actions.push_back(std::move(d));
  }
}

// DETACH PARTITION locks the partition too (tablecmds.c ATExecDetachPartition): ACCESS EXCLUSIVE, or
// SHARE UPDATE EXCLUSIVE with CONCURRENTLY. Nothing is scanned.
void fill_detach_partition(const Resolved& target, AlterTableCmd* cmd, Action& parent_action,
                           const AnalysisContext& context, Statement& out) {
  auto* pc = castNode(PartitionCmd, cmd->def);
  Resolved part = resolve(pc->name, context);
  parent_action.new_name = part.facts.name;
  parent_action.concurrently = pc->concurrent;
  if (part.oid == InvalidOid) return;
  out.actions.push_back(side_action(part.oid, pc->concurrent ? LockMode::ShareUpdateExclusive : LockMode::AccessExclusive,
                                    false, parent_action));
  // The default partition's constraint changes with the detach: it is locked ACCESS EXCLUSIVE too
  // (CONCURRENTLY is refused when there is one).
  Oid default_part = pg::call([&]() -> Oid {
    Relation parent = RelationIdGetRelation(target.oid);
    if (parent == nullptr) return InvalidOid;
    Oid d = parent->rd_rel->relkind == RELKIND_PARTITIONED_TABLE
                ? get_default_partition_oid(target.oid)
                : InvalidOid;
    RelationClose(parent);
    return d;
  });
  if (OidIsValid(default_part) && default_part != part.oid && !pc->concurrent)
    out.actions.push_back(side_action(default_part, LockMode::AccessExclusive, false, parent_action));
}

// DROP CONSTRAINT of a foreign key also drops its triggers on the referenced table, which
// RemoveConstraintById opens ACCESS EXCLUSIVE.
void fill_drop_constraint(const Resolved& target, AlterTableCmd* cmd, Action& a, Statement& out) {
  a.constraint = quote_ident(cmd->name);
  Oid confrelid = pg::call([&]() -> Oid {
    Oid conoid = get_relation_constraint_oid(target.oid, cmd->name, true);
    if (!OidIsValid(conoid)) return InvalidOid;
    HeapTuple tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
    if (!HeapTupleIsValid(tup)) return InvalidOid;
    auto* con = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tup));
    Oid other = con->contype == CONSTRAINT_FOREIGN ? con->confrelid : InvalidOid;
    a.constraint_type = con->contype;
    ReleaseSysCache(tup);
    return other;
  });
  if (OidIsValid(confrelid) && confrelid != target.oid)
    out.actions.push_back(side_action(confrelid, LockMode::AccessExclusive, false, a));
}

struct StorageFacts {
  char persistence;
  Oid tablespace;
  Oid am;
};

StorageFacts storage_facts(Oid relid) {
  return pg::call([&]() -> StorageFacts {
    StorageFacts s{};
    HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tup)) return s;
    auto* form = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup));
    s.persistence = form->relpersistence;
    s.tablespace = form->reltablespace;
    s.am = form->relam;
    ReleaseSysCache(tup);
    return s;
  });
}

void fill_storage(const Resolved& target, AlterTableCmd* cmd, Action& a) {
  if (target.oid == InvalidOid) return;
  StorageFacts s = storage_facts(target.oid);
  bool storage = RELKIND_HAS_STORAGE(target.facts.kind);
  switch (a.op) {
    case Op::SetLogged:
    case Op::SetUnlogged: {
      // tablecmds.c ATPrepChangePersistence: a no-op when the persistence is already the asked one;
      // otherwise the table and its indexes are rewritten (AT_REWRITE_ALTER_PERSISTENCE).
      char wanted = a.op == Op::SetLogged ? RELPERSISTENCE_PERMANENT : RELPERSISTENCE_UNLOGGED;
      a.rewrite = storage && s.persistence != wanted;
      a.scan = a.rewrite;
      break;
    }
    case Op::SetTablespace: {
      // tablecmds.c ATExecSetTableSpace: a no-op for the current tablespace; otherwise every block
      // is copied to a new relfilenode (no tuple-level scan).
      a.new_name = quote_ident(cmd->name);
      Oid ts = pg::call([&] { return get_tablespace_oid(cmd->name, false); });
      if (ts == MyDatabaseTableSpace) ts = InvalidOid;
      a.rewrite = storage && ts != s.tablespace;
      a.scan = false;
      break;
    }
    case Op::SetAccessMethod: {
      // tablecmds.c ATPrepSetAccessMethod: nothing to do for the current method; otherwise a rewrite
      // (AT_REWRITE_ACCESS_METHOD).
      a.new_name = quote_ident(cmd->name);
      Oid am = pg::call([&] { return get_table_am_oid(cmd->name, false); });
      a.same_access_method = am == s.am;
      a.rewrite = storage && !a.same_access_method;
      a.scan = a.rewrite;
      break;
    }
    default:
      break;
  }
}

// Whether PostgreSQL carries this subcommand down to the partitions / inheritance children
// (tablecmds.c: ATPrepCmd's recursion, ATAddCheckConstraint, ATExecAddIndexConstraint via DefineIndex
// on partitioned tables, addFkRecurseReferencing).
bool recurses(const Resolved& target, const Action& a, AlterTableCmd* cmd) {
  bool partitioned = target.facts.kind == RELKIND_PARTITIONED_TABLE;
  switch (a.op) {
    case Op::AlterColumnType:
    case Op::AddColumn:
    case Op::SetNotNull:
      return true;
    case Op::AddConstraint: {
      if (!IsA(cmd->def, Constraint)) return false;
      auto* c = castNode(Constraint, cmd->def);
      if (c->contype == CONSTR_CHECK) return !c->is_no_inherit;
      return partitioned && (c->contype == CONSTR_PRIMARY || c->contype == CONSTR_UNIQUE ||
                             c->contype == CONSTR_FOREIGN || c->contype == CONSTR_EXCLUSION);
    }
    case Op::ValidateConstraint:
      return a.constraint_type == CONSTRAINT_CHECK;
    default:
      return false;
  }
}

// One action per partition / child the subcommand reaches, with that relation's own facts. The lock
// is the parent's: ATPrepCmd recursion and find_all_inheritors lock every child in the same mode.
void add_children(const Resolved& target, AlterTableCmd* cmd, const Action& parent, const AnalysisContext& context,
                  Statement& out) {
  List* children = pg::call([&] { return find_all_inheritors(target.oid, NoLock, nullptr); });
  ListCell* lc;
  foreach (lc, children) {
    Oid child = lfirst_oid(lc);
    if (child == target.oid) continue;
    Resolved rc = resolve_oid(child);
    if (rc.oid == InvalidOid) continue;
    Action c;
    c.op = parent.op;
    c.command = parent.command;
    c.rel = rc.facts;
    c.lock = parent.lock;
    c.column = parent.column;
    c.constraint = parent.constraint;
    c.constraint_type = parent.constraint_type;
    c.not_valid = parent.not_valid;
    c.subcommand = parent.subcommand;
    c.recursed_from = target.facts.name;
    Statement ignored;  // the referenced side is already recorded once, for the named table
    switch (parent.op) {
      case Op::AlterColumnType: fill_type_change(rc, cmd, c); break;
      case Op::AddColumn: fill_add_column(rc, cmd, c, context, ignored); break;
      case Op::SetNotNull: fill_set_not_null(rc, cmd, c); break;
      case Op::ValidateConstraint: fill_validate_constraint(rc, cmd, c, context, ignored); break;
      case Op::AddConstraint:
        // CHECK / FOREIGN KEY: validated in each partition unless NOT VALID; PRIMARY KEY / UNIQUE /
        // EXCLUDE: an index built in each partition.
        c.scan = RELKIND_HAS_STORAGE(c.rel.kind) &&
                 ((c.constraint_type == 'c' || c.constraint_type == 'f') ? !c.not_valid : true);
        break;
      default: break;
    }
    c.op = parent.op;  // a child the fill could not judge keeps the parent's op for the link
    out.actions.push_back(std::move(c));
  }
}

}  // namespace

DefaultPartitionCheck default_partition_check(Oid parentid, PartitionBoundSpec* bound) {
  PartitionProof p = prove_new_partition(parentid, bound);
  DefaultPartitionCheck d;
  if (!p.ok) return d;
  d.ok = true;
  d.default_part = p.default_part;
  d.implied = p.default_implied;
  if (p.bound) d.bound = p.bound;
  if (p.default_constraint) d.constraint = p.default_constraint;
  return d;
}

// A CHECK that a DROP CONSTRAINT of the same statement removes is not re-validated by its ALTER COLUMN
// TYPE: PostgreSQL runs the drops first (tablecmds.c: AT_PASS_DROP comes before AT_PASS_ALTER_TYPE),
// so the type change finds no such constraint to rebuild. The safe form of a type change under a
// CHECK is exactly that: DROP CONSTRAINT, ALTER COLUMN TYPE, ADD CONSTRAINT ... NOT VALID.
void forget_dropped_checks(AlterTableStmt* stmt, Statement& out) {
  std::vector<std::string> dropped;
  ListCell* lc;
  foreach (lc, stmt->cmds) {
    auto* cmd = lfirst_node(AlterTableCmd, lc);
    if (cmd->subtype == AT_DropConstraint && cmd->name != nullptr) dropped.push_back(quote_ident(cmd->name));
  }
  if (dropped.empty()) return;
  for (Action& a : out.actions) {
    if (a.op != Op::AlterColumnType || a.revalidated_checks.empty()) continue;
    std::vector<std::string> names, defs;
    for (size_t i = 0; i < a.revalidated_checks.size(); i++) {
      if (std::find(dropped.begin(), dropped.end(), a.revalidated_checks[i]) != dropped.end()) continue;
      names.push_back(a.revalidated_checks[i]);
      if (i < a.revalidated_check_defs.size()) defs.push_back(a.revalidated_check_defs[i]);
    }
    a.revalidated_checks = std::move(names);
    a.revalidated_check_defs = std::move(defs);
    a.scan = a.scan && (a.rewrite || !a.rebuilt_indexes.empty() || !a.revalidated_checks.empty());
  }
}

void analyze_alter_table(AlterTableStmt* stmt, const AnalysisContext& context, Statement& out) {
  Resolved target = resolve(stmt->relation, context);
  int index = 0;
  ListCell* lc;
  foreach (lc, stmt->cmds) {
    auto* cmd = lfirst_node(AlterTableCmd, lc);
    Action a;
    a.command = "ALTER TABLE";
    a.rel = target.facts;
    a.op = op_for(cmd->subtype, cmd);
    a.subcommand = index++;
    a.lock = to_lock_mode(pg::call([&] { return AlterTableGetLockLevel(list_make1(cmd)); }));
    if (cmd->name != nullptr) a.column = quote_ident(cmd->name);
    // Actions on other relations (the referenced table, the partition) follow this one.
    Statement extra;
    // A temporary table's subcommands reach only temporary relations (PostgreSQL keeps partitions,
    // children and foreign keys of a temporary table temporary), except INHERIT / NO INHERIT.
    bool detail = !(context.skip_temporary_detail && target.facts.temporary);
    if (target.oid != InvalidOid) {
      if (cmd->subtype == AT_AddInherit || cmd->subtype == AT_DropInherit) {
        // tablecmds.c ATExecAddInherit opens the new parent SHARE UPDATE EXCLUSIVE, ATExecDropInherit
        // the old one ACCESS SHARE.
        Resolved parent = resolve(castNode(RangeVar, cmd->def), context);
        if (parent.oid != InvalidOid)
          extra.actions.push_back(side_action(parent.oid, cmd->subtype == AT_AddInherit ? LockMode::ShareUpdateExclusive
                                                                                         : LockMode::AccessShare,
                                              false, a));
      }
      if (detail) {
        switch (a.op) {
          case Op::AlterColumnType: fill_type_change(target, cmd, a, &extra); break;
          case Op::AddColumn: fill_add_column(target, cmd, a, context, extra); break;
          case Op::SetNotNull: fill_set_not_null(target, cmd, a); break;
          case Op::AddConstraint: fill_add_constraint(target, cmd, a, context, extra); break;
          case Op::DropConstraint: fill_drop_constraint(target, cmd, a, extra); break;
          case Op::DropColumn: {
            // Dropping the column drops the foreign keys on it, and with them their triggers on the table
            // at the other end, which is locked ACCESS EXCLUSIVE (RemoveConstraintById).
            AttrNumber attnum = pg::call([&] { return get_attnum(target.oid, cmd->name); });
            if (attnum > 0) {
              a.column_not_null = pg::call([&] {
                HeapTuple tuple = SearchSysCacheAttNum(target.oid, attnum);
                if (!HeapTupleIsValid(tuple)) return false;
                bool not_null = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(tuple))->attnotnull;
                ReleaseSysCache(tuple);
                return not_null;
              });
              List* fks = foreign_keys_on_column(target.oid, attnum);
              ListCell* fc;
              foreach (fc, fks)
                extra.actions.push_back(
                    side_action(static_cast<ForeignKeyUse*>(lfirst(fc))->other, LockMode::AccessExclusive, false, a));
            }
            break;
          }
          case Op::ValidateConstraint: fill_validate_constraint(target, cmd, a, context, extra); break;
          case Op::AttachPartition: fill_attach_partition(target, cmd, a, context, extra); break;
          case Op::DetachPartition: fill_detach_partition(target, cmd, a, context, extra); break;
          case Op::SetLogged:
          case Op::SetUnlogged:
          case Op::SetTablespace:
          case Op::SetAccessMethod: fill_storage(target, cmd, a); break;
          default: break;
        }
        bool has_children = target.facts.kind == RELKIND_PARTITIONED_TABLE ||
                            pg::call([&] { return has_subclass(target.oid); });
        if (stmt->relation->inh && has_children && recurses(target, a, cmd)) add_children(target, cmd, a, context, extra);
      }
    }
    for (Action& e : extra.actions) e.subcommand = a.subcommand;
    out.actions.push_back(std::move(a));
    for (Action& e : extra.actions) out.actions.push_back(std::move(e));
  }
  forget_dropped_checks(stmt, out);
}

}  // namespace zdm::guard
