// The role a column plays beyond its type, for the expand/contract swap of ALTER COLUMN ... TYPE:
// the PRIMARY KEY / UNIQUE constraint it alone makes up and the foreign keys of other tables that
// reference that constraint (they depend on its index: pg_constraint.c CreateConstraintEntry records
// it), its DEFAULT, the sequence it owns (serial: an AUTO dependency, identity: INTERNAL; sequence.c
// sequenceIsOwned), whether it is an identity column, NOT NULL.
#include <string>
#include <vector>

#include "guard/analyze_internal.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_sequence.h"
#include "nodes/readfuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
}

namespace zdm::guard {

namespace {

// Plain values out of one catalog pass (palloc'd strings; lists of them for the referencing keys).
struct RawRole {
  char* key_name;
  char key_type;
  Oid key_index;
  char* default_expr;
  Oid sequence;
  char identity;
  bool not_null;
  List* own_fks;  // OIDs of this column's single-column foreign keys
};

RawRole read_role(Oid relid, AttrNumber attnum) {
  return pg::call([&]() -> RawRole {
    RawRole r{};
    HeapTuple att = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
    if (HeapTupleIsValid(att)) {
      auto* form = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(att));
      r.identity = form->attidentity;
      r.not_null = form->attnotnull;
      ReleaseSysCache(att);
    }
    // PRIMARY KEY / UNIQUE constraints of the table whose key is this column alone.
    Relation con = table_open(ConstraintRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
    SysScanDesc scan = systable_beginscan(con, ConstraintRelidTypidNameIndexId, true, nullptr, 1, &key);
    HeapTuple tup;
    while (HeapTupleIsValid(tup = systable_getnext(scan))) {
      auto* c = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tup));
      if (c->contype != CONSTRAINT_PRIMARY && c->contype != CONSTRAINT_UNIQUE && c->contype != CONSTRAINT_FOREIGN)
        continue;
      bool isnull = false;
      Datum keys = heap_getattr(tup, Anum_pg_constraint_conkey, RelationGetDescr(con), &isnull);
      if (isnull) continue;
      ArrayType* arr = DatumGetArrayTypeP(keys);
      if (ARR_NDIM(arr) != 1 || ARR_DIMS(arr)[0] != 1) continue;
      if (reinterpret_cast<int16*>(ARR_DATA_PTR(arr))[0] != attnum) continue;
      if (c->contype == CONSTRAINT_FOREIGN) {
        if (!OidIsValid(c->conparentid)) r.own_fks = lappend_oid(r.own_fks, c->oid);
        continue;
      }
      // A primary key wins over a unique constraint on the same column.
      if (r.key_name != nullptr && r.key_type == CONSTRAINT_PRIMARY) continue;
      r.key_name = pstrdup(NameStr(c->conname));
      r.key_type = c->contype;
      r.key_index = c->conindid;
    }
    systable_endscan(scan);
    table_close(con, AccessShareLock);
    // DEFAULT
    Relation ad = table_open(AttrDefaultRelationId, AccessShareLock);
    ScanKeyData adkey[2];
    ScanKeyInit(&adkey[0], Anum_pg_attrdef_adrelid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
    ScanKeyInit(&adkey[1], Anum_pg_attrdef_adnum, BTEqualStrategyNumber, F_INT2EQ, Int16GetDatum(attnum));
    SysScanDesc adscan = systable_beginscan(ad, AttrDefaultIndexId, true, nullptr, 2, adkey);
    if (HeapTupleIsValid(tup = systable_getnext(adscan))) {
      bool isnull = false;
      Datum bin = heap_getattr(tup, Anum_pg_attrdef_adbin, RelationGetDescr(ad), &isnull);
      if (!isnull) {
        Node* expr = static_cast<Node*>(stringToNode(text_to_cstring(reinterpret_cast<::text*>(DatumGetPointer(bin)))));
        char* relname = get_rel_name(relid);
        r.default_expr = deparse_expression(expr, deparse_context_for(relname ? relname : "", relid), false, false);
      }
    }
    systable_endscan(adscan);
    table_close(ad, AccessShareLock);
    return r;
  });
}

// A foreign key's table, name and definition.
bool describe_foreign_key(Oid conoid, Oid referenced, ReferencingKey& out) {
  struct Raw {
    bool ok;
    Oid table;
    char* name;
    char* definition;
  };
  Raw raw = pg::call([&]() -> Raw {
    Raw r{};
    HeapTuple tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
    if (!HeapTupleIsValid(tup)) return r;
    auto* c = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tup));
    if (c->contype == CONSTRAINT_FOREIGN && (!OidIsValid(referenced) || c->confrelid == referenced) &&
        !OidIsValid(c->conparentid)) {
      r.ok = true;
      r.table = c->conrelid;
      r.name = pstrdup(NameStr(c->conname));
    }
    ReleaseSysCache(tup);
    if (r.ok)
      r.definition = text_to_cstring(reinterpret_cast<::text*>(
          DatumGetPointer(DirectFunctionCall1(pg_get_constraintdef, ObjectIdGetDatum(conoid)))));
    return r;
  });
  if (!raw.ok) return false;
  out = {relation_name(raw.table), quote_ident(raw.name), raw.definition};
  return true;
}

// The foreign keys (top-level ones, not a partition's clones) that depend on the key's index.
std::vector<ReferencingKey> referencing_keys(Oid relid, Oid index) {
  std::vector<ReferencingKey> out;
  for (const Dependent& d : dependents(RelationRelationId, index)) {
    if (d.classid != ConstraintRelationId) continue;
    ReferencingKey k;
    bool seen = false;
    if (describe_foreign_key(d.objid, relid, k)) {
      for (const ReferencingKey& o : out) seen = seen || (o.name == k.name && o.table == k.table);
      if (!seen) out.push_back(std::move(k));
    }
  }
  return out;
}

// The sequence the column owns: serial (an AUTO dependency) or identity (INTERNAL), sequence.c
// sequenceIsOwned.
Oid owned_sequence(Oid relid, AttrNumber attnum) {
  for (const Dependent& d : dependents(RelationRelationId, relid, attnum))
    if (d.classid == RelationRelationId && (d.deptype == DEPENDENCY_AUTO || d.deptype == DEPENDENCY_INTERNAL) &&
        pg::call([&] { return get_rel_relkind(d.objid); }) == RELKIND_SEQUENCE)
      return d.objid;
  return InvalidOid;
}

}  // namespace

void fill_column_role(Oid relid, AttrNumber attnum, Action& a) {
  RawRole r = read_role(relid, attnum);
  a.identity = r.identity != '\0';
  a.identity_kind = r.identity;
  ListCell* lc;
  foreach (lc, r.own_fks) {
    ReferencingKey k;
    if (describe_foreign_key(lfirst_oid(lc), InvalidOid, k)) a.own_foreign_keys.push_back(std::move(k));
  }
  a.column_not_null = r.not_null;
  if (r.default_expr != nullptr) a.column_default = r.default_expr;
  if (r.key_name != nullptr) {
    a.key_constraint = quote_ident(r.key_name);
    a.key_constraint_type = r.key_type;
    if (OidIsValid(r.key_index)) a.referencing_keys = referencing_keys(relid, r.key_index);
  }
  r.sequence = owned_sequence(relid, attnum);
  if (OidIsValid(r.sequence)) {
    a.owned_sequence = relation_name(r.sequence);
    Oid seqtype = pg::call([&]() -> Oid {
      HeapTuple tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(r.sequence));
      if (!HeapTupleIsValid(tup)) return InvalidOid;
      Oid t = reinterpret_cast<Form_pg_sequence>(GETSTRUCT(tup))->seqtypid;
      ReleaseSysCache(tup);
      return t;
    });
    if (OidIsValid(seqtype)) a.owned_sequence_type = type_name(seqtype, -1);
  }
}

}  // namespace zdm::guard
