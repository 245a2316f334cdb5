// Statements other than ALTER TABLE: CREATE INDEX, REINDEX, CLUSTER, VACUUM, REFRESH MATERIALIZED
// VIEW, TRUNCATE, DROP, RENAME, SET SCHEMA, ALTER TYPE ... ADD VALUE, ALTER TABLE ALL IN TABLESPACE.
// Lock levels, rewrites (a new relfilenode) and scans (a sequential scan counted in
// pg_stat_xact_user_tables.seq_scan) as the executing code in PostgreSQL 15 takes and does them
// (indexcmds.c, cluster.c, vacuum.c, matview.c, tablecmds.c, dependency.c).
#include <cstring>
#include <string>
#include <vector>

#include "guard/analyze_internal.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/heap.h"
#include "catalog/partition.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_index.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablespace.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
}

namespace zdm::guard {

bool has_storage(char kind) {
  return kind == RELKIND_RELATION || kind == RELKIND_MATVIEW || kind == RELKIND_TOASTVALUE ||
         kind == RELKIND_SEQUENCE || kind == RELKIND_INDEX;
}

// The relation's indexes (RelationGetIndexList on the cached entry: no lock needed to read it).
std::vector<Oid> index_oids(Oid relid) {
  List* list = pg::call([&]() -> List* {
    Relation rel = RelationIdGetRelation(relid);
    if (rel == nullptr) return NIL;
    List* l = RelationGetIndexList(rel);
    RelationClose(rel);
    return l;
  });
  std::vector<Oid> out;
  ListCell* lc;
  foreach (lc, list) out.push_back(lfirst_oid(lc));
  return out;
}

// Partitions and inheritance children, all levels, without the named relation itself.
std::vector<Oid> children(Oid relid) {
  bool any = pg::call([&] { return has_subclass(relid); });
  std::vector<Oid> out;
  if (!any) return out;
  List* list = pg::call([&] { return find_all_inheritors(relid, NoLock, nullptr); });
  ListCell* lc;
  foreach (lc, list)
    if (lfirst_oid(lc) != relid) out.push_back(lfirst_oid(lc));
  return out;
}

// One action on a relation PostgreSQL reaches from the named one (a child, an index), carrying the
// named action's op and lock; the named relation's action carries the finding.
Action reached(const Action& named, Oid relid, LockMode lock) {
  Action c;
  c.op = named.op;
  c.command = named.command;
  c.rel = resolve_oid(relid).facts;
  c.lock = lock;
  c.recursed_from = named.rel.name;
  return c;
}

// A partitioned table has no storage of its own: give it its partitions' rows and bytes, so that the
// facts (and zdm.ignore_below) speak of the data the statement really touches.
void fold_partitions(Action& parent, const std::vector<Action>& parts) {
  if (parent.rel.kind != RELKIND_PARTITIONED_TABLE || parts.empty()) return;
  double rows = 0;
  int64 bytes = 0;
  bool rows_known = true;
  for (const Action& c : parts) {
    if (c.rel.kind == RELKIND_INDEX || c.rel.kind == RELKIND_PARTITIONED_INDEX) continue;
    if (c.rel.rows < 0) rows_known = false; else rows += c.rel.rows;
    if (c.rel.bytes > 0) bytes += c.rel.bytes;
  }
  if (rows_known) parent.rel.rows = rows;
  parent.rel.bytes = bytes;
  parent.rel.known_empty = bytes == 0;
}

namespace {

bool option_on(List* options, const char* name) {
  ListCell* lc;
  foreach (lc, options) {
    auto* def = lfirst_node(DefElem, lc);
    if (strcmp(def->defname, name) == 0) return pg::call([&] { return defGetBoolean(def); });
  }
  return false;
}

// --- CREATE INDEX ---------------------------------------------------------------------------------

void analyze_index(IndexStmt* stmt, const AnalysisContext& context, Statement& out) {
  Resolved target = resolve(stmt->relation, context);
  Action a;
  a.op = Op::CreateIndex;
  a.command = "CREATE INDEX";
  a.rel = target.facts;
  a.concurrently = stmt->concurrent;
  a.only = !stmt->relation->inh;
  // utility.c (T_IndexStmt) locks the table SHARE, or SHARE UPDATE EXCLUSIVE when concurrent, before
  // DefineIndex. The build reads the whole heap through table_index_build_scan (a counted seq scan);
  // the index gets storage, the table keeps its relfilenode.
  a.lock = stmt->concurrent ? LockMode::ShareUpdateExclusive : LockMode::Share;
  a.scan = target.oid != InvalidOid && has_storage(a.rel.kind);
  if (stmt->idxname) a.index = quote_ident(stmt->idxname);
  ListCell* lc;
  foreach (lc, stmt->indexParams) {
    auto* elem = lfirst_node(IndexElem, lc);
    if (elem->name) a.columns.push_back(quote_ident(elem->name));
  }
  // DefineIndex recurses into every partition (stmt->relation->inh), each locked in the same mode.
  std::vector<Action> parts;
  if (target.oid != InvalidOid && a.rel.kind == RELKIND_PARTITIONED_TABLE && stmt->relation->inh) {
    for (Oid child : children(target.oid)) {
      Action c = reached(a, child, a.lock);
      c.scan = has_storage(c.rel.kind);
      parts.push_back(std::move(c));
    }
  }
  fold_partitions(a, parts);
  out.actions.push_back(std::move(a));
  for (Action& c : parts) out.actions.push_back(std::move(c));
}

// --- REINDEX --------------------------------------------------------------------------------------

// The table's action and one action per rebuilt index: indexcmds.c reindex_index opens each index
// ACCESS EXCLUSIVE and gives it a new relfilenode; the heap (SHARE) is read once per index.
void add_reindexed(Action& table, const std::vector<Oid>& indexes, LockMode index_lock, bool rewrite_index,
                   Statement& out) {
  std::vector<Action> index_actions;
  for (Oid idx : indexes) {
    Action i = reached(table, idx, index_lock);
    i.rewrite = rewrite_index;
    table.rebuilt_indexes.push_back(i.rel.name);
    index_actions.push_back(std::move(i));
  }
  out.actions.push_back(table);
  for (Action& i : index_actions) out.actions.push_back(std::move(i));
}

void analyze_reindex(ReindexStmt* stmt, const AnalysisContext& context, Statement& out) {
  if (stmt->kind != REINDEX_OBJECT_INDEX && stmt->kind != REINDEX_OBJECT_TABLE) return;
  bool concurrently = option_on(stmt->params, "concurrently");
  // ReindexIndex / ReindexTable: the heap SHARE (SHARE UPDATE EXCLUSIVE when concurrent), each index
  // ACCESS EXCLUSIVE; REINDEX CONCURRENTLY builds a new index beside the old one and swaps them.
  LockMode heap_lock = concurrently ? LockMode::ShareUpdateExclusive : LockMode::Share;
  LockMode index_lock = concurrently ? LockMode::ShareUpdateExclusive : LockMode::AccessExclusive;
  Resolved named = resolve(stmt->relation, context);
  Action a;
  a.op = Op::Reindex;
  a.command = "REINDEX";
  a.concurrently = concurrently;
  a.lock = heap_lock;
  if (named.oid == InvalidOid) {
    a.rel = named.facts;
    if (stmt->kind == REINDEX_OBJECT_INDEX) a.index = named.facts.name;
    out.actions.push_back(std::move(a));
    return;
  }
  std::vector<Oid> indexes;
  Oid heap = named.oid;
  if (stmt->kind == REINDEX_OBJECT_INDEX) {
    heap = pg::call([&] { return IndexGetRelation(named.oid, true); });
    if (!OidIsValid(heap)) return;
    a.index = named.facts.name;
    indexes.push_back(named.oid);
    a.rel = resolve_oid(heap).facts;
  } else {
    a.rel = named.facts;
    indexes = index_oids(heap);
  }
  a.scan = has_storage(a.rel.kind) && !indexes.empty();
  // Partitioned tables and indexes are reindexed partition by partition, each in its own transaction.
  if (a.rel.kind == RELKIND_PARTITIONED_TABLE) {
    out.actions.push_back(std::move(a));
    return;
  }
  add_reindexed(a, indexes, index_lock, !concurrently, out);
}

// --- CLUSTER and VACUUM FULL ----------------------------------------------------------------------

Oid clustered_index(const std::vector<Oid>& indexes) {
  for (Oid idx : indexes) {
    bool clustered = pg::call([&] {
      HeapTuple tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(idx));
      if (!HeapTupleIsValid(tup)) return false;
      bool c = reinterpret_cast<Form_pg_index>(GETSTRUCT(tup))->indisclustered;
      ReleaseSysCache(tup);
      return c;
    });
    if (clustered) return idx;
  }
  return InvalidOid;
}

// cluster.c rebuild_relation / finish_heap_swap: the table ACCESS EXCLUSIVE, copied into a new
// relfilenode, then reindex_relation rebuilds every index (ACCESS EXCLUSIVE, new relfilenode). The
// copy reads the old heap with a seq scan (VACUUM FULL, or CLUSTER when plan_cluster_use_sort picks
// the sort) or through the index; either way each index build then seq-scans the new heap, which
// has the table's OID, so seq_scan moves whenever the table has an index.
void add_rebuilt_table(Action& a, Oid relid, Oid order_index, Statement& out) {
  std::vector<Oid> indexes = index_oids(relid);
  a.lock = LockMode::AccessExclusive;
  a.rewrite = has_storage(a.rel.kind);
  a.scan = a.rewrite;
  if (OidIsValid(order_index)) a.index = relation_name(order_index);
  add_reindexed(a, indexes, LockMode::AccessExclusive, true, out);
}

void analyze_cluster(ClusterStmt* stmt, const AnalysisContext& context, Statement& out) {
  if (stmt->relation == nullptr) return;  // CLUSTER of every clustered table: not in a transaction block
  Resolved target = resolve(stmt->relation, context);
  Action a;
  a.op = Op::Cluster;
  a.command = "CLUSTER";
  a.rel = target.facts;
  a.lock = LockMode::AccessExclusive;
  if (target.oid == InvalidOid) {
    out.actions.push_back(std::move(a));
    return;
  }
  if (a.rel.kind == RELKIND_PARTITIONED_TABLE) {  // each partition in its own transaction
    out.actions.push_back(std::move(a));
    return;
  }
  std::vector<Oid> indexes = index_oids(target.oid);
  Oid index = InvalidOid;
  if (stmt->indexname != nullptr) {
    Oid nsp = pg::call([&] { return get_rel_namespace(target.oid); });
    index = pg::call([&] { return get_relname_relid(stmt->indexname, nsp); });
  } else {
    index = clustered_index(indexes);
  }
  add_rebuilt_table(a, target.oid, index, out);
}

void analyze_vacuum(VacuumStmt* stmt, const AnalysisContext& context, Statement& out) {
  bool full = stmt->is_vacuumcmd && option_on(stmt->options, "full");
  ListCell* lc;
  foreach (lc, stmt->rels) {
    auto* vr = lfirst_node(VacuumRelation, lc);
    if (vr->relation == nullptr) continue;
    Resolved target = resolve(vr->relation, context);
    Action a;
    a.op = full ? Op::VacuumFull : Op::Vacuum;
    a.command = stmt->is_vacuumcmd ? "VACUUM" : "ANALYZE";
    a.rel = target.facts;
    a.full = full;
    // vacuum.c: VACUUM FULL is cluster_rel without an index (a seq scan into a new relfilenode) under
    // ACCESS EXCLUSIVE; plain VACUUM and ANALYZE take SHARE UPDATE EXCLUSIVE and read through
    // vacuumlazy / the analyze sampler, which seq_scan does not count.
    if (!full) {
      a.lock = LockMode::ShareUpdateExclusive;
      out.actions.push_back(std::move(a));
      continue;
    }
    a.lock = LockMode::AccessExclusive;
    if (target.oid == InvalidOid || a.rel.kind == RELKIND_PARTITIONED_TABLE) {
      out.actions.push_back(std::move(a));
      continue;
    }
    add_rebuilt_table(a, target.oid, InvalidOid, out);
  }
}

// --- REFRESH MATERIALIZED VIEW -------------------------------------------------------------------

// matview.c refresh_by_match_merge needs a unique, immediate, valid index without a predicate whose
// keys are all plain columns.
bool usable_unique_index(Oid idx) {
  return pg::call([&] {
    HeapTuple tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(idx));
    if (!HeapTupleIsValid(tup)) return false;
    auto* form = reinterpret_cast<Form_pg_index>(GETSTRUCT(tup));
    bool ok = form->indisunique && form->indimmediate && form->indisvalid && form->indnkeyatts > 0 &&
              heap_attisnull(tup, Anum_pg_index_indpred, nullptr);
    for (int i = 0; ok && i < form->indnkeyatts; i++)
      if (form->indkey.values[i] <= 0) ok = false;
    ReleaseSysCache(tup);
    return ok;
  });
}

}  // namespace

// Tables and materialized views a view's or materialized view's query names directly (its _RETURN
// rule's dependencies on pg_class).
std::vector<Oid> query_relations(Oid matview) {
  List* found = pg::call([&]() -> List* {
    List* result = NIL;
    Relation rw = table_open(RewriteRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_rewrite_ev_class, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(matview));
    SysScanDesc scan = systable_beginscan(rw, RewriteRelRulenameIndexId, true, nullptr, 1, &key);
    List* rules = NIL;
    HeapTuple tup;
    while (HeapTupleIsValid(tup = systable_getnext(scan)))
      rules = lappend_oid(rules, reinterpret_cast<Form_pg_rewrite>(GETSTRUCT(tup))->oid);
    systable_endscan(scan);
    table_close(rw, AccessShareLock);
    Relation dep = table_open(DependRelationId, AccessShareLock);
    ListCell* rc;
    foreach (rc, rules) {
      ScanKeyData k[2];
      ScanKeyInit(&k[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(RewriteRelationId));
      ScanKeyInit(&k[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(lfirst_oid(rc)));
      SysScanDesc ds = systable_beginscan(dep, DependDependerIndexId, true, nullptr, 2, k);
      while (HeapTupleIsValid(tup = systable_getnext(ds))) {
        auto* d = reinterpret_cast<Form_pg_depend>(GETSTRUCT(tup));
        if (d->refclassid != RelationRelationId || d->refobjid == matview) continue;
        char kind = get_rel_relkind(d->refobjid);
        if (kind == RELKIND_RELATION || kind == RELKIND_MATVIEW || kind == RELKIND_PARTITIONED_TABLE ||
            kind == RELKIND_VIEW || kind == RELKIND_FOREIGN_TABLE)
          result = list_append_unique_oid(result, d->refobjid);
      }
      systable_endscan(ds);
    }
    table_close(dep, AccessShareLock);
    return result;
  });
  std::vector<Oid> out;
  ListCell* lc;
  foreach (lc, found) out.push_back(lfirst_oid(lc));
  return out;
}

std::vector<Oid> read_relations(const std::vector<Oid>& named) {
  // The rewriter expands each view into its query and locks what that query reads, ACCESS SHARE
  // (rewriteHandler.c AcquireRewriteLocks), to any depth; the planner expands an inheritance parent or
  // a partitioned table into its children and locks each (a view's query is taken to read its tables
  // with their children: pg_depend does not record ONLY).
  std::vector<Oid> out;
  std::vector<Oid> todo = named;
  while (!todo.empty() && out.size() < 10000) {
    Oid relid = todo.back();
    todo.pop_back();
    bool seen = false;
    for (Oid o : out) seen = seen || o == relid;
    if (seen) continue;
    out.push_back(relid);
    char kind = pg::call([&] { return get_rel_relkind(relid); });
    if (kind == RELKIND_VIEW)
      for (Oid base : query_relations(relid)) todo.push_back(base);
    else
      for (Oid child : children(relid)) todo.push_back(child);
  }
  return out;
}

namespace {

void analyze_refresh(RefreshMatViewStmt* stmt, const AnalysisContext& context, Statement& out) {
  Resolved target = resolve(stmt->relation, context);
  Action a;
  a.op = Op::RefreshMatView;
  a.command = "REFRESH MATERIALIZED VIEW";
  a.rel = target.facts;
  a.concurrently = stmt->concurrent;
  // matview.c ExecRefreshMatView: EXCLUSIVE when concurrent (readers go on), else ACCESS EXCLUSIVE and
  // the new contents go into a new relfilenode (refresh_by_heap_swap). CONCURRENTLY diffs the old
  // contents against the new in one query that reads the whole view.
  // Without CONCURRENTLY the swap rebuilds every index of the view (ACCESS EXCLUSIVE, new relfilenode),
  // each build a seq scan of the new heap; with it, the diff is applied through the indexes as DML.
  // (The relations the defining query reads are locked ACCESS SHARE and read as its plan says: not
  // reported here.)
  a.lock = stmt->concurrent ? LockMode::Exclusive : LockMode::AccessExclusive;
  a.rewrite = !stmt->concurrent;
  if (target.oid == InvalidOid) {
    out.actions.push_back(std::move(a));
    return;
  }
  std::vector<Oid> indexes = index_oids(target.oid);
  for (Oid idx : indexes)
    if (usable_unique_index(idx)) a.has_unique_index = true;
  a.scan = stmt->concurrent || !indexes.empty();
  add_reindexed(a, indexes, stmt->concurrent ? LockMode::RowExclusive : LockMode::AccessExclusive,
                !stmt->concurrent, out);
  // The relations the defining query reads (its rule's pg_depend entries): ACCESS SHARE, read in full
  // unless empty.
  for (Oid base : read_relations(query_relations(target.oid))) {
    Action b = reached(a, base, LockMode::AccessShare);
    b.scan = has_storage(b.rel.kind) && !b.rel.known_empty;
    out.actions.push_back(std::move(b));
  }
}

// --- TRUNCATE -------------------------------------------------------------------------------------

// One table TRUNCATE empties: ACCESS EXCLUSIVE, new relfilenode, each index rebuilt (ACCESS EXCLUSIVE,
// new relfilenode) over the new, empty heap, so no row is read.
void add_truncated(Action& a, Oid relid, Statement& out) {
  a.lock = LockMode::AccessExclusive;
  a.rewrite = has_storage(a.rel.kind);
  a.scan = false;
  std::vector<Oid> indexes;
  if (OidIsValid(relid) && a.rewrite) indexes = index_oids(relid);
  add_reindexed(a, indexes, LockMode::AccessExclusive, true, out);
}

void analyze_truncate(TruncateStmt* stmt, const AnalysisContext& context, Statement& out) {
  // tablecmds.c ExecuteTruncate: every table named, with inheritance every child, and with CASCADE
  // every table referencing one of them by foreign key (heap_truncate_find_FKs, to a fixed point).
  struct Named {
    size_t action;  // index of the named table's action in out.actions
    List* relids;   // the named table and its children
  };
  std::vector<Named> named;
  List* all = NIL;
  ListCell* lc;
  foreach (lc, stmt->relations) {
    auto* rv = lfirst_node(RangeVar, lc);
    Resolved target = resolve(rv, context);
    Action a;
    a.op = Op::Truncate;
    a.command = "TRUNCATE";
    a.rel = target.facts;
    a.cascade = stmt->behavior == DROP_CASCADE;
    Statement kids;
    List* mine = NIL;
    if (target.oid != InvalidOid) {
      mine = lappend_oid(mine, target.oid);
      if (rv->inh)
        for (Oid child : children(target.oid)) {
          Action c = reached(a, child, LockMode::AccessExclusive);
          add_truncated(c, child, kids);  // its indexes hang off the child
          mine = lappend_oid(mine, child);
        }
    }
    fold_partitions(a, kids.actions);
    named.push_back({out.actions.size(), mine});
    all = list_concat_copy(all, mine);
    add_truncated(a, target.oid, out);
    for (Action& c : kids.actions) out.actions.push_back(std::move(c));
  }
  if (stmt->behavior != DROP_CASCADE) return;
  // Each table the cascade reaches is reported with the named table whose foreign keys lead to it.
  std::vector<Action> cascaded;
  for (Named& n : named) {
    while (n.relids != NIL) {
      List* found = pg::call([&] { return heap_truncate_find_FKs(n.relids); });
      List* fresh = pg::call([&] { return list_difference_oid(found, all); });
      if (fresh == NIL) break;
      ListCell* fc;
      foreach (fc, fresh) {
        Oid relid = lfirst_oid(fc);
        n.relids = lappend_oid(n.relids, relid);
        all = lappend_oid(all, relid);
        Action& by = out.actions[n.action];
        Action c = reached(by, relid, LockMode::AccessExclusive);
        by.referenced += (by.referenced.empty() ? "" : ", ") + c.rel.name;
        Statement tmp;
        add_truncated(c, relid, tmp);
        for (Action& t : tmp.actions) cascaded.push_back(std::move(t));
      }
    }
  }
  for (Action& c : cascaded) out.actions.push_back(std::move(c));
}

// --- DROP -----------------------------------------------------------------------------------------

struct ColumnUse {
  Oid relid;
  AttrNumber attnum;
};

// Columns whose type is `type` or its array type, from pg_depend (the column -> type dependency
// heap.c records for every column).
std::vector<ColumnUse> columns_of_type(Oid type) {
  Oid array = pg::call([&] { return get_array_type(type); });
  std::vector<ColumnUse> uses;
  for (Oid t : {type, array}) {
    if (!OidIsValid(t)) continue;
    for (const Dependent& d : dependents(TypeRelationId, t)) {
      if (d.classid != RelationRelationId || d.objsubid <= 0) continue;
      char kind = pg::call([&] { return get_rel_relkind(d.objid); });
      if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE && kind != RELKIND_MATVIEW &&
          kind != RELKIND_FOREIGN_TABLE)
        continue;
      uses.push_back({d.objid, static_cast<AttrNumber>(d.objsubid)});
    }
  }
  return uses;
}

void analyze_drop_type(DropStmt* stmt, const AnalysisContext& context, Statement& out) {
  ListCell* lc;
  foreach (lc, stmt->objects) {
    auto* tn = lfirst_node(TypeName, lc);
    Oid type = pg::call([&] { return LookupTypeNameOid(nullptr, tn, true); });
    if (!OidIsValid(type)) continue;
    std::string name = type_name(type, -1);
    // dependency.c findDependentObjects: AcquireDeletionLock on each dependent column's table, ACCESS
    // EXCLUSIVE, before it finds that without CASCADE the drop must fail; with CASCADE
    // RemoveAttributeById drops the column under the same lock.
    for (const ColumnUse& use : columns_of_type(type)) {
      Action a;
      a.op = Op::DropType;
      a.command = stmt->removeType == OBJECT_DOMAIN ? "DROP DOMAIN" : "DROP TYPE";
      a.rel = resolve_oid(use.relid).facts;
      a.lock = LockMode::AccessExclusive;
      a.column = column_name(use.relid, use.attnum);
      a.old_type = name;
      a.in_use = true;
      a.cascade = stmt->behavior == DROP_CASCADE;
      out.actions.push_back(std::move(a));
    }
  }
  (void)context;
}

// The other side of each foreign key a DROP TABLE removes: the tables it references (always) and,
// with CASCADE, the tables referencing it. Dropping the constraint's triggers opens the other table
// ACCESS EXCLUSIVE (trigger.c RemoveTriggerById).
std::vector<Oid> foreign_key_partners(Oid relid, bool cascade) {
  // Every constraint involving the table depends on it in pg_depend (pg_constraint.c
  // CreateConstraintEntry: on its own table, and a foreign key on the referenced one), so one index
  // scan of pg_depend finds them without reading all of pg_constraint.
  std::vector<Oid> out;
  for (const Dependent& d : dependents(RelationRelationId, relid)) {
    if (d.classid != ConstraintRelationId) continue;
    Oid other = pg::call([&]() -> Oid {
      HeapTuple ct = SearchSysCache1(CONSTROID, ObjectIdGetDatum(d.objid));
      if (!HeapTupleIsValid(ct)) return InvalidOid;
      auto* c = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(ct));
      Oid o = InvalidOid;
      if (c->contype == CONSTRAINT_FOREIGN) {
        if (c->conrelid == relid)
          o = c->confrelid;
        else if (cascade && c->confrelid == relid)
          o = c->conrelid;
      }
      ReleaseSysCache(ct);
      return o;
    });
    if (!OidIsValid(other) || other == relid) continue;
    bool seen = false;
    for (Oid o : out) seen = seen || o == other;
    if (!seen) out.push_back(other);
  }
  return out;
}

void analyze_drop(DropStmt* stmt, const AnalysisContext& context, Statement& out) {
  switch (stmt->removeType) {
    case OBJECT_TYPE:
    case OBJECT_DOMAIN:
      analyze_drop_type(stmt, context, out);
      return;
    case OBJECT_TRIGGER:
    case OBJECT_RULE:
    case OBJECT_POLICY:
      analyze_drop_table_object(stmt, context, out);
      return;
    case OBJECT_TABLE:
    case OBJECT_MATVIEW:
    case OBJECT_VIEW:
    case OBJECT_FOREIGN_TABLE:
    case OBJECT_INDEX:
    case OBJECT_SEQUENCE:
      break;
    default:
      return;
  }
  ListCell* lc;
  foreach (lc, stmt->objects) {
    RangeVar* rv = pg::call([&] { return makeRangeVarFromNameList(castNode(List, lfirst(lc))); });
    Resolved target = resolve(rv, context);
    Action a;
    a.op = stmt->removeType == OBJECT_INDEX ? Op::DropIndex : Op::DropRelation;
    a.rel = target.facts;
    a.cascade = stmt->behavior == DROP_CASCADE;
    a.concurrently = stmt->concurrent;
    // tablecmds.c RemoveRelations: ACCESS EXCLUSIVE, or SHARE UPDATE EXCLUSIVE for DROP INDEX
    // CONCURRENTLY; RangeVarCallbackForDropRelation locks an index's table in the same mode first.
    a.lock = stmt->concurrent ? LockMode::ShareUpdateExclusive : LockMode::AccessExclusive;
    if (a.op == Op::DropIndex && target.oid != InvalidOid) {
      a.index = a.rel.name;
      Oid heap = pg::call([&] { return IndexGetRelation(target.oid, true); });
      if (OidIsValid(heap)) {
        Action h = reached(a, heap, a.lock);
        h.index = a.rel.name;
        out.actions.push_back(std::move(h));
      }
    }
    // What a temporary table's DROP reaches (its foreign-key partners, partitions, parent) is
    // temporary too.
    bool detail = !(context.skip_temporary_detail && target.facts.temporary);
    std::vector<Oid> partners;
    if (a.op == Op::DropRelation && target.oid != InvalidOid && detail &&
        (a.rel.kind == RELKIND_RELATION || a.rel.kind == RELKIND_PARTITIONED_TABLE))
      partners = foreign_key_partners(target.oid, a.cascade);
    std::vector<Action> others;
    for (Oid other : partners) {
      Action o = reached(a, other, LockMode::AccessExclusive);
      a.referenced = a.referenced.empty() ? o.rel.name : a.referenced + ", " + o.rel.name;
      others.push_back(std::move(o));
    }
    if (a.op == Op::DropRelation && target.oid != InvalidOid && detail) {
      // Partitions go with a partitioned table, inheritance children only with CASCADE: each is
      // locked ACCESS EXCLUSIVE by findDependentObjects.
      if (a.rel.kind == RELKIND_PARTITIONED_TABLE || a.cascade) {
        std::vector<Action> parts;
        for (Oid child : children(target.oid)) parts.push_back(reached(a, child, LockMode::AccessExclusive));
        fold_partitions(a, parts);
        for (Action& c : parts) others.push_back(std::move(c));
      }
      // Dropping a partition: RangeVarCallbackForDropRelation locks its parent ACCESS EXCLUSIVE, and
      // heap_drop_with_catalog the parent's default partition (whose constraint changes).
      bool is_partition = pg::call([&] { return get_rel_relispartition(target.oid); });
      if (is_partition) {
        Oid parent = pg::call([&] { return get_partition_parent(target.oid, true); });
        Oid dflt = pg::call([&] { return get_default_partition_oid(parent); });
        for (Oid o : {parent, dflt}) {
          if (!OidIsValid(o) || o == target.oid) continue;
          Action p = reached(a, o, LockMode::AccessExclusive);
          a.parent = a.parent.empty() ? p.rel.name : a.parent + ", " + p.rel.name;
          others.push_back(std::move(p));
        }
      }
    }
    out.actions.push_back(std::move(a));
    for (Action& o : others) out.actions.push_back(std::move(o));
  }
}

// --- RENAME and SET SCHEMA ------------------------------------------------------------------------

void analyze_rename(RenameStmt* stmt, const AnalysisContext& context, Statement& out) {
  if (stmt->relation == nullptr) return;  // types, functions, schemas...: no table lock
  Resolved target = resolve(stmt->relation, context);
  Action a;
  a.rel = target.facts;
  a.new_name = stmt->newname ? quote_ident(stmt->newname) : std::string();
  switch (stmt->renameType) {
    case OBJECT_COLUMN:
    case OBJECT_ATTRIBUTE: {
      // tablecmds.c renameatt: ACCESS EXCLUSIVE on the table and, recursing, on every child.
      a.op = Op::RenameColumn;
      a.lock = LockMode::AccessExclusive;
      if (stmt->subname) a.column = quote_ident(stmt->subname);
      if (target.oid != InvalidOid && stmt->subname) {
        AttrNumber att = pg::call([&] { return get_attnum(target.oid, stmt->subname); });
        if (att > 0) {
          Oid type = InvalidOid;
          int32 typmod = -1;
          Oid coll = InvalidOid;
          pg::call([&] { get_atttypetypmodcoll(target.oid, att, &type, &typmod, &coll); });
          a.old_type = type_name(type, typmod);
        }
      }
      out.actions.push_back(a);
      if (target.oid != InvalidOid && stmt->relation->inh)
        for (Oid child : children(target.oid)) out.actions.push_back(reached(a, child, a.lock));
      return;
    }
    case OBJECT_TABLE:
    case OBJECT_VIEW:
    case OBJECT_MATVIEW:
    case OBJECT_FOREIGN_TABLE:
    case OBJECT_SEQUENCE:
    case OBJECT_INDEX:
      // tablecmds.c RenameRelation: ACCESS EXCLUSIVE, SHARE UPDATE EXCLUSIVE for ALTER INDEX ... RENAME
      // of something that is an index.
      a.op = Op::RenameRelation;
      a.lock = stmt->renameType == OBJECT_INDEX &&
                       (a.rel.kind == RELKIND_INDEX || a.rel.kind == RELKIND_PARTITIONED_INDEX)
                   ? LockMode::ShareUpdateExclusive
                   : LockMode::AccessExclusive;
      out.actions.push_back(std::move(a));
      return;
    case OBJECT_TABCONSTRAINT:
    case OBJECT_TRIGGER:
    case OBJECT_RULE:
    case OBJECT_POLICY:
      // RenameConstraint, renametrig, RenameRewriteRule, rename_policy: ACCESS EXCLUSIVE on the table.
      a.op = Op::Other;
      a.lock = LockMode::AccessExclusive;
      if (stmt->subname) a.constraint = quote_ident(stmt->subname);
      out.actions.push_back(std::move(a));
      return;
    default:
      return;
  }
}

void analyze_set_schema(AlterObjectSchemaStmt* stmt, const AnalysisContext& context, Statement& out) {
  if (stmt->relation == nullptr) return;  // types, functions...: no table lock
  switch (stmt->objectType) {
    case OBJECT_TABLE:
    case OBJECT_VIEW:
    case OBJECT_MATVIEW:
    case OBJECT_FOREIGN_TABLE:
    case OBJECT_SEQUENCE:
      break;
    default:
      return;
  }
  Action a;
  a.op = Op::SetSchema;
  a.rel = resolve(stmt->relation, context).facts;
  // tablecmds.c AlterTableNamespace: ACCESS EXCLUSIVE; only catalog rows move.
  a.lock = LockMode::AccessExclusive;
  a.new_name = quote_ident(stmt->newschema);
  out.actions.push_back(std::move(a));
}

// --- ALTER TABLE ALL IN TABLESPACE ... SET TABLESPACE --------------------------------------------

void analyze_move_all(AlterTableMoveAllStmt* stmt, Statement& out) {
  Oid orig = pg::call([&] { return get_tablespace_oid(stmt->orig_tablespacename, true); });
  if (!OidIsValid(orig) || stmt->roles != NIL) return;
  if (orig == MyDatabaseTableSpace) orig = InvalidOid;  // pg_class stores the default as 0
  ObjectType objtype = stmt->objtype;
  // tablecmds.c AlterTableMoveAll: every such relation in the tablespace (not system catalogs, not
  // other sessions' temporary tables), each ACCESS EXCLUSIVE and copied block by block into a new
  // relfilenode (no seq scan).
  List* found = pg::call([&]() -> List* {
    List* result = NIL;
    Relation rel = table_open(RelationRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_class_reltablespace, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(orig));
    TableScanDesc scan = table_beginscan_catalog(rel, 1, &key);
    HeapTuple tup;
    while ((tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
      auto* form = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup));
      char k = form->relkind;
      bool wanted = objtype == OBJECT_INDEX     ? (k == RELKIND_INDEX || k == RELKIND_PARTITIONED_INDEX)
                    : objtype == OBJECT_MATVIEW ? k == RELKIND_MATVIEW
                                                : (k == RELKIND_RELATION || k == RELKIND_PARTITIONED_TABLE);
      if (!wanted || form->relisshared) continue;
      if (IsCatalogNamespace(form->relnamespace) || isAnyTempNamespace(form->relnamespace) ||
          form->relnamespace == PG_TOAST_NAMESPACE)
        continue;
      result = lappend_oid(result, form->oid);
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    return result;
  });
  std::string target = quote_ident(stmt->new_tablespacename);
  ListCell* lc;
  foreach (lc, found) {
    Action a;
    a.op = Op::SetTablespace;
    a.command = "ALTER TABLE";
    a.rel = resolve_oid(lfirst_oid(lc)).facts;
    a.lock = LockMode::AccessExclusive;
    a.rewrite = has_storage(a.rel.kind);  // a partitioned table or index only changes its catalog row
    a.new_name = target;
    out.actions.push_back(std::move(a));
  }
}

}  // namespace

void analyze_other(Node* node, const AnalysisContext& context, Statement& out) {
  switch (nodeTag(node)) {
    case T_IndexStmt: analyze_index(castNode(IndexStmt, node), context, out); break;
    case T_ReindexStmt: analyze_reindex(castNode(ReindexStmt, node), context, out); break;
    case T_ClusterStmt: analyze_cluster(castNode(ClusterStmt, node), context, out); break;
    case T_VacuumStmt: analyze_vacuum(castNode(VacuumStmt, node), context, out); break;
    case T_RefreshMatViewStmt: analyze_refresh(castNode(RefreshMatViewStmt, node), context, out); break;
    case T_TruncateStmt: analyze_truncate(castNode(TruncateStmt, node), context, out); break;
    case T_DropStmt: analyze_drop(castNode(DropStmt, node), context, out); break;
    case T_RenameStmt: analyze_rename(castNode(RenameStmt, node), context, out); break;
    case T_AlterObjectSchemaStmt: analyze_set_schema(castNode(AlterObjectSchemaStmt, node), context, out); break;
    case T_AlterTableMoveAllStmt: analyze_move_all(castNode(AlterTableMoveAllStmt, node), out); break;
    case T_AlterEnumStmt:
      // ALTER TYPE ... ADD VALUE / RENAME VALUE: pg_enum rows under a lock on the type, no table lock.
      break;
    default:
      analyze_object_statement(node, context, out);
      break;
  }
}

}  // namespace zdm::guard
