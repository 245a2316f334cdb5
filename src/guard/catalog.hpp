// Internal to the guard room: catalog look-ups that turn parse-tree names into facts.
// Every function here may throw pg::PgError; none leaves a PostgreSQL error pending.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "guard/guard.hpp"

extern "C" {
#include "nodes/primnodes.h"
}

namespace zdm::guard {

struct Resolved {
  Oid oid = InvalidOid;  // InvalidOid when the relation is not in the catalog
  RelationFacts facts;
};

// Looks the relation up without locking it (RangeVarGetRelid with NoLock, missing_ok). Facts come
// from the relation cache; the size from the storage manager only if an ACCESS SHARE lock can be
// had at once (it is released again), else from pg_class.relpages.
Resolved resolve(const RangeVar* rv, const AnalysisContext& context);
Resolved resolve_oid(Oid relid);

// One pg_depend row: (classid, objid, objsubid) depends on the object asked about, with deptype.
struct Dependent {
  Oid classid;
  Oid objid;
  int32 objsubid;
  char deptype;
};
// What depends on (refclassid, refobjid), or on its sub-object refobjsubid (a column) when >= 0:
// one scan of pg_depend's reference index (dependency.c does the same).
std::vector<Dependent> dependents(Oid refclassid, Oid refobjid, int32 refobjsubid = -1);

// Whether the analysis under way may take its brief, conditional ACCESS SHARE locks
// (AnalysisContext::take_no_lock; analyze() sets it for its duration).
bool may_lock();
class NoLockScope {
 public:
  explicit NoLockScope(bool no_lock);
  ~NoLockScope();
  NoLockScope(const NoLockScope&) = delete;
  NoLockScope& operator=(const NoLockScope&) = delete;

 private:
  bool saved_;
};

// While one made with `brief` is alive, resolve_oid() describes a relation no other session can see
// (temporary, or created in this transaction) only briefly: its size is not measured (left unknown:
// pg_class.relpages, known_empty false), which saves opening its files, and it is named by its bare
// name, without a search-path lookup (AnalysisContext::skip_temporary_detail).
class BriefUnseenScope {
 public:
  explicit BriefUnseenScope(bool brief);
  ~BriefUnseenScope();
  BriefUnseenScope(const BriefUnseenScope&) = delete;
  BriefUnseenScope& operator=(const BriefUnseenScope&) = delete;

 private:
  bool saved_;
};

// While one is alive, resolve_oid() reads each relation's facts once: zdm.lint and zdm.analyze judge
// a whole text against one catalog that does not change under them (they run nothing). Scopes nest;
// the outermost owns the cache. The hook judges one statement and needs none.
class FactsCache {
 public:
  FactsCache();
  ~FactsCache();
  FactsCache(const FactsCache&) = delete;
  FactsCache& operator=(const FactsCache&) = delete;

 private:
  std::unordered_map<Oid, Resolved>* owned_ = nullptr;
};

// format_type_be / quote_identifier / get_rel_name, as std::string.
std::string type_name(Oid type, int32 typmod);
std::string quote_ident(const char* ident);
std::string relation_name(Oid relid);  // quoted, schema-qualified only when not visible
std::string column_name(Oid relid, AttrNumber attnum);
// Deparses a transformed expression over relation `relid`'s columns (deparse_expression).
std::string deparse(Node* expr, Oid relid);

}  // namespace zdm::guard
