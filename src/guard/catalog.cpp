#include "guard/catalog.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <unordered_map>

#include "pg/boundary.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "access/xact.h"
#include "access/genam.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "utils/fmgroids.h"
#include "storage/proc.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
}

namespace zdm::guard {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool created_in_text(const RangeVar* rv, const AnalysisContext& context) {
  std::string name = lower(rv->relname);
  std::string qualified = rv->schemaname ? lower(rv->schemaname) + "." + name : name;
  return std::find(context.created_in_text.begin(), context.created_in_text.end(), qualified) !=
             context.created_in_text.end() ||
         std::find(context.created_in_text.begin(), context.created_in_text.end(), name) !=
             context.created_in_text.end();
}

bool no_lock = false;             // NoLockScope
bool brief_unseen = false;       // BriefUnseenScope

// The catalog facts of an existing relation, read in one call. Plain values and palloc'd strings
// only cross the pg::call boundary.
struct RawFacts {
  char kind;
  bool created_in_transaction;
  bool temporary;
  double reltuples;
  int64 relpages;
  int64 blocks;  // -1: unknown (no lock could be had at once)
  bool ok;
  char* name;        // quoted, schema-qualified only when not visible
  char* qualified;   // schema.name, quoted
};

// Whether this backend holds a lock on the relation in `mode` or a stronger one (lmgr.c
// CheckRelationLockedByMe, from an OID).
bool locked_by_me(Oid relid, LOCKMODE mode) {
  LOCKTAG tag;
  SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
  for (LOCKMODE m = MaxLockMode; m >= mode; m--)
    if (LockHeldByMe(&tag, m)) return true;
  return false;
}

RawFacts read_facts(Oid relid) {
  return pg::call([&]() -> RawFacts {
    RawFacts f{};
    Relation rel = RelationIdGetRelation(relid);  // without a lock we only read cached fields
    if (rel == nullptr) return f;
    // The real size needs the storage manager, which needs a lock: take ACCESS SHARE only if it is
    // free now (never queue behind a waiting DDL), and give it back at once unless we held it already.
    // A temporary relation needs none: no other session can touch its storage. Invalidations the lock
    // accepts rebuild the entry in place (it is referenced), so the fields are read after it.
    bool temporary = rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP;
    bool held = temporary || locked_by_me(relid, AccessShareLock);
    bool locked = held || (!no_lock && ConditionalLockRelationOid(relid, AccessShareLock));
    f.ok = true;
    f.kind = rel->rd_rel->relkind;
    f.created_in_transaction = rel->rd_createSubid != InvalidSubTransactionId;
    f.temporary = temporary;
    f.reltuples = rel->rd_rel->reltuples;
    f.relpages = rel->rd_rel->relpages;
    f.blocks = -1;
    bool brief = brief_unseen && (f.temporary || f.created_in_transaction);
    if (!RELKIND_HAS_STORAGE(f.kind))
      f.blocks = 0;
    else if (locked && !brief)
      f.blocks = RelationGetNumberOfBlocks(rel);
    const char* relname = RelationGetRelationName(rel);
    if (brief) {
      f.name = f.qualified = pstrdup(quote_identifier(relname));  // the entry's name goes with it
    } else {
      char* nsp = get_namespace_name(RelationGetNamespace(rel));
      // Visible = the first relation of that name on the search path (namespace.c RelationIsVisible,
      // without its pg_class lookup: the relation cache entry has the name).
      bool visible = RelnameGetRelid(relname) == relid;
      f.name = quote_qualified_identifier(visible ? nullptr : nsp, relname);
      f.qualified = quote_qualified_identifier(nsp ? nsp : "", relname);
    }
    RelationClose(rel);
    if (locked && !held) UnlockRelationOid(relid, AccessShareLock);
    return f;
  });
}

// The facts cache of the FactsCache scope alive, if any, and the transaction and command it belongs to:
// should a scope ever be left without its destructor, a later statement does not read stale facts.
std::unordered_map<Oid, Resolved>* facts_cache = nullptr;
LocalTransactionId cache_lxid = InvalidLocalTransactionId;
CommandId cache_cid = InvalidCommandId;

std::unordered_map<Oid, Resolved>* active_cache() {
  if (facts_cache == nullptr || cache_lxid != MyProc->lxid || cache_cid != GetCurrentCommandId(false)) return nullptr;
  return facts_cache;
}

}  // namespace

std::string quote_ident(const char* ident) {
  const char* q = pg::call([&] { return quote_identifier(ident); });
  return q;
}

std::string relation_name(Oid relid) {
  char* name = pg::call([&]() -> char* {
    HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tup)) return nullptr;
    auto* form = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup));
    const char* nsp = RelationIsVisible(relid) ? nullptr : get_namespace_name(form->relnamespace);
    char* result = quote_qualified_identifier(nsp, NameStr(form->relname));
    ReleaseSysCache(tup);
    return result;
  });
  return name ? std::string(name) : std::string();
}

std::string column_name(Oid relid, AttrNumber attnum) {
  char* name = pg::call([&] { return get_attname(relid, attnum, true); });
  return name ? quote_ident(name) : std::string();
}

std::string type_name(Oid type, int32 typmod) {
  const char* s = pg::call([&] { return format_type_with_typemod(type, typmod); });
  return s;
}

std::string deparse(Node* expr, Oid relid) {
  const char* s = pg::call([&]() -> char* {
    char* relname = get_rel_name(relid);
    List* ctx = deparse_context_for(relname ? relname : "", relid);
    return deparse_expression(expr, ctx, false, false);
  });
  return s;
}

std::vector<Dependent> dependents(Oid refclassid, Oid refobjid, int32 refobjsubid) {
  List* rows = pg::call([&]() -> List* {
    List* result = NIL;
    Relation dep = table_open(DependRelationId, AccessShareLock);
    ScanKeyData key[3];
    ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(refclassid));
    ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(refobjid));
    ScanKeyInit(&key[2], Anum_pg_depend_refobjsubid, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(refobjsubid));
    SysScanDesc scan = systable_beginscan(dep, DependReferenceIndexId, true, nullptr, refobjsubid >= 0 ? 3 : 2, key);
    HeapTuple tup;
    while (HeapTupleIsValid(tup = systable_getnext(scan))) {
      auto* d = reinterpret_cast<Form_pg_depend>(GETSTRUCT(tup));
      auto* row = static_cast<Dependent*>(palloc(sizeof(Dependent)));
      *row = {d->classid, d->objid, d->objsubid, d->deptype};
      result = lappend(result, row);
    }
    systable_endscan(scan);
    table_close(dep, AccessShareLock);
    return result;
  });
  std::vector<Dependent> out;
  ListCell* lc;
  foreach (lc, rows) out.push_back(*static_cast<Dependent*>(lfirst(lc)));
  return out;
}

bool may_lock() { return !no_lock; }

NoLockScope::NoLockScope(bool take_no_lock) : saved_(no_lock) { no_lock = no_lock || take_no_lock; }
NoLockScope::~NoLockScope() { no_lock = saved_; }

BriefUnseenScope::BriefUnseenScope(bool brief) : saved_(brief_unseen) { brief_unseen = brief_unseen || brief; }
BriefUnseenScope::~BriefUnseenScope() { brief_unseen = saved_; }

FactsCache::FactsCache() {
  if (active_cache() != nullptr) return;  // an outer scope owns the cache
  owned_ = new std::unordered_map<Oid, Resolved>();
  facts_cache = owned_;
  cache_lxid = MyProc->lxid;
  cache_cid = GetCurrentCommandId(false);
}

FactsCache::~FactsCache() {
  if (owned_ == nullptr) return;
  if (facts_cache == owned_) facts_cache = nullptr;
  delete owned_;
}

Resolved resolve_oid(Oid relid) {
  std::unordered_map<Oid, Resolved>* cache = active_cache();
  if (cache != nullptr) {
    auto hit = cache->find(relid);
    if (hit != cache->end()) return hit->second;
  }
  Resolved r;
  r.oid = relid;
  RawFacts raw = read_facts(relid);
  if (!raw.ok) {
    r.oid = InvalidOid;
    return r;
  }
  r.facts.exists = true;
  r.facts.oid = relid;
  r.facts.kind = raw.kind;
  r.facts.created_in_transaction = raw.created_in_transaction;
  r.facts.temporary = raw.temporary;
  r.facts.rows = raw.reltuples;
  int64 blocks = raw.blocks >= 0 ? raw.blocks : raw.relpages;
  r.facts.bytes = blocks * BLCKSZ;
  r.facts.known_empty = raw.blocks == 0;
  // pg_class.reltuples is -1 until the first VACUUM/ANALYZE; a table with no blocks has no rows.
  if (r.facts.rows < 0 && raw.blocks == 0) r.facts.rows = 0;
  r.facts.name = raw.name;
  r.facts.qualified = raw.qualified;
  if (cache != nullptr) cache->emplace(relid, r);
  return r;
}

Resolved resolve(const RangeVar* rv, const AnalysisContext& context) {
  Oid relid = pg::call([&] { return RangeVarGetRelid(const_cast<RangeVar*>(rv), NoLock, true); });
  if (!OidIsValid(relid)) {
    Resolved r;
    r.facts.exists = false;
    r.facts.created_in_transaction = created_in_text(rv, context);
    std::string name = rv->schemaname ? quote_ident(rv->schemaname) + "." : std::string();
    name += quote_ident(rv->relname);
    r.facts.name = name;
    r.facts.qualified = name;
    return r;
  }
  Resolved r = resolve_oid(relid);
  // Name it the way the user wrote it.
  std::string written = rv->schemaname ? quote_ident(rv->schemaname) + "." : std::string();
  written += quote_ident(rv->relname);
  r.facts.name = written;
  return r;
}

}  // namespace zdm::guard
