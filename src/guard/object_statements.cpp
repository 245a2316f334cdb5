// Statements that lock existing tables while they add, check or comment on something else:
// CREATE TABLE (REFERENCES, PARTITION OF, INHERITS, LIKE), CREATE TRIGGER, CREATE / ALTER POLICY,
// CREATE RULE, CREATE STATISTICS, CREATE VIEW / MATERIALIZED VIEW / TABLE AS (the tables their query
// reads), COMMENT, LOCK, ALTER DOMAIN (the tables whose columns use the domain), and DROP TRIGGER /
// RULE / POLICY. Lock levels as PostgreSQL 15 takes them (tablecmds.c DefineRelation, trigger.c,
// policy.c, rewriteDefine.c, statscmds.c, comment.c, lockcmds.c, typecmds.c, objectaddress.c).
#include <cstring>
#include <string>
#include <vector>

#include "guard/analyze_internal.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_type.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
}

namespace zdm::guard {

namespace {

// --- the relations a raw query reads --------------------------------------------------------------

struct QueryNames {
  List* range_vars;  // RangeVar nodes anywhere in the query
  List* cte_names;   // names the query's WITH clauses define (String nodes)
};

bool collect_names(Node* node, void* context) {
  if (node == nullptr) return false;
  auto* names = static_cast<QueryNames*>(context);
  if (IsA(node, RangeVar)) names->range_vars = lappend(names->range_vars, node);
  if (IsA(node, CommonTableExpr))
    names->cte_names = lappend(names->cte_names, makeString(castNode(CommonTableExpr, node)->ctename));
  // PostgreSQL 15 declares the walker as bool (*)(); it calls it with (node, context).
  return raw_expression_tree_walker(node, reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(collect_names)), context);
}

// Every existing relation a raw (not yet analysed) query reads, as parse analysis and the rewriter
// would lock them: each named relation (an unqualified name that a WITH clause defines is the CTE,
// not a table), with inheritance its children, and through views what they read. ACCESS SHARE each,
// ROW SHARE with FOR UPDATE / SHARE is not modelled: a DDL's query rarely locks rows.
std::vector<Oid> relations_read(Node* query) {
  QueryNames names{NIL, NIL};
  pg::call([&] { (void)collect_names(query, &names); });
  std::vector<Oid> named;  // read with their children
  std::vector<Oid> only;   // ONLY t: t alone
  ListCell* lc;
  foreach (lc, names.range_vars) {
    auto* rv = static_cast<RangeVar*>(lfirst(lc));
    if (rv->schemaname == nullptr) {
      bool cte = false;
      ListCell* cc;
      foreach (cc, names.cte_names) cte = cte || strcmp(strVal(lfirst(cc)), rv->relname) == 0;
      if (cte) continue;
    }
    Oid relid = pg::call([&] { return RangeVarGetRelid(rv, NoLock, true); });
    if (!OidIsValid(relid)) continue;
    (rv->inh ? named : only).push_back(relid);
  }
  std::vector<Oid> out = read_relations(named);
  for (Oid relid : only) {
    bool seen = false;
    for (Oid o : out) seen = seen || o == relid;
    if (!seen) out.push_back(relid);
  }
  return out;
}

// One ACCESS SHARE action per relation the query reads; `reads_rows`: the statement runs the query
// (CREATE TABLE AS, CREATE MATERIALIZED VIEW WITH DATA), rather than only storing it (CREATE VIEW).
void add_reads(const Action& named, Node* query, bool reads_rows, Statement& out) {
  for (Oid relid : relations_read(query)) {
    Action r = reached(named, relid, LockMode::AccessShare);
    r.recursed_from.clear();
    r.scan = reads_rows && has_storage(r.rel.kind) && !r.rel.known_empty;
    out.actions.push_back(std::move(r));
  }
}

Action on_table(const char* command, Op op, const Resolved& target, LockMode lock) {
  Action a;
  a.op = op;
  a.command = command;
  a.rel = target.facts;
  a.lock = lock;
  return a;
}

// --- CREATE TABLE ---------------------------------------------------------------------------------

// FOREIGN KEY constraints of a new table: in column definitions and as table constraints.
std::vector<Constraint*> foreign_keys(CreateStmt* stmt) {
  std::vector<Constraint*> out;
  ListCell* lc;
  foreach (lc, stmt->tableElts) {
    Node* elt = static_cast<Node*>(lfirst(lc));
    if (IsA(elt, ColumnDef)) {
      ListCell* cc;
      foreach (cc, castNode(ColumnDef, elt)->constraints) {
        auto* c = lfirst_node(Constraint, cc);
        if (c->contype == CONSTR_FOREIGN) out.push_back(c);
      }
    } else if (IsA(elt, Constraint) && castNode(Constraint, elt)->contype == CONSTR_FOREIGN) {
      out.push_back(castNode(Constraint, elt));
    }
  }
  foreach (lc, stmt->constraints) {
    auto* c = lfirst_node(Constraint, lc);
    if (c->contype == CONSTR_FOREIGN) out.push_back(c);
  }
  return out;
}

void analyze_create_table(CreateStmt* stmt, const AnalysisContext& context, Statement& out) {
  Action created;
  created.op = Op::CreateTable;
  created.command = "CREATE TABLE";
  created.rel.name = quote_ident(stmt->relation->relname);
  ListCell* lc;
  // tablecmds.c DefineRelation: a partition's parent ACCESS EXCLUSIVE (its partition descriptor
  // changes), an inheritance parent SHARE UPDATE EXCLUSIVE.
  foreach (lc, stmt->inhRelations) {
    Resolved parent = resolve(lfirst_node(RangeVar, lc), context);
    if (parent.oid == InvalidOid) continue;
    bool partition = stmt->partbound != nullptr;
    Action p = on_table("CREATE TABLE", Op::CreateTable, parent,
                        partition ? LockMode::AccessExclusive : LockMode::ShareUpdateExclusive);
    p.new_name = created.rel.name;
    out.actions.push_back(p);
    if (!partition) continue;
    // StorePartitionBound -> check_default_partition_contents: the default partition, ACCESS
    // EXCLUSIVE, scanned unless its constraints prove it holds no row of the new bound.
    DefaultPartitionCheck d = default_partition_check(parent.oid, stmt->partbound);
    if (!d.ok || !OidIsValid(d.default_part)) continue;
    Action def = reached(p, d.default_part, LockMode::AccessExclusive);
    def.op = Op::AttachPartition;
    def.recursed_from.clear();
    def.default_partition = true;
    def.parent = parent.facts.name;
    def.new_name = created.rel.name;
    def.partition_bound = d.bound;
    def.constraint_expr = d.constraint;
    def.partition_constraint_implied = d.implied;
    def.scan = !d.implied && has_storage(def.rel.kind) && !def.rel.known_empty;
    out.actions.push_back(std::move(def));
  }
  // ATAddForeignKeyConstraint, run for the new table after it exists: the referenced table SHARE ROW
  // EXCLUSIVE; nothing is validated, the new table has no rows.
  for (Constraint* fk : foreign_keys(stmt)) {
    if (fk->pktable == nullptr) continue;
    Resolved ref = resolve(fk->pktable, context);
    if (ref.oid == InvalidOid) continue;
    Action r = on_table("CREATE TABLE", Op::CreateTable, ref, LockMode::ShareRowExclusive);
    r.referenced = ref.facts.name;
    r.referenced_side = true;
    r.new_name = created.rel.name;
    out.actions.push_back(std::move(r));
  }
  // parse_utilcmd.c transformTableLikeClause: the LIKE source, ACCESS SHARE.
  foreach (lc, stmt->tableElts) {
    Node* elt = static_cast<Node*>(lfirst(lc));
    if (!IsA(elt, TableLikeClause)) continue;
    Resolved src = resolve(castNode(TableLikeClause, elt)->relation, context);
    if (src.oid == InvalidOid) continue;
    out.actions.push_back(on_table("CREATE TABLE", Op::CreateTable, src, LockMode::AccessShare));
  }
}

// --- triggers, policies, rules, statistics --------------------------------------------------------

void analyze_create_trigger(CreateTrigStmt* stmt, const AnalysisContext& context, Statement& out) {
  Resolved target = resolve(stmt->relation, context);
  // trigger.c CreateTriggerFiringOn: SHARE ROW EXCLUSIVE (blocks writes, not reads); a row trigger on
  // a partitioned table is cloned onto every partition under the same lock.
  Action a = on_table("CREATE TRIGGER", Op::Other, target, LockMode::ShareRowExclusive);
  if (stmt->trigname) a.constraint = quote_ident(stmt->trigname);
  std::vector<Action> parts;
  if (target.oid != InvalidOid && a.rel.kind == RELKIND_PARTITIONED_TABLE && stmt->row)
    for (Oid child : children(target.oid)) parts.push_back(reached(a, child, a.lock));
  out.actions.push_back(a);
  for (Action& c : parts) out.actions.push_back(std::move(c));
  // A constraint trigger's FROM table: ACCESS SHARE.
  if (stmt->constrrel != nullptr) {
    Resolved from = resolve(stmt->constrrel, context);
    if (from.oid != InvalidOid) out.actions.push_back(on_table("CREATE TRIGGER", Op::Other, from, LockMode::AccessShare));
  }
}

void analyze_rule(RuleStmt* stmt, const AnalysisContext& context, Statement& out) {
  // rewriteDefine.c DefineQueryRewrite: ACCESS EXCLUSIVE on the table; the actions' own tables are
  // opened by parse analysis, ACCESS SHARE.
  Resolved target = resolve(stmt->relation, context);
  Action a = on_table("CREATE RULE", Op::Other, target, LockMode::AccessExclusive);
  a.constraint = quote_ident(stmt->rulename);
  out.actions.push_back(a);
  ListCell* lc;
  foreach (lc, stmt->actions) {
    Statement reads;
    add_reads(a, static_cast<Node*>(lfirst(lc)), false, reads);
    for (Action& r : reads.actions)
      if (r.rel.name != a.rel.name) out.actions.push_back(std::move(r));
  }
}

void analyze_statistics(CreateStatsStmt* stmt, const AnalysisContext& context, Statement& out) {
  // statscmds.c CreateStatistics: SHARE UPDATE EXCLUSIVE on the one table.
  ListCell* lc;
  foreach (lc, stmt->relations) {
    Node* n = static_cast<Node*>(lfirst(lc));
    if (!IsA(n, RangeVar)) continue;
    out.actions.push_back(
        on_table("CREATE STATISTICS", Op::Other, resolve(castNode(RangeVar, n), context), LockMode::ShareUpdateExclusive));
  }
}

// --- views and queries stored or run -------------------------------------------------------------

void analyze_view(ViewStmt* stmt, const AnalysisContext& context, Statement& out) {
  Action a;
  a.op = Op::CreateTable;
  a.command = "CREATE VIEW";
  // view.c DefineVirtualRelation: CREATE OR REPLACE of an existing view locks it ACCESS EXCLUSIVE.
  if (stmt->replace) {
    Resolved existing = resolve(stmt->view, context);
    if (existing.oid != InvalidOid) {
      a.rel = existing.facts;
      a.lock = LockMode::AccessExclusive;
      out.actions.push_back(a);
    }
  }
  add_reads(a, stmt->query, false, out);
}

void analyze_create_table_as(CreateTableAsStmt* stmt, Statement& out) {
  Action a;
  a.op = Op::CreateTable;
  a.command = stmt->objtype == OBJECT_MATVIEW ? "CREATE MATERIALIZED VIEW" : "CREATE TABLE AS";
  bool runs = !(stmt->into != nullptr && stmt->into->skipData);
  add_reads(a, stmt->query, runs, out);
}

// --- COMMENT ON -----------------------------------------------------------------------------------

void analyze_comment(CommentStmt* stmt, const AnalysisContext& context, Statement& out) {
  // comment.c CommentObject: get_object_address(..., SHARE UPDATE EXCLUSIVE) locks a relation or a
  // column's relation in that mode; the table of a trigger, rule, policy or constraint is only opened
  // ACCESS SHARE (get_object_address_relobject), the mode going to the object itself.
  List* names = nullptr;
  LockMode lock = LockMode::ShareUpdateExclusive;
  switch (stmt->objtype) {
    case OBJECT_TABLE:
    case OBJECT_VIEW:
    case OBJECT_MATVIEW:
    case OBJECT_FOREIGN_TABLE:
    case OBJECT_INDEX:
    case OBJECT_SEQUENCE:
      names = castNode(List, stmt->object);
      break;
    case OBJECT_TABCONSTRAINT:
    case OBJECT_TRIGGER:
    case OBJECT_RULE:
    case OBJECT_POLICY:
      lock = LockMode::AccessShare;
      [[fallthrough]];
    case OBJECT_COLUMN: {
      List* all = castNode(List, stmt->object);
      if (list_length(all) < 2) return;
      names = pg::call([&] { return list_truncate(list_copy(all), list_length(all) - 1); });
      break;
    }
    default:
      return;
  }
  RangeVar* rv = pg::call([&] { return makeRangeVarFromNameList(names); });
  out.actions.push_back(on_table("COMMENT", Op::Other, resolve(rv, context), lock));
}

// --- LOCK -----------------------------------------------------------------------------------------

void analyze_lock(LockStmt* stmt, const AnalysisContext& context, Statement& out) {
  // lockcmds.c LockTableCommand: the mode asked for on each table, with inheritance on every child
  // (LockTableRecurse), and on a view everything its query reads (LockViewRecurse).
  LockMode mode = to_lock_mode(stmt->mode);
  ListCell* lc;
  foreach (lc, stmt->relations) {
    auto* rv = lfirst_node(RangeVar, lc);
    Resolved target = resolve(rv, context);
    Action a = on_table("LOCK TABLE", Op::Other, target, mode);
    out.actions.push_back(a);
    if (target.oid == InvalidOid) continue;
    if (a.rel.kind == RELKIND_VIEW) {  // LockViewRecurse: its tables, partitions included
      for (Oid base : read_relations(query_relations(target.oid)))
        if (base != target.oid) out.actions.push_back(reached(a, base, mode));
    } else if (rv->inh) {
      for (Oid child : children(target.oid)) out.actions.push_back(reached(a, child, mode));
    }
  }
}

// --- ALTER DOMAIN ---------------------------------------------------------------------------------

// typecmds.c get_rels_with_domain: the tables and materialized views with a column of the domain or
// of a domain over it (not arrays of it), each opened SHARE; other relation kinds are let go.
void domain_columns(Oid domain, std::vector<std::pair<Oid, AttrNumber>>& uses, int depth) {
  if (depth > 32) return;
  for (const Dependent& d : dependents(TypeRelationId, domain)) {
    if (d.classid == TypeRelationId) {
      if (pg::call([&] { return get_typtype(d.objid); }) == TYPTYPE_DOMAIN) domain_columns(d.objid, uses, depth + 1);
      continue;
    }
    if (d.classid != RelationRelationId || d.objsubid <= 0) continue;
    char kind = pg::call([&] { return get_rel_relkind(d.objid); });
    if (kind == RELKIND_RELATION || kind == RELKIND_MATVIEW)
      uses.emplace_back(d.objid, static_cast<AttrNumber>(d.objsubid));
  }
}

void analyze_alter_domain(AlterDomainStmt* stmt, Statement& out) {
  // AlterDomainAddConstraint (unless NOT VALID), AlterDomainValidateConstraint and AlterDomainNotNull
  // (SET NOT NULL) check every stored value: validateDomainConstraint / the NOT NULL loop scan each
  // table under SHARE, which blocks writes. The other forms change only the catalog.
  bool checks = false;
  std::string what;
  switch (stmt->subtype) {
    case 'C': {
      auto* c = castNode(Constraint, stmt->def);
      checks = c->contype == CONSTR_CHECK && !c->skip_validation;  // PostgreSQL 15 takes only CHECK here
      what = "ADD CONSTRAINT";
      break;
    }
    case 'V':
      checks = true;
      what = "VALIDATE CONSTRAINT";
      break;
    case 'O':  // parsenodes.h: 'O' is SET NOT NULL, 'N' DROP NOT NULL
      checks = true;
      what = "SET NOT NULL";
      break;
    default:
      return;
  }
  if (!checks) return;
  TypeName* tn = pg::call([&] { return makeTypeNameFromNameList(stmt->typeName); });
  Oid domain = pg::call([&] { return LookupTypeNameOid(nullptr, tn, true); });
  if (!OidIsValid(domain)) return;
  std::string domain_name = type_name(domain, -1);
  std::vector<std::pair<Oid, AttrNumber>> uses;
  domain_columns(domain, uses, 0);
  for (const auto& [relid, attnum] : uses) {
    Action a;
    a.op = Op::AlterDomainCheck;
    a.command = "ALTER DOMAIN";
    a.rel = resolve_oid(relid).facts;
    a.lock = LockMode::Share;
    a.scan = !a.rel.known_empty;
    a.column = column_name(relid, attnum);
    a.old_type = domain_name;
    a.domain = domain;
    a.new_name = what;
    if (stmt->subtype == 'C') {
      auto* c = castNode(Constraint, stmt->def);
      if (c->conname) a.constraint = quote_ident(c->conname);
      a.constraint_type = 'c';
    } else if (stmt->subtype == 'V' && stmt->name) {
      a.constraint = quote_ident(stmt->name);
    }
    out.actions.push_back(std::move(a));
  }
}

}  // namespace

void analyze_drop_table_object(DropStmt* stmt, const AnalysisContext& context, Statement& out) {
  // objectaddress.c get_object_address_relobject: DROP TRIGGER / RULE / POLICY lock the table ACCESS
  // EXCLUSIVE; a trigger of a partitioned table takes its partitions' clones with it, each locked the
  // same way (trigger.c RemoveTriggerById).
  const char* command = stmt->removeType == OBJECT_TRIGGER ? "DROP TRIGGER"
                        : stmt->removeType == OBJECT_RULE  ? "DROP RULE"
                                                           : "DROP POLICY";
  ListCell* lc;
  foreach (lc, stmt->objects) {
    List* all = castNode(List, lfirst(lc));
    if (list_length(all) < 2) continue;
    List* names = pg::call([&] { return list_truncate(list_copy(all), list_length(all) - 1); });
    RangeVar* rv = pg::call([&] { return makeRangeVarFromNameList(names); });
    Resolved target = resolve(rv, context);
    Action a = on_table(command, Op::Other, target, LockMode::AccessExclusive);
    a.constraint = quote_ident(strVal(llast(all)));
    out.actions.push_back(a);
    if (target.oid != InvalidOid && stmt->removeType == OBJECT_TRIGGER && a.rel.kind == RELKIND_PARTITIONED_TABLE)
      for (Oid child : children(target.oid)) out.actions.push_back(reached(a, child, a.lock));
  }
}

void analyze_object_statement(Node* node, const AnalysisContext& context, Statement& out) {
  switch (nodeTag(node)) {
    case T_CreateStmt: analyze_create_table(castNode(CreateStmt, node), context, out); break;
    case T_CreateForeignTableStmt:
      analyze_create_table(&castNode(CreateForeignTableStmt, node)->base, context, out);
      break;
    case T_CreateTrigStmt: analyze_create_trigger(castNode(CreateTrigStmt, node), context, out); break;
    case T_CreatePolicyStmt:
      // policy.c CreatePolicy / AlterPolicy: ACCESS EXCLUSIVE on the table.
      out.actions.push_back(on_table("CREATE POLICY", Op::Other,
                                     resolve(castNode(CreatePolicyStmt, node)->table, context),
                                     LockMode::AccessExclusive));
      break;
    case T_AlterPolicyStmt:
      out.actions.push_back(on_table("ALTER POLICY", Op::Other,
                                     resolve(castNode(AlterPolicyStmt, node)->table, context),
                                     LockMode::AccessExclusive));
      break;
    case T_RuleStmt: analyze_rule(castNode(RuleStmt, node), context, out); break;
    case T_CreateStatsStmt: analyze_statistics(castNode(CreateStatsStmt, node), context, out); break;
    case T_ViewStmt: analyze_view(castNode(ViewStmt, node), context, out); break;
    case T_CreateTableAsStmt: analyze_create_table_as(castNode(CreateTableAsStmt, node), out); break;
    case T_CommentStmt: analyze_comment(castNode(CommentStmt, node), context, out); break;
    case T_LockStmt: analyze_lock(castNode(LockStmt, node), context, out); break;
    case T_AlterDomainStmt: analyze_alter_domain(castNode(AlterDomainStmt, node), out); break;
    default: break;
  }
}

}  // namespace zdm::guard
