// Batched backfills: CALL zdm.backfill(...) in the calling session and zdm.backfill_start(...) in a
// background worker, both running the same job loop (run_job). Each batch is one transaction that
// updates a keyset range and the job's progress row together, so a job resumes exactly where it
// stopped. Mirrors plpgsql's transaction control (pl_exec.c: exec_stmt_commit → SPI_commit) and
// plpython's subtransactions (plpy_subxactobject.c) for retrying a batch after a lock timeout.
#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "backfill/backfill.hpp"
#include "backfill/pure/batch_size.hpp"
#include "backfill/reclaim.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "utils/guc.h"
#include "catalog/pg_class_d.h"
#include "catalog/pg_type_d.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/itemptr.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(zdm_backfill);
PG_FUNCTION_INFO_V1(zdm_backfill_start);
PG_FUNCTION_INFO_V1(zdm_backfill_pause);
PG_FUNCTION_INFO_V1(zdm_backfill_resume);
PG_FUNCTION_INFO_V1(zdm_backfill_cancel);
PGDLLEXPORT void zdm_backfill_worker_main(Datum arg);
}

namespace zdm::backfill {
namespace {

// Advisory lock space of "one job per table": ('zdm' << 8, relation oid), session-level so that it
// survives the job's own commits.
constexpr uint32 kLockSpace = 0x7A646D00;

// zdm.backfill_notice_interval: how often CALL reports progress as a NOTICE (ms; 0: every batch).
int notice_interval_ms = 10000;

struct Options {
  int64 batch_size = 1000;
  bool adaptive = true;
  int target_batch_ms = 100;
  int min_batch_size = 100;
  int max_batch_size = 100000;
  int sleep_ms = 0;
  int max_replica_lag_ms = -1;  // -1: do not watch replicas
  int lock_timeout_ms = 1000;
  int lock_retries = 5;
  std::optional<std::string> name;
};

using Value = std::optional<std::string>;
using Row = std::vector<Value>;

// ---- SPI, always through pg::call ----------------------------------------------------------------

// The plans of the statements a job runs batch after batch, prepared once while a PlanCache is alive
// (run_job): parsing and planning them again for every batch costs about 1 % of the job. Kept plans
// are PostgreSQL's plan cache entries, revalidated by it after DDL on what they use.
std::unordered_map<std::string, SPIPlanPtr>* plan_cache = nullptr;

class PlanCache {
 public:
  PlanCache() {
    if (plan_cache == nullptr) plan_cache = owned_ = new std::unordered_map<std::string, SPIPlanPtr>();
  }
  ~PlanCache() {
    if (owned_ == nullptr) return;
    plan_cache = nullptr;
    for (auto& [sql, plan] : *owned_) {
      (void)sql;
      try {
        SPIPlanPtr p = plan;
        pg::call([&] { SPI_freeplan(p); });
      } catch (...) {
      }
    }
    delete owned_;
  }
  PlanCache(const PlanCache&) = delete;
  PlanCache& operator=(const PlanCache&) = delete;

 private:
  std::unordered_map<std::string, SPIPlanPtr>* owned_ = nullptr;
};

// Runs `sql` with text parameters ($n::type casts in the SQL); returns SPI's result table (or null).
SPITupleTable* execute(const std::string& sql, const std::vector<Value>& params, uint64* count) {
  int n = static_cast<int>(params.size());
  std::vector<Oid> types(n, TEXTOID);
  std::vector<Datum> values(n);
  std::vector<char> nulls(n, ' ');
  for (int i = 0; i < n; ++i) {
    if (params[i]) {
      const std::string& s = *params[i];
      values[i] = pg::call([&] { return PointerGetDatum(cstring_to_text_with_len(s.data(), static_cast<int>(s.size()))); });
    } else {
      nulls[i] = 'n';
    }
  }
  const char* text = sql.c_str();
  Oid* t = types.data();
  Datum* v = values.data();
  const char* nl = nulls.data();
  int rc;
  if (plan_cache != nullptr) {
    auto hit = plan_cache->find(sql);
    SPIPlanPtr plan = hit != plan_cache->end() ? hit->second : nullptr;
    if (plan == nullptr) {
      plan = pg::call([&] {
        SPIPlanPtr p = SPI_prepare(text, n, t);
        if (p != nullptr) SPI_keepplan(p);
        return p;
      });
      if (plan == nullptr) throw std::runtime_error("SPI_prepare failed: " + sql);
      plan_cache->emplace(sql, plan);
    }
    rc = pg::call([&] { return SPI_execute_plan(plan, v, nl, false, 0); });
  } else {
    rc = pg::call([&] { return SPI_execute_with_args(text, n, t, v, nl, false, 0); });
  }
  if (rc < 0) throw std::runtime_error("SPI execution failed: " + sql);
  *count = SPI_processed;
  return SPI_tuptable;
}

// Runs `sql`, returns the rows as text.
std::vector<Row> query(const std::string& sql, const std::vector<Value>& params, int64* processed = nullptr) {
  uint64 count = 0;
  SPITupleTable* table = execute(sql, params, &count);
  if (processed) *processed = static_cast<int64>(count);
  std::vector<Row> rows;
  if (table != nullptr) {
    int ncols = table->tupdesc->natts;
    for (uint64 r = 0; r < count; ++r) {
      Row row;
      for (int c = 1; c <= ncols; ++c) {
        char* s = pg::call([&] { return SPI_getvalue(table->vals[r], table->tupdesc, c); });
        row.push_back(s ? Value(std::string(s)) : Value());
      }
      rows.push_back(std::move(row));
    }
    pg::call([&] { SPI_freetuptable(table); });
  }
  return rows;
}

// Runs `sql`, whose first column is a tid, and appends the block numbers of its rows to `out`.
void collect_blocks(const std::string& sql, const std::vector<Value>& params, std::vector<uint32_t>& out) {
  uint64 count = 0;
  SPITupleTable* table = execute(sql, params, &count);
  if (table == nullptr) return;
  out.reserve(out.size() + count);
  for (uint64 r = 0; r < count; ++r) {
    int64 blk = pg::call([&] {
      bool isnull = false;
      Datum d = SPI_getbinval(table->vals[r], table->tupdesc, 1, &isnull);
      return isnull ? int64{-1} : static_cast<int64>(ItemPointerGetBlockNumberNoCheck(reinterpret_cast<ItemPointer>(DatumGetPointer(d))));
    });
    if (blk >= 0 && (out.empty() || out.back() != static_cast<uint32_t>(blk))) out.push_back(static_cast<uint32_t>(blk));
  }
  pg::call([&] { SPI_freetuptable(table); });
}

Value scalar(const std::string& sql, const std::vector<Value>& params) {
  auto rows = query(sql, params);
  if (rows.empty() || rows[0].empty()) return std::nullopt;
  return rows[0][0];
}

std::string quote_ident(const std::string& s) {
  const char* q = pg::call([&] { return quote_identifier(s.c_str()); });
  return q;
}

std::string quote_literal(const std::string& s) {
  const char* q = pg::call([&] { return quote_literal_cstr(s.c_str()); });
  return q;
}

std::string num(int64 v) { return std::to_string(v); }

// A duration as PostgreSQL prints a setting in ms: "50ms", "1s", "2min".
std::string ms_text(int64 ms) {
  if (ms % 60000 == 0) return num(ms / 60000) + "min";
  if (ms % 1000 == 0) return num(ms / 1000) + "s";
  return num(ms) + "ms";
}

// A JSON array of strings, for the job's list of skipped (locked) keys.
std::string json_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
        out += buf;
      } else {
        out += c;
      }
    }
    out += '"';
  }
  return out + "]";
}

// The relation's schema-qualified, quoted name, looked up again by OID (after every commit).
std::optional<std::string> relation_name(Oid relid) {
  char* rel = pg::call([&] { return get_rel_name(relid); });
  if (rel == nullptr) return std::nullopt;
  Oid nsp = pg::call([&] { return get_rel_namespace(relid); });
  char* nspname = pg::call([&] { return get_namespace_name(nsp); });
  char* q = pg::call([&] { return quote_qualified_identifier(nspname, rel); });
  return std::string(q);
}

// ---- one job per table ---------------------------------------------------------------------------

// The table whose backfill lock this process holds (InvalidOid: none), so that every exit path can
// release exactly what it took.
Oid held_lock = InvalidOid;

// The table's backfill lock: a session-level advisory lock (kLockSpace, table OID), as
// pg_advisory_lock(2053401856, oid) would take it.
LOCKTAG table_lock_tag(Oid relid) {
  LOCKTAG tag;
  SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, kLockSpace, relid, 2);
  return tag;
}

bool try_lock_table(Oid relid) {
  LOCKTAG tag = table_lock_tag(relid);
  LockAcquireResult r = pg::call([&] { return LockAcquire(&tag, ExclusiveLock, true, true); });
  if (r == LOCKACQUIRE_NOT_AVAIL) return false;
  held_lock = relid;
  return true;
}

void unlock_table() {
  if (held_lock == InvalidOid) return;
  LOCKTAG tag = table_lock_tag(held_lock);
  held_lock = InvalidOid;
  pg::call([&] { LockRelease(&tag, ExclusiveLock, true); });
}

// ---- validation ----------------------------------------------------------------------------------

void sleep_ms(int64 ms) {
  if (ms <= 0) return;
  pg::call([&] {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ms, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  });
}

// A lock timeout or a deadlock: the batch can be tried again, without the rows that are locked.
bool is_retryable(int code) {
  return code == ERRCODE_LOCK_NOT_AVAILABLE || code == ERRCODE_T_R_DEADLOCK_DETECTED;
}

// Runs `fn` in a subtransaction with lock_timeout set to `ms` for it alone (a GUC nest level, as a
// function's SET clause has: the caller's setting is back afterwards, also inside the caller's
// transaction block). Returns null, or the error that rolled the subtransaction back.
template <typename Fn>
ErrorData* with_lock_timeout(int ms, Fn&& fn) {
  MemoryContext oldcontext = CurrentMemoryContext;
  ResourceOwner oldowner = CurrentResourceOwner;
  const std::string value = num(ms) + "ms";
  const char* v = value.c_str();
  pg::call([] { BeginInternalSubTransaction(nullptr); });
  MemoryContextSwitchTo(oldcontext);
  try {
    int level = pg::call([&] {
      int l = NewGUCNestLevel();
      (void)set_config_option("lock_timeout", v, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
      return l;
    });
    fn();
    pg::call([&] {
      AtEOXact_GUC(true, level);
      ReleaseCurrentSubTransaction();
    });
    MemoryContextSwitchTo(oldcontext);
    CurrentResourceOwner = oldowner;
    return nullptr;
  } catch (const pg::PgError& e) {
    MemoryContextSwitchTo(oldcontext);
    pg::call([] { RollbackAndReleaseCurrentSubTransaction(); });  // also unwinds the GUC nest level
    MemoryContextSwitchTo(oldcontext);
    CurrentResourceOwner = oldowner;
    return e.data();
  }
}

// How long a start or resume waits for a job that has ended to let the table's lock go.
constexpr int kLockHandoverMs = 2000;

// Waits at most `ms` for the table's lock: a real lock wait, which pg_locks and zdm.lock_report show.
bool wait_lock_table(Oid relid, int ms) {
  LOCKTAG tag = table_lock_tag(relid);
  // A session lock: it outlives the subtransaction the bounded wait runs in.
  ErrorData* err = with_lock_timeout(ms, [&] { pg::call([&] { (void)LockAcquire(&tag, ExclusiveLock, true, false); }); });
  if (err == nullptr) {
    held_lock = relid;
    return true;
  }
  if (err->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE) return false;
  throw pg::PgError(err);  // a cancel, say
}

// The table's lock for a start or resume. A job ends by committing its final state and only then
// releasing the lock (its worker exits after that), so for a moment the lock is held while no job of
// the table runs: then wait for it, at most kLockHandoverMs, instead of calling the table busy. While
// a job of the table is running, the answer is no at once.
bool lock_table_for_new_run(Oid relid) {
  if (try_lock_table(relid)) return true;
  auto running = scalar("SELECT 1 FROM zdm.backfill_jobs WHERE relid = $1::oid "
                        "AND state IN ('running', 'waiting for replica') LIMIT 1",
                        {num(relid)});
  return !running && wait_lock_table(relid, kLockHandoverMs);
}

// Whether some live process runs a backfill of the table (holds its lock).
bool table_busy(Oid relid) {
  if (held_lock == relid) return true;
  if (!lock_table_for_new_run(relid)) return true;
  unlock_table();
  return false;
}

int64 interval_ms(Datum d) {
  Interval* iv = DatumGetIntervalP(d);
  return iv->time / 1000 + (static_cast<int64>(iv->day) + static_cast<int64>(iv->month) * 30) * 86400000LL;
}

struct Key {
  bool ctid = true;
  std::string column;  // quoted
  std::string type;    // format_type
};

// The walk key: the primary key, else a unique, valid, non-partial btree index on one NOT NULL column.
Key find_key(Oid relid) {
  auto rows = query(
      "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) "
      "  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam "
      "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
      " WHERE i.indrelid = $1::oid AND i.indisunique AND i.indisvalid AND i.indnkeyatts = 1 "
      "   AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attnotnull AND am.amname = 'btree' "
      " ORDER BY i.indisprimary DESC, i.indexrelid LIMIT 1",
      {num(relid)});
  Key key;
  if (!rows.empty()) {
    key.ctid = false;
    key.column = quote_ident(*rows[0][0]);
    key.type = *rows[0][1];
  }
  return key;
}

// Whether the table's access method can scan a range of ctids (heap can; an AM without
// scan_set_tidrange gives the ctid walk nothing to stand on).
bool has_tid_range_scan(Oid relid) {
  return pg::call([&] {
    Relation r = relation_open(relid, AccessShareLock);
    bool ok = r->rd_tableam != nullptr && r->rd_tableam->scan_set_tidrange != nullptr;
    relation_close(r, AccessShareLock);
    return ok;
  });
}

// The clauses are pasted into the batch statements, so each must stand on its own: the set clause
// parses as `UPDATE rel SET <set>` (one UpdateStmt, nothing but SET), the where clause as
// `SELECT <where>` (one plain expression). That rejects a clause that is not an expression, one that
// smuggles a second statement (`x = 1; DROP TABLE t`), and one that closes the surrounding
// parenthesis to escape the key range (`true) OR (true`). Returns the SET clause's target columns.
UserError bad_clause(const std::string& which, const std::string& why) {
  return UserError(sqlstate::kSyntaxError, "invalid " + which + " for zdm.backfill", why,
                   "Pass one assignment list as set_clause, e.g. 'region = ''us''', and one boolean expression "
                   "as where_clause, e.g. 'region IS NULL'.");
}

List* parse_or_throw(const std::string& sql, const std::string& which, const std::string& shape) {
  const char* text = sql.c_str();
  try {
    return pg::call([&] { return raw_parser(text, RAW_PARSE_DEFAULT); });
  } catch (const pg::PgError& e) {
    throw bad_clause(which, "It must parse as " + shape + ": " + e.what() + ".");
  }
}

std::vector<std::string> check_clauses(const std::string& rel, const std::string& set_clause,
                                       const std::string& where_clause) {
  const std::string set_shape = "UPDATE " + rel + " SET <set_clause>";
  List* parsed = parse_or_throw("UPDATE " + rel + " SET\n" + set_clause + "\n", "set_clause", set_shape);
  if (list_length(parsed) != 1) throw bad_clause("set_clause", "It holds more than one statement.");
  Node* stmt = static_cast<RawStmt*>(linitial(parsed))->stmt;
  if (!IsA(stmt, UpdateStmt)) throw bad_clause("set_clause", "It must parse as " + set_shape + ".");
  UpdateStmt* upd = reinterpret_cast<UpdateStmt*>(stmt);
  if (upd->whereClause != nullptr || upd->fromClause != NIL || upd->returningList != NIL || upd->withClause != nullptr)
    throw bad_clause("set_clause", "It may hold assignments only, not WHERE, FROM, RETURNING or WITH.");
  std::vector<std::string> targets;
  ListCell* lc;
  foreach (lc, upd->targetList) {
    ResTarget* rt = static_cast<ResTarget*>(lfirst(lc));
    if (rt->name) targets.emplace_back(rt->name);
  }

  const std::string where_shape = "one boolean expression";
  parsed = parse_or_throw("SELECT\n" + where_clause + "\n", "where_clause", where_shape);
  if (list_length(parsed) != 1) throw bad_clause("where_clause", "It holds more than one statement.");
  stmt = static_cast<RawStmt*>(linitial(parsed))->stmt;
  bool one_expr = false;
  if (IsA(stmt, SelectStmt)) {
    SelectStmt* sel = reinterpret_cast<SelectStmt*>(stmt);
    one_expr = sel->op == SETOP_NONE && list_length(sel->targetList) == 1 && sel->fromClause == NIL &&
               sel->whereClause == nullptr && sel->groupClause == NIL && sel->havingClause == nullptr &&
               sel->windowClause == NIL && sel->sortClause == NIL && sel->limitCount == nullptr &&
               sel->limitOffset == nullptr && sel->lockingClause == NIL && sel->withClause == nullptr &&
               sel->intoClause == nullptr && sel->distinctClause == NIL && sel->valuesLists == NIL &&
               static_cast<ResTarget*>(linitial(sel->targetList))->name == nullptr;
  }
  if (!one_expr) throw bad_clause("where_clause", "It must be " + where_shape + ".");
  return targets;
}

// The batch statements, built from plain values after every commit. A keyset range is (lower, upper]
// by key ($1 NULL on the first batch); a ctid range is the blocks [$1, $2). One deferred entry is a
// key ($1) or a block ($1).
struct Statements {
  std::string boundary;     // keyset: the next boundary ($1 last, $2 upper, $3 offset)
  std::string update;       // the range
  std::string update_free;  // the range's rows that can be locked at once (SKIP LOCKED); RETURNING key/ctid
  std::string matching;     // the range's rows the where clause matches: key/ctid as text
  std::string old_rows;     // keyset: ctids of the range's matching rows (their pages are reclaimed later)
  std::string ends;         // keyset: ctids of the range's first and last rows
  std::string update_one;   // one deferred entry
  std::string range;        // the range condition
  std::string one;          // one deferred entry's condition
  std::string rel;
};

// Which of a range's rows a batch updates. A range of an integer key can be done in two steps, the
// even keys and then the odd ones, each committed: on a page filled in key order the first step moves
// every other row's new version elsewhere, and once that commit's dead versions are pruned (PostgreSQL
// does it as the second step reads the page) the other rows' new versions fit on their own page, so
// their updates are HOT: no new index entries. About half the updates of a packed table become HOT.
enum class Part { All, EvenKeys, OddKeys };

// `from_start`: the first batch, which has no lower bound ($1 unused): the others get a plain range,
// which the plans prepared once serve well (an "$1 IS NULL OR" would not use the index's lower bound).
Statements statements(const std::string& rel, const Key& key, const std::string& set_clause,
                      const std::string& where_clause, bool from_start = false, Part part = Part::All) {
  Statements s;
  s.rel = rel;
  std::string where = "(\n" + where_clause + "\n)";
  if (part == Part::EvenKeys) where += " AND (" + key.column + " % 2) = 0";
  if (part == Part::OddKeys) where += " AND (" + key.column + " % 2) <> 0";
  const std::string head = "UPDATE ONLY " + rel + " SET\n" + set_clause + "\nWHERE " + where;
  std::string kx;
  if (key.ctid) {
    kx = "ctid";
    s.range = "ctid >= format('(%s,0)', $1::text)::tid AND ctid < format('(%s,0)', $2::text)::tid";
    s.one = "ctid >= format('(%s,0)', $1::text)::tid AND ctid < format('(%s,0)', ($1::bigint + 1)::text)::tid";
  } else {
    const std::string& k = key.column;
    const std::string& t = key.type;
    kx = k;
    s.range = (from_start ? std::string("$1::text IS NULL AND ") : k + " > $1::text::" + t + " AND ") + k +
              " <= $2::text::" + t;
    s.one = k + " = $1::text::" + t;
    // The output column has its own name: ORDER BY k must sort by the key, not by its text.
    s.boundary = "SELECT " + k + "::text AS zdm_boundary FROM ONLY " + rel + " WHERE " + s.range + " ORDER BY " + k +
                 " OFFSET $3::bigint LIMIT 1";
    s.old_rows = "SELECT ctid FROM ONLY " + rel + " WHERE " + where + " AND " + s.range;
    s.ends = "(SELECT ctid FROM ONLY " + rel + " WHERE " + s.range + " ORDER BY " + k + " LIMIT 1) UNION ALL (SELECT ctid FROM ONLY " +
             rel + " WHERE " + s.range + " ORDER BY " + k + " DESC LIMIT 1)";
  }
  s.update = head + " AND " + s.range;
  s.update_free = head + " AND " + s.range + " AND " + kx + " IN (SELECT " + kx + " FROM ONLY " + rel + " WHERE " +
                  where + " AND " + s.range + " FOR UPDATE SKIP LOCKED) RETURNING " + kx + "::text";
  s.matching = "SELECT " + kx + "::text FROM ONLY " + rel + " WHERE " + where + " AND " + s.range;
  s.update_one = head + " AND " + s.one;
  return s;
}

// Who holds the lock that a batch waited for: the session (or prepared transaction) whose
// transaction is the xmax of a row in `cond`, else one holding a table lock that blocks UPDATE.
// `cond` is Statements::range or ::one, with its parameters.
std::string lock_holder(const Statements& s, Oid relid, const std::string& cond, const std::vector<Value>& params) {
  const std::string xmax = "(SELECT xmax FROM ONLY " + s.rel + " WHERE " + cond + " AND xmax <> '0'::xid)";
  auto rows = query(
      "SELECT who FROM ("
      " SELECT 1 AS o, 'pid ' || a.pid || ': ' || coalesce(rtrim(left(a.query, 300), E' \\n\\t;'), '<query not visible>') AS who"
      "   FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid() AND a.backend_xid IN " + xmax +
      " UNION ALL"
      " SELECT 2, 'prepared transaction ' || quote_literal(p.gid) FROM pg_prepared_xacts p WHERE p.transaction IN " + xmax +
      " UNION ALL"
      // A prepared transaction's locks have no pid; its xid lock has the same virtualtransaction.
      " SELECT 4, 'prepared transaction ' || quote_literal(p.gid) FROM pg_locks l"
      "   JOIN pg_locks x ON x.locktype = 'transactionid' AND x.virtualtransaction = l.virtualtransaction AND x.pid IS NULL"
      "   JOIN pg_prepared_xacts p ON p.transaction = x.transactionid"
      "  WHERE l.pid IS NULL AND l.locktype = 'relation' AND l.database = " + num(MyDatabaseId) + "::oid AND l.relation = " + num(relid) +
      "::oid AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')"
      " UNION ALL"
      " SELECT 3, 'pid ' || a.pid || ': ' || coalesce(rtrim(left(a.query, 300), E' \\n\\t;'), '<query not visible>')"
      "   FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
      "  WHERE l.locktype = 'relation' AND l.database = " + num(MyDatabaseId) + "::oid AND l.relation = " + num(relid) +
      "::oid AND l.pid <> pg_backend_pid()"
      "    AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')"
      ") w ORDER BY o LIMIT 1",
      params);
  if (rows.empty() || !rows[0][0]) return "the blocking session is not visible";
  return "blocked by " + *rows[0][0];
}

// A text argument as a string; detoasting can ereport, so it runs through pg::call.
std::string text_arg(FunctionCallInfo fcinfo, int n) {
  char* s = pg::call([&] { return text_to_cstring(PG_GETARG_TEXT_PP(n)); });
  return s;
}

Options read_options(FunctionCallInfo fcinfo) {
  for (int i = 0; i < 12; ++i) {
    if (i == 9) continue;  // max_replica_lag: NULL means "do not watch"
    if (PG_ARGISNULL(i)) {
      static const char* names[] = {"relation", "set_clause", "where_clause", "batch_size", "adaptive",
                                    "target_batch_ms", "min_batch_size", "max_batch_size", "sleep_ms",
                                    "max_replica_lag", "lock_timeout", "lock_retries"};
      throw UserError(sqlstate::kNullValueNotAllowed, std::string("zdm.backfill: ") + names[i] + " must not be NULL");
    }
  }
  Options o;
  o.batch_size = PG_GETARG_INT32(3);
  o.adaptive = PG_GETARG_BOOL(4);
  o.target_batch_ms = PG_GETARG_INT32(5);
  o.min_batch_size = PG_GETARG_INT32(6);
  o.max_batch_size = PG_GETARG_INT32(7);
  o.sleep_ms = PG_GETARG_INT32(8);
  auto invalid = [](const std::string& m) { return UserError(sqlstate::kInvalidParameterValue, m); };
  if (!PG_ARGISNULL(9)) {
    int64 ms = interval_ms(PG_GETARG_DATUM(9));
    if (ms < 0) throw invalid("zdm.backfill: max_replica_lag must not be negative");
    o.max_replica_lag_ms = static_cast<int>(std::min<int64>(ms, INT_MAX));
  }
  int64 lt = interval_ms(PG_GETARG_DATUM(10));
  o.lock_retries = PG_GETARG_INT32(11);
  if (!PG_ARGISNULL(12)) {
    o.name = text_arg(fcinfo, 12);
  }
  if (o.batch_size <= 0) throw invalid("zdm.backfill: batch_size must be greater than zero");
  if (o.min_batch_size <= 0) throw invalid("zdm.backfill: min_batch_size must be greater than zero");
  if (o.max_batch_size < o.min_batch_size)
    throw invalid("zdm.backfill: max_batch_size must be at least min_batch_size");
  if (o.target_batch_ms <= 0) throw invalid("zdm.backfill: target_batch_ms must be greater than zero");
  if (o.sleep_ms < 0) throw invalid("zdm.backfill: sleep_ms must not be negative");
  if (lt < 0) throw invalid("zdm.backfill: lock_timeout must not be negative");
  if (lt == 0) throw invalid("zdm.backfill: lock_timeout must be greater than zero");
  if (o.lock_retries < 0) throw invalid("zdm.backfill: lock_retries must not be negative");
  o.lock_timeout_ms = static_cast<int>(std::min<int64>(lt, INT_MAX));
  return o;
}

// Checks everything before anything runs and inserts the job row. Must run inside SPI.
int64 create_job(FunctionCallInfo fcinfo, const char* runner) {
  Options o = read_options(fcinfo);
  Oid relid = PG_GETARG_OID(0);
  std::string set_clause = text_arg(fcinfo, 1);
  std::string where_clause = text_arg(fcinfo, 2);

  auto rel = relation_name(relid);
  if (!rel) throw UserError(sqlstate::kUndefinedTable, "relation with OID " + num(relid) + " does not exist");
  char kind = pg::call([&] { return get_rel_relkind(relid); });
  if (kind == RELKIND_PARTITIONED_TABLE)
    throw UserError(sqlstate::kFeatureNotSupported, "zdm.backfill does not walk partitioned table " + *rel,
                    "Each partition holds its own rows, key and locks; a backfill walks one partition at a time.",
                    "Run one backfill per leaf partition, e.g. in psql: SELECT format('CALL zdm.backfill(%L, %L, %L)', "
                    "relid, " + quote_literal(set_clause) + ", " + quote_literal(where_clause) +
                    ") FROM pg_partition_tree(" + quote_literal(*rel) + ") WHERE isleaf \\gexec");
  if (kind != RELKIND_RELATION)
    throw UserError(sqlstate::kWrongObjectType, "\"" + *rel + "\" is not a table",
                    "zdm.backfill updates the rows of an ordinary table.");
  AclResult acl = pg::call([&] { return pg_class_aclcheck(relid, GetUserId(), ACL_UPDATE); });
  if (acl != ACLCHECK_OK) pg::call([&] { aclcheck_error(acl, OBJECT_TABLE, get_rel_name(relid)); });

  auto targets = check_clauses(*rel, set_clause, where_clause);
  Key key = find_key(relid);
  if (!key.ctid) {
    for (const auto& t : targets)
      if (quote_ident(t) == key.column)
        throw UserError(sqlstate::kFeatureNotSupported, "zdm.backfill cannot change the key column " + key.column,
                        "The job walks " + *rel + " by " + key.column + "; rows whose key changes would be missed or updated twice.");
  }
  // Parse analysis of the real statements: unknown columns, wrong types, a non-boolean where clause.
  // It locks the table ROW EXCLUSIVE, as the batches will: bounded by lock_timeout and retried like a
  // batch, so that a table lock held elsewhere fails the call clearly instead of stalling it.
  Statements s = statements(*rel, key, set_clause, where_clause);
  for (int attempt = 0;; ++attempt) {
    ErrorData* err = with_lock_timeout(o.lock_timeout_ms, [&] {
      for (const std::string* sql : {&s.update, &s.update_free}) {
        const char* text = sql->c_str();
        Oid types[2] = {TEXTOID, TEXTOID};
        pg::call([&] { SPI_freeplan(SPI_prepare(text, 2, types)); });
      }
    });
    if (err == nullptr) break;
    if (!is_retryable(err->sqlerrcode)) throw pg::PgError(err);
    if (attempt >= o.lock_retries)
      throw UserError(sqlstate::kLockNotAvailable, "could not start a backfill of " + *rel + ": it stayed locked",
                      "Locking it for UPDATE timed out " + num(attempt + 1) + " time" + (attempt ? "s" : "") +
                          " (lock_timeout " + ms_text(o.lock_timeout_ms) + ", lock_retries " + num(o.lock_retries) +
                          "); " + lock_holder(s, relid, "false", {Value(), Value()}) + ".",
                      "Let the blocking transaction finish (or end it), then start the backfill again.");
    sleep_ms(retry_backoff_ms(attempt + 1, 10, 1000));
  }
  if (key.ctid && !has_tid_range_scan(relid))
    throw UserError(sqlstate::kFeatureNotSupported, "zdm.backfill cannot walk " + *rel,
                    "It has no primary key or unique NOT NULL single-column btree index, and its access method "
                    "cannot scan ctid ranges.",
                    "Give it a key first, e.g. ALTER TABLE " + *rel + " ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;");
  if (!lock_table_for_new_run(relid)) {
    auto other = scalar("SELECT id::text FROM zdm.backfill_jobs WHERE relid = $1::oid AND state IN ('running', 'waiting for replica') ORDER BY id DESC LIMIT 1",
                        {num(relid)});
    throw UserError(sqlstate::kObjectInUse, "a backfill of " + *rel + " is already running",
                    other ? "Job " + *other + " holds the table's backfill lock." : "Another session holds the table's backfill lock.",
                    "Wait for it (SELECT * FROM zdm.backfill_status), or stop it: SELECT zdm.backfill_cancel(" + other.value_or("<job id>") + ");");
  }
  // A job that stopped without finishing (paused, or its session died) is resumed or cancelled, not
  // started over beside itself.
  auto unfinished = query("SELECT id::text, state FROM zdm.backfill_jobs WHERE relid = $1::oid "
                          "AND state IN ('running', 'waiting for replica', 'paused') ORDER BY id LIMIT 1",
                          {num(relid)});
  if (!unfinished.empty()) {
    std::string jid = *unfinished[0][0];
    throw UserError(sqlstate::kObjectInUse, "backfill job " + jid + " of " + *rel + " is unfinished",
                    "Its state is " + unfinished[0][1].value_or("?") + " and no session is running it.",
                    "Resume it: SELECT zdm.backfill_resume(" + jid + "); or drop it: SELECT zdm.backfill_cancel(" + jid + ");");
  }

  // The fixed bounds of the walk.
  Value lower, upper;
  if (key.ctid) {
    lower = "0";
    upper = scalar("SELECT (pg_relation_size($1::oid) / current_setting('block_size')::bigint)::text", {num(relid)});
  } else {
    lower = scalar("SELECT min(" + key.column + ")::text FROM ONLY " + *rel, {});
    upper = scalar("SELECT max(" + key.column + ")::text FROM ONLY " + *rel, {});
  }
  auto id = scalar(
      "INSERT INTO zdm.backfill_jobs (name, relid, relation, set_clause, where_clause, key_column, key_type, "
      " lower_bound, upper_bound, batch_size, adaptive, target_batch_ms, min_batch_size, max_batch_size, sleep_ms, "
      " max_replica_lag_ms, lock_timeout_ms, lock_retries, runner, state, current_batch_size, pid) "
      "VALUES ($1, $2::oid, $3, $4, $5, $6, $7, $8, $9, $10::int, $11::bool, $12::int, $13::int, $14::int, $15::int, "
      " $16::int, $17::int, $18::int, $19, 'running', $10::int, $20::int) RETURNING id::text",
      {o.name, num(relid), *rel, set_clause, where_clause, key.ctid ? Value() : Value(key.column),
       key.ctid ? Value() : Value(key.type), lower, upper, num(o.batch_size), o.adaptive ? "true" : "false",
       num(o.target_batch_ms), num(o.min_batch_size), num(o.max_batch_size), num(o.sleep_ms),
       o.max_replica_lag_ms < 0 ? Value() : Value(num(o.max_replica_lag_ms)), num(o.lock_timeout_ms),
       num(o.lock_retries), std::string(runner), num(MyProcPid)});
  return std::stoll(*id);
}

// ---- the job loop --------------------------------------------------------------------------------

struct Job {
  int64 id = 0;
  Oid relid = InvalidOid;
  std::string set_clause, where_clause;
  Key key;
  Value lower, upper, last;
  Options o;
  int64 rows_done = 0, batches = 0, current = 0;
  int64 rows_per_block = 100;  // the table's density when the job (re)started
  Value split_upper;  // the range (last, split_upper] whose even keys are done, its odd keys not yet
};

Job load_job(int64 id) {
  auto rows = query(
      "SELECT relid::text, set_clause, where_clause, key_column, key_type, lower_bound, upper_bound, last_key, "
      " batch_size::text, adaptive::text, target_batch_ms::text, min_batch_size::text, max_batch_size::text, "
      " sleep_ms::text, max_replica_lag_ms::text, lock_timeout_ms::text, lock_retries::text, rows_done::text, "
      " batches::text, current_batch_size::text, split_upper "
      " FROM zdm.backfill_jobs WHERE id = $1::bigint",
      {num(id)});
  if (rows.empty()) throw UserError(sqlstate::kUndefinedObject, "backfill job " + num(id) + " does not exist");
  Row& r = rows[0];
  Job j;
  j.id = id;
  j.relid = static_cast<Oid>(std::stoul(*r[0]));
  j.set_clause = *r[1];
  j.where_clause = *r[2];
  j.key.ctid = !r[3].has_value();
  if (!j.key.ctid) {
    j.key.column = *r[3];
    j.key.type = *r[4];
  }
  j.lower = r[5];
  j.upper = r[6];
  j.last = r[7];
  j.o.batch_size = std::stoll(*r[8]);
  j.o.adaptive = *r[9] == "true";
  j.o.target_batch_ms = std::stoi(*r[10]);
  j.o.min_batch_size = std::stoi(*r[11]);
  j.o.max_batch_size = std::stoi(*r[12]);
  j.o.sleep_ms = std::stoi(*r[13]);
  j.o.max_replica_lag_ms = r[14] ? std::stoi(*r[14]) : -1;
  j.o.lock_timeout_ms = std::stoi(*r[15]);
  j.o.lock_retries = std::stoi(*r[16]);
  j.rows_done = std::stoll(*r[17]);
  j.batches = std::stoll(*r[18]);
  j.current = r[19] ? std::stoll(*r[19]) : j.o.batch_size;
  j.split_upper = r[20];
  return j;
}

// Each batch runs in READ COMMITTED whatever the session's or role's default: a concurrent update of
// a row is then followed to its newest version (EvalPlanQual), not a serialization failure. Must be
// called at the start of a transaction, before its first snapshot (check_XactIsoLevel).
void read_committed() {
  pg::call([] {
    (void)set_config_option("transaction_isolation", "read committed", PGC_USERSET, PGC_S_SESSION,
                            GUC_ACTION_LOCAL, true, 0, false);
  });
}

// Where the job loop runs: a CALL (non-atomic SPI, SPI_commit as plpgsql's COMMIT does) or a
// background worker, which has no portal to carry snapshots across SPI_commit and so ends and starts
// its transactions itself around an atomic SPI connection (worker_spi does the same).
bool in_worker = false;
MemoryContext worker_context = nullptr;

void commit() {
  if (!in_worker) {
    pg::call([] { SPI_commit(); });
    read_committed();
    return;
  }
  pg::call([] {
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
  });
  read_committed();
  pg::call([] {
    PushActiveSnapshot(GetTransactionSnapshot());
    SPI_connect();
    MemoryContextSwitchTo(worker_context);
  });
}

enum class Outcome { Done, Paused, Cancelled };

// How a walk batch treats rows locked by other transactions: wait for them (up to lock_timeout), or
// update only the rows it can lock at once and skip the others (SELECT ... FOR UPDATE SKIP LOCKED).
enum class Mode { Wait, SkipLocked };

// Result of one batch attempt inside a subtransaction.
struct Attempt {
  bool ok = false;
  bool stopped = false;  // the job row is no longer running (paused or cancelled from outside)
  std::string stopped_state;
  int64 rows = 0;
  Value hi;
  bool last = false;
  std::vector<std::string> locked;  // skipped keys (blocks) whose rows were locked
  std::string holder;               // who held the first of them
  std::vector<uint32_t> blocks;     // heap blocks of the old versions of the rows it updated
  ErrorData* error = nullptr;
};

// Runs `body` in a subtransaction after locking the job row and checking that it is still running,
// so a lock timeout rolls back only this attempt (plpy_subxactobject.c). The body runs the batch's
// statements and writes its progress in the same transaction.
template <typename Body>
Attempt in_subtransaction(const Job& j, Body&& body) {
  Attempt a;
  MemoryContext oldcontext = CurrentMemoryContext;
  ResourceOwner oldowner = CurrentResourceOwner;
  pg::call([] { BeginInternalSubTransaction(nullptr); });
  MemoryContextSwitchTo(oldcontext);
  try {
    auto state = scalar("SELECT state FROM zdm.backfill_jobs WHERE id = $1::bigint FOR UPDATE", {num(j.id)});
    if (!state || (*state != "running" && *state != "waiting for replica")) {
      a.stopped = true;
      a.stopped_state = state.value_or("cancelled");
    } else {
      body(a);
    }
    pg::call([] { ReleaseCurrentSubTransaction(); });
    MemoryContextSwitchTo(oldcontext);
    CurrentResourceOwner = oldowner;
    a.ok = !a.stopped;
  } catch (const pg::PgError& e) {
    MemoryContextSwitchTo(oldcontext);
    pg::call([] { RollbackAndReleaseCurrentSubTransaction(); });
    MemoryContextSwitchTo(oldcontext);
    CurrentResourceOwner = oldowner;
    a.error = e.data();
    a.blocks.clear();
    a.locked.clear();
  }
  return a;
}

// The block of a ctid's text form "(b,o)".
std::string block_of(const std::string& ctid) {
  size_t comma = ctid.find(',');
  return ctid.substr(1, comma == std::string::npos ? std::string::npos : comma - 1);
}

// One batch of the walk: the range after j.last of `size` keys (or blocks).
// `size` is in keys (blocks for a ctid walk); `rows` the batch size in rows, for the status view.
// `by_arithmetic`: an integer key walked densely so far; the batch's upper boundary is then the last
// one plus `size` (a unique integer key has at most `size` values in that range, so the batch is
// never larger than asked), without reading `size` index entries to find it.
// `from`: the range's lower bound (exclusive; none for the first batch). `fixed_hi`: its upper bound
// when the caller knows it (an odd-keys step); else it is computed (`by_arithmetic`) or read through
// the index. `part`: EvenKeys advances split_upper, OddKeys and All advance last_key.
Attempt walk_batch(const Job& j, const Statements& s, int64 size, int64 rows, Mode mode, bool by_arithmetic,
                   Part part, const Value& from, const Value& fixed_hi) {
  return in_subtransaction(j, [&](Attempt& a) {
    Value lo;
    if (j.key.ctid) {
      int64 first = j.last ? std::stoll(*j.last) : 0;
      int64 up = std::stoll(*j.upper);
      int64 to = std::min(up, first + std::max<int64>(1, size));
      lo = num(first);
      a.hi = num(to);
      a.last = to >= up;
      for (int64 b = first; b < to; ++b) a.blocks.push_back(static_cast<uint32_t>(b));
    } else {
      lo = from;
      if (fixed_hi) {
        a.hi = fixed_hi;
        a.last = *a.hi == *j.upper;
      } else if (by_arithmetic && from) {
        __int128 first = std::stoll(*from), up = std::stoll(*j.upper);
        __int128 to = first + std::max<int64>(1, size);
        a.last = to >= up;
        a.hi = a.last ? j.upper : Value(num(static_cast<int64>(to)));
      } else {
        a.hi = scalar(s.boundary, {from, j.upper, num(size - 1)});
        if (!a.hi || *a.hi == *j.upper) {
          a.hi = j.upper;
          a.last = true;
        }
      }
      // The pages holding the rows it updates, whose old versions are reclaimed after the next batch.
      // In a table laid out in key order (loaded or appended in key order: the common case) they are
      // the blocks between the range's first and last rows, found with two index probes; otherwise
      // (the span is much wider than the range's rows could fill) they are read row by row.
      // An odd-keys step collects nothing: its even-keys steps found the range's blocks before they
      // moved any row.
      if (part != Part::OddKeys) {
        std::vector<uint32_t> ends;
        collect_blocks(s.ends, {lo, a.hi}, ends);
        int64 expected = size / std::max<int64>(1, j.rows_per_block) + 1;
        if (ends.size() == 2 && ends[0] <= ends[1] && static_cast<int64>(ends[1] - ends[0]) <= 2 * expected + 16) {
          for (uint32_t b = ends[0]; b <= ends[1]; ++b) a.blocks.push_back(b);
        } else {
          collect_blocks(s.old_rows, {lo, a.hi}, a.blocks);
        }
      }
    }
    if (mode == Mode::Wait) {
      query(s.update, {lo, a.hi}, &a.rows);
    } else {
      // The rows it could lock are updated now; the ones that are locked stay for later. The rows the
      // where clause still matches, less those just updated, are the locked ones.
      std::set<std::string> updated;
      for (auto& r : query(s.update_free, {lo, a.hi})) updated.insert(r[0].value_or(""));
      a.rows = static_cast<int64>(updated.size());
      std::set<std::string> seen;
      for (auto& r : query(s.matching, {lo, a.hi})) {
        std::string k = r[0].value_or("");
        if (updated.count(k)) continue;
        if (j.key.ctid) k = block_of(k);
        if (seen.insert(k).second) a.locked.push_back(k);
      }
      if (!a.locked.empty()) a.holder = lock_holder(s, j.relid, s.one, {a.locked.front()});
    }
    std::string note;
    if (!a.locked.empty())
      note = "skipped " + num(static_cast<int64>(a.locked.size())) +
             (j.key.ctid ? (a.locked.size() == 1 ? " block with locked rows" : " blocks with locked rows")
                         : (a.locked.size() == 1 ? " locked row" : " locked rows")) +
             " for now (" + a.holder + ")";
    query(part == Part::EvenKeys
              ? "UPDATE zdm.backfill_jobs SET split_upper = $2, rows_done = rows_done + $3::bigint, batches = batches + 1, "
                " current_batch_size = $4::int, state = 'running', updated_at = clock_timestamp(), "
                " deferred = deferred || $5::jsonb, last_error = $6 WHERE id = $1::bigint"
              : "UPDATE zdm.backfill_jobs SET last_key = $2, split_upper = NULLIF(split_upper, $2), rows_done = rows_done + $3::bigint, "
                " batches = batches + 1, current_batch_size = $4::int, state = 'running', updated_at = clock_timestamp(), "
                " deferred = deferred || $5::jsonb, last_error = $6 WHERE id = $1::bigint",
          {num(j.id), a.hi, num(a.rows), num(rows), json_array(a.locked),
           note.empty() ? Value() : Value(note)});
  });
}

// One skipped entry, retried after the walk; it leaves the list in the transaction that does it.
Attempt deferred_batch(const Job& j, const Statements& s, const std::string& entry) {
  return in_subtransaction(j, [&](Attempt& a) {
    if (j.key.ctid)
      query(s.update, {entry, num(std::stoll(entry) + 1)}, &a.rows);
    else
      query(s.update_one, {entry}, &a.rows);
    query("UPDATE zdm.backfill_jobs SET deferred = deferred - $2, rows_done = rows_done + $3::bigint, "
          " batches = batches + 1, state = 'running', updated_at = clock_timestamp(), last_error = NULL "
          " WHERE id = $1::bigint",
          {num(j.id), entry, num(a.rows)});
  });
}

void set_lock_timeout(int ms) {
  query("SELECT set_config('lock_timeout', $1, true)", {num(ms) + "ms"});
}

// The highest replay lag of any streaming replica, in ms (0 when none lags).
int64 replica_lag_ms() {
  auto v = scalar("SELECT coalesce(max((extract(epoch FROM replay_lag) * 1000)::bigint), 0)::text "
                  "  FROM pg_stat_replication", {});
  return v ? std::stoll(*v) : 0;
}

void report_activity(const Job& j) {
  char buf[256];
  snprintf(buf, sizeof buf, "zdm backfill job %lld: %lld rows in %lld batches, last key %s",
           static_cast<long long>(j.id), static_cast<long long>(j.rows_done), static_cast<long long>(j.batches),
           j.last ? j.last->c_str() : "-");
  pg::call([&] { pgstat_report_activity(STATE_RUNNING, buf); });
}

void fail_job(int64 id, const std::string& message) {
  query("UPDATE zdm.backfill_jobs SET state = 'failed', last_error = $2, updated_at = clock_timestamp(), "
        " finished_at = clock_timestamp() WHERE id = $1::bigint",
        {num(id), message});
  commit();
}

// Records a failure and returns the error to raise. The job keeps its progress and skipped entries:
// zdm.backfill_resume(id) continues from there.
// `what` is the message's subject, `how` the detail's first sentence, without its end.
UserError lock_failure(const Job& j, const std::string& what, const std::string& how, const std::string& holder) {
  std::string message = "backfill job " + num(j.id) + " stopped: " + what + " stayed locked";
  std::string detail = how + " (lock_timeout " + ms_text(j.o.lock_timeout_ms) + ", lock_retries " +
                       num(j.o.lock_retries) + "); " + holder + ".";
  fail_job(j.id, message + ": " + detail);
  return UserError(sqlstate::kLockNotAvailable, message, detail,
                   "Let the blocking transaction finish (or end it), then resume the job: SELECT zdm.backfill_resume(" +
                       num(j.id) + ");");
}

[[noreturn]] void table_dropped(const Job& j) {
  fail_job(j.id, "relation with OID " + num(j.relid) + " was dropped");
  throw UserError(sqlstate::kUndefinedTable, "backfill job " + num(j.id) + ": its table was dropped");
}

// Whether the job's updates can be HOT: its set clause changes no indexed column (heapam.c
// heap_update: INDEX_ATTR_BITMAP_ALL).
bool hot_possible(const Job& j) {
  auto rel = relation_name(j.relid);
  if (!rel) return false;
  std::vector<std::string> targets = check_clauses(*rel, j.set_clause, j.where_clause);
  std::vector<AttrNumber> columns;
  for (const auto& t : targets) {
    const char* name = t.c_str();
    AttrNumber att = pg::call([&] { return get_attnum(j.relid, name); });
    if (att == InvalidAttrNumber) return false;
    columns.push_back(att);
  }
  const AttrNumber* cols = columns.data();
  size_t ncols = columns.size();
  Oid relid = j.relid;
  return pg::call([&] {
    Relation r = table_open(relid, AccessShareLock);
    Bitmapset* indexed = RelationGetIndexAttrBitmap(r, INDEX_ATTR_BITMAP_ALL);
    bool ok = true;
    for (size_t i = 0; i < ncols; ++i)
      if (bms_is_member(cols[i] - FirstLowInvalidHeapAttributeNumber, indexed)) ok = false;
    bms_free(indexed);
    table_close(r, AccessShareLock);
    return ok;
  });
}

// Runs a job from its last committed batch to the end. Caller holds the table's backfill lock and an
// SPI connection. Returns how the job ended; a failure is recorded and thrown.
//
// Locked rows: a batch waits at most lock_timeout for a row lock. When it times out, the same range
// runs again at once with SKIP LOCKED: the free rows are done, the locked ones are recorded as
// skipped (in the same transaction), so a long-held row lock stalls the walk one lock_timeout only.
// After the walk, skipped entries are retried, each attempt bounded by lock_timeout, with a backoff
// between rounds; an entry still locked after lock_retries retries fails the job, naming the holder.
Outcome run_job(int64 id, bool worker) {
  PlanCache plans;
  Job j = load_job(id);
  const bool integer_key = !j.key.ctid && (j.key.type == "bigint" || j.key.type == "integer" || j.key.type == "smallint");
  bool dense = false;
  // Two steps per range (Part) for a dense integer key, when the set clause changes no indexed
  // column (else no update can be HOT). A range a stopped job left half done is finished first.
  const bool split = integer_key && hot_possible(j);
  struct EvenRange {
    int64 upper;
    std::vector<uint32_t> blocks;  // found by its even-keys step, before it moved any row
  };
  std::deque<EvenRange> even_ranges;  // ranges whose even keys are done, odd keys not yet
  double even_ms = 0;                 // how long the last even-keys step took
  int64 even_rows = 0;                // and how many rows it updated
  int split_pause = 0;                // ranges to do in one step before trying two steps again
  query("UPDATE zdm.backfill_jobs SET pid = $2::int, state = 'running', runner = $3, updated_at = clock_timestamp() "
        "WHERE id = $1::bigint AND state IN ('running', 'waiting for replica', 'paused')",
        {num(id), num(MyProcPid), worker ? "worker" : "call"});
  commit();
  SizingPolicy policy;
  policy.min_size = j.o.min_batch_size;
  policy.max_size = j.o.max_batch_size;
  policy.target_ms = j.o.target_batch_ms;
  int64 size = clamp_batch_size(policy, j.current);
  if (!j.o.adaptive) size = j.o.batch_size;
  // The table's density: ctid walks turn the row size into blocks by it; keyset walks check with it
  // that a range's rows lie in one span of blocks.
  {
    auto d = scalar("SELECT CASE WHEN reltuples > 0 AND relpages > 0 THEN greatest(1, (reltuples / relpages)::bigint) ELSE 100 END::text FROM pg_class WHERE oid = $1::oid",
                    {num(j.relid)});
    j.rows_per_block = d ? std::max<int64>(1, std::stoll(*d)) : 100;
  }
  const int64 rows_per_block = j.rows_per_block;
  // Blocks of the batch before the last: their dead versions are reclaimed one batch late, when no
  // snapshot that the batch's commit raced with can still need them.
  std::vector<uint32_t> pending;
  auto last_notice = std::chrono::steady_clock::now();
  bool done = !j.upper.has_value() || (j.last && j.upper && *j.last == *j.upper);
  while (!done) {
    pg::call([] { CHECK_FOR_INTERRUPTS(); });
    auto rel = relation_name(j.relid);
    if (!rel) table_dropped(j);
    // Replica lag: wait, visibly, while any streaming replica replays further behind than allowed.
    if (j.o.max_replica_lag_ms >= 0) {
      bool waiting = false;
      while (replica_lag_ms() > j.o.max_replica_lag_ms) {
        if (!waiting) {
          query("UPDATE zdm.backfill_jobs SET state = 'waiting for replica', updated_at = clock_timestamp() "
                "WHERE id = $1::bigint AND state = 'running'", {num(id)});
          commit();
          waiting = true;
        }
        auto st = scalar("SELECT state FROM zdm.backfill_jobs WHERE id = $1::bigint", {num(id)});
        commit();
        if (!st || (*st != "waiting for replica" && *st != "running")) break;
        sleep_ms(100);
      }
    }
    // Two steps per range of a dense integer key (Part): the even keys of range r + 1 are done
    // before the odd keys of range r, so that the snapshots that were open when r's even keys
    // committed have ended by the time its odd keys need the room their pruned versions leave.
    // split_upper (E) runs one range ahead of last_key (O): even keys are done up to E, odd ones up
    // to O. A range (O, O + 2n] holds at most n keys of either parity, so no step exceeds the size.
    const int64 keys = 2 * size;
    const bool lead = j.split_upper.has_value() && j.last && *j.split_upper != *j.last;
    const __int128 lead_keys = lead ? static_cast<__int128>(std::stoll(*j.split_upper)) - std::stoll(*j.last) : 0;
    const bool even_at_end = j.split_upper && *j.split_upper == *j.upper;
    Part part = Part::All;
    Value from = j.last, fixed_hi;
    if (split && split_pause == 0 && dense && j.last && !even_at_end && lead_keys <= keys) {
      part = Part::EvenKeys;
      from = j.split_upper ? j.split_upper : j.last;
    } else if (lead) {
      part = Part::OddKeys;
      __int128 to = static_cast<__int128>(std::stoll(*j.last)) + keys;
      fixed_hi = to >= std::stoll(*j.split_upper) ? j.split_upper : Value(num(static_cast<int64>(to)));
    }
    const bool by_arithmetic = integer_key && dense;
    Statements s = statements(*rel, j.key, j.set_clause, j.where_clause, !from.has_value(), part);
    int64 step = j.key.ctid ? std::max<int64>(1, size / rows_per_block) : part == Part::All ? size : keys;
    set_lock_timeout(j.o.lock_timeout_ms);
    auto t0 = std::chrono::steady_clock::now();
    Attempt a = walk_batch(j, s, step, size, Mode::Wait, by_arithmetic, part, from, fixed_hi);
    if (!a.ok && !a.stopped && is_retryable(a.error->sqlerrcode)) {
      // A row (or the table) stayed locked for lock_timeout: the same range again, skipping locked
      // rows. If even that times out (a table lock, or locks taken by the set clause), retry it with
      // a backoff, then give up naming the holder.
      int tries = 0;
      while (true) {
        commit();
        set_lock_timeout(j.o.lock_timeout_ms);
        t0 = std::chrono::steady_clock::now();
        a = walk_batch(j, s, step, size, Mode::SkipLocked, by_arithmetic, part, from, fixed_hi);
        if (a.ok || a.stopped || !is_retryable(a.error->sqlerrcode)) break;
        if (++tries > j.o.lock_retries) {
          commit();
          Value lo = j.key.ctid ? Value(j.last.value_or("0")) : from;
          std::string holder = lock_holder(s, j.relid, s.range, {lo, a.hi ? a.hi : j.upper});
          std::string batch = lo ? "The batch after " + std::string(j.key.ctid ? "block " : "key ") + *lo
                                 : std::string("The first batch");
          throw lock_failure(j, *rel,
                             batch + " timed out " + num(tries + 1) + " times, the last " + num(tries) +
                                 " even skipping locked rows",
                             holder);
        }
        commit();
        sleep_ms(retry_backoff_ms(tries, 10, 1000));
      }
    }
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (a.stopped) {
      commit();
      return a.stopped_state == "paused" ? Outcome::Paused : Outcome::Cancelled;
    }
    if (!a.ok) {
      // Any other error: the batch rolled back; record the failure (the progress row still says the
      // last good batch).
      ErrorData* e = a.error;
      fail_job(id, e->message ? e->message : "error");
      throw pg::PgError(e);
    }
    j.rows_done += a.rows;
    j.batches += 1;
    if (part == Part::EvenKeys) {
      // Still dense when the range had about n even keys to update.
      dense = a.rows >= keys / 2 - keys / 16;
      even_rows = a.rows;
      j.split_upper = a.hi;
      even_ranges.push_back({std::stoll(*a.hi), std::move(a.blocks)});
    } else {
      if (integer_key && a.hi && part == Part::All) {
        // Dense keys: the range read through the index spans hardly more key values than it has
        // rows, or the arithmetic range was as full as asked; otherwise the next boundary is read.
        if (by_arithmetic)
          dense = a.rows >= step - step / 8;
        else if (j.last)
          dense = static_cast<__int128>(std::stoll(*a.hi)) - std::stoll(*j.last) <= step + step / 8;
      }
      j.last = a.hi;
      if (j.split_upper && *j.split_upper == *j.last) j.split_upper.reset();
      done = a.last;
      // HOT did not pay (the odd keys took about as long per row as the even ones: a snapshot held
      // somewhere keeps the dead versions): one step per range for the next ranges, then try again.
      // (Only steps long enough to time: 20 ms or more.)
      if (part == Part::OddKeys && a.rows > 0 && even_rows > 0 && even_ms >= 20 &&
          ms / static_cast<double>(a.rows) > 0.8 * even_ms / static_cast<double>(even_rows))
        split_pause = 8;
      else if (part == Part::All && split_pause > 0)
        --split_pause;
    }
    commit();
    reclaim_blocks(j.relid, std::move(pending));
    pending.clear();
    if (part == Part::All) {
      pending = std::move(a.blocks);
    } else if (part == Part::OddKeys) {
      // The ranges whose odd keys are now done too: their pages' dead versions are reclaimed next.
      int64 odd_done = std::stoll(*j.last);
      while (!even_ranges.empty() && even_ranges.front().upper <= odd_done) {
        auto& r = even_ranges.front().blocks;
        pending.insert(pending.end(), r.begin(), r.end());
        even_ranges.pop_front();
      }
    }
    report_activity(j);
    if (j.o.adaptive) {
      // The two steps of a range take different times (the odd keys' HOT updates are faster): the
      // size follows the slower one, and shrinks at once after a step over the target.
      if (part == Part::EvenKeys) {
        even_ms = ms;
        if (ms > policy.target_ms) size = next_batch_size(policy, size, ms);
      } else {
        size = next_batch_size(policy, size, part == Part::OddKeys ? std::max(ms, even_ms) : ms);
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (!worker && std::chrono::duration<double, std::milli>(now - last_notice).count() >= notice_interval_ms) {
      last_notice = now;
      long long rows = j.rows_done, b = j.batches;
      const char* last = j.last ? j.last->c_str() : "-";
      pg::call([&] { ereport(NOTICE, (errmsg("zdm backfill job %lld: %lld rows in %lld batches, last key %s", static_cast<long long>(id), rows, b, last))); });
    }
    if (!done) sleep_ms(j.o.sleep_ms);
  }
  // The skipped entries, retried until done: each attempt bounded by lock_timeout, rounds with a
  // capped backoff in between; after lock_retries retries the job fails and names the holder.
  int rounds = 0;
  while (true) {
    std::vector<std::string> entries;
    for (auto& r : query("SELECT e FROM zdm.backfill_jobs, jsonb_array_elements_text(deferred) e WHERE id = $1::bigint",
                         {num(id)}))
      entries.push_back(r[0].value_or(""));
    if (entries.empty()) break;
    auto rel = relation_name(j.relid);
    if (!rel) table_dropped(j);
    Statements s = statements(*rel, j.key, j.set_clause, j.where_clause);
    std::optional<std::string> stuck;
    std::string holder;
    for (const auto& e : entries) {
      set_lock_timeout(j.o.lock_timeout_ms);
      Attempt a = deferred_batch(j, s, e);
      if (a.stopped) {
        commit();
        return a.stopped_state == "paused" ? Outcome::Paused : Outcome::Cancelled;
      }
      if (!a.ok) {
        if (!is_retryable(a.error->sqlerrcode)) {
          ErrorData* err = a.error;
          fail_job(id, err->message ? err->message : "error");
          throw pg::PgError(err);
        }
        if (!stuck) {
          stuck = e;
          holder = lock_holder(s, j.relid, s.one, {e});
        }
      } else {
        j.rows_done += a.rows;
        j.batches += 1;
      }
      commit();
    }
    if (!stuck) continue;
    if (++rounds > j.o.lock_retries)
      throw lock_failure(j, "a row of " + *rel,
                         std::string(j.key.ctid ? "Block " : "Key ") + *stuck +
                             " was skipped during the walk, then timed out " + num(rounds) + " time" +
                             (rounds == 1 ? "" : "s") + " when retried",
                         holder);
    query("UPDATE zdm.backfill_jobs SET last_error = $2, updated_at = clock_timestamp() WHERE id = $1::bigint",
          {num(id), "waiting for a locked row (" + std::string(j.key.ctid ? "block " : "key ") + *stuck + ", " + holder + ")"});
    commit();
    sleep_ms(retry_backoff_ms(rounds, 10, 1000));
  }
  reclaim_blocks(j.relid, std::move(pending));
  query("UPDATE zdm.backfill_jobs SET state = 'done', finished_at = clock_timestamp(), updated_at = clock_timestamp(), "
        " pid = NULL WHERE id = $1::bigint AND state IN ('running', 'waiting for replica')",
        {num(id)});
  commit();
  return Outcome::Done;
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::Done: return "done";
    case Outcome::Paused: return "paused";
    case Outcome::Cancelled: return "cancelled";
  }
  return "?";
}

}  // namespace

namespace {

// What a worker needs besides its job id.
struct WorkerExtra {
  Oid dbid;
  Oid role;
  TransactionId creator_xid;  // the worker waits until this transaction has ended
};
static_assert(sizeof(WorkerExtra) <= BGW_EXTRALEN);

void launch_worker(int64 id, Oid role) {
  BackgroundWorker w;
  memset(&w, 0, sizeof w);
  w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  w.bgw_start_time = BgWorkerStart_RecoveryFinished;
  w.bgw_restart_time = BGW_NEVER_RESTART;
  snprintf(w.bgw_library_name, BGW_MAXLEN, "zdm");
  snprintf(w.bgw_function_name, BGW_MAXLEN, "zdm_backfill_worker_main");
  snprintf(w.bgw_name, BGW_MAXLEN, "zdm backfill job %lld", static_cast<long long>(id));
  snprintf(w.bgw_type, BGW_MAXLEN, "zdm backfill");
  w.bgw_main_arg = Int64GetDatum(id);
  WorkerExtra extra{MyDatabaseId, role, InvalidTransactionId};
  extra.creator_xid = pg::call([] { return GetTopTransactionId(); });
  memcpy(w.bgw_extra, &extra, sizeof extra);
  w.bgw_notify_pid = 0;
  BackgroundWorkerHandle* handle = nullptr;
  bool ok = pg::call([&] { return RegisterDynamicBackgroundWorker(&w, &handle); });
  if (!ok)
    throw UserError("53000", "could not start a background worker for backfill job " + num(id),
                    "All background worker slots are in use.",
                    "Raise max_worker_processes, or run the job in a session: CALL zdm.backfill(...);");
}

// pg_stat_activity.query showed the job's progress while CALL ran; show the CALL again.
void restore_activity() {
  if (debug_query_string != nullptr) pg::call([] { pgstat_report_activity(STATE_RUNNING, debug_query_string); });
}

bool is_nonatomic_call(FunctionCallInfo fcinfo) {
  return fcinfo->context != nullptr && IsA(fcinfo->context, CallContext) &&
         !castNode(CallContext, fcinfo->context)->atomic;
}

// The state change of pause / resume / cancel, through row-level security: another role's job is
// invisible unless the caller is a member of its owner or of pg_signal_backend.
std::string current_state(int64 id) {
  auto st = scalar("SELECT state FROM zdm.backfill_jobs WHERE id = $1::bigint", {num(id)});
  if (!st)
    throw UserError(sqlstate::kUndefinedObject, "backfill job " + num(id) + " does not exist",
                    "Or it belongs to another role: only its owner, members of pg_signal_backend and superusers see it.");
  return *st;
}

template <typename Fn>
Datum with_spi(Fn&& fn) {
  pg::call([] { SPI_connect(); });
  Datum d = fn();
  pg::call([] { SPI_finish(); });
  return d;
}

Datum text_result(const std::string& s) {
  return pg::call([&] { return PointerGetDatum(cstring_to_text_with_len(s.data(), static_cast<int>(s.size()))); });
}

}  // namespace

void register_launcher();

void init() {
  DefineCustomIntVariable(
      "zdm.backfill_notice_interval", "How often CALL zdm.backfill reports its progress as a NOTICE.",
      "A NOTICE with the rows and batches done and the last key, at most once per interval; 0 reports "
      "after every batch. The final NOTICE comes in any case.",
      &notice_interval_ms, 10000, 0, INT_MAX, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
  // Auto-resume after a restart needs a worker registered at server start.
  if (process_shared_preload_libraries_in_progress) register_launcher();
}

}  // namespace zdm::backfill

using namespace zdm;
using namespace zdm::backfill;

Datum zdm_backfill(PG_FUNCTION_ARGS) {
  return pg::guarded([&]() -> Datum {
    if (!is_nonatomic_call(fcinfo))
      throw UserError(sqlstate::kActiveSqlTransaction, "zdm.backfill cannot run inside a transaction block",
                      "It commits after every batch, which a procedure can only do when CALL is run at top level.",
                      "Run CALL zdm.backfill(...) outside BEGIN ... COMMIT, or start it in the background: "
                      "SELECT zdm.backfill_start(...);");
    pg::call([] { SPI_connect_ext(SPI_OPT_NONATOMIC); });
    try {
      int64 id = create_job(fcinfo, "call");
      commit();
      Outcome o = run_job(id, false);
      auto rows = scalar("SELECT rows_done || ' rows in ' || batches || ' batches' FROM zdm.backfill_jobs WHERE id = $1::bigint",
                         {num(id)});
      commit();
      unlock_table();
      std::string msg = "zdm backfill job " + num(id) + " " + outcome_name(o) + ": " + rows.value_or("");
      const char* m = msg.c_str();
      pg::call([&] { ereport(NOTICE, (errmsg_internal("%s", m))); });
    } catch (...) {
      unlock_table();
      restore_activity();
      throw;
    }
    restore_activity();
    pg::call([] { SPI_finish(); });
    PG_RETURN_VOID();
  });
}

Datum zdm_backfill_start(PG_FUNCTION_ARGS) {
  return pg::guarded([&]() -> Datum {
    return with_spi([&]() -> Datum {
      int64 id;
      try {
        id = create_job(fcinfo, "worker");
        // The worker takes the table's lock itself once this transaction has committed.
        unlock_table();
      } catch (...) {
        unlock_table();
        throw;
      }
      launch_worker(id, GetUserId());
      return Int64GetDatum(id);
    });
  });
}

Datum zdm_backfill_pause(PG_FUNCTION_ARGS) {
  int64 id = PG_GETARG_INT64(0);
  return pg::guarded([&]() -> Datum {
    return with_spi([&]() -> Datum {
      std::string st = current_state(id);
      if (st != "running" && st != "waiting for replica")
        throw UserError(sqlstate::kObjectInUse, "backfill job " + num(id) + " is " + st + ", not running");
      query("UPDATE zdm.backfill_jobs SET state = 'paused', updated_at = clock_timestamp() WHERE id = $1::bigint", {num(id)});
      return text_result("paused");
    });
  });
}

Datum zdm_backfill_cancel(PG_FUNCTION_ARGS) {
  int64 id = PG_GETARG_INT64(0);
  return pg::guarded([&]() -> Datum {
    return with_spi([&]() -> Datum {
      std::string st = current_state(id);
      if (st == "done" || st == "cancelled")
        throw UserError(sqlstate::kObjectInUse, "backfill job " + num(id) + " is already " + st);
      query("UPDATE zdm.backfill_jobs SET state = 'cancelled', updated_at = clock_timestamp(), "
            " finished_at = clock_timestamp() WHERE id = $1::bigint", {num(id)});
      return text_result("cancelled");
    });
  });
}

Datum zdm_backfill_resume(PG_FUNCTION_ARGS) {
  int64 id = PG_GETARG_INT64(0);
  return pg::guarded([&]() -> Datum {
    return with_spi([&]() -> Datum {
      std::string st = current_state(id);
      if (st == "done" || st == "cancelled")
        throw UserError(sqlstate::kObjectInUse, "backfill job " + num(id) + " is " + st + " and cannot be resumed");
      auto row = query("SELECT relid::text, owner::text FROM zdm.backfill_jobs WHERE id = $1::bigint", {num(id)});
      Oid relid = static_cast<Oid>(std::stoul(*row[0][0]));
      Oid owner = static_cast<Oid>(std::stoul(*row[0][1]));
      if (table_busy(relid))
        throw UserError(sqlstate::kObjectInUse, "backfill job " + num(id) + " is running",
                        "A live session or worker holds the table's backfill lock.");
      query("UPDATE zdm.backfill_jobs SET state = 'running', last_error = NULL, finished_at = NULL, "
            " updated_at = clock_timestamp() WHERE id = $1::bigint", {num(id)});
      // The job runs as the role that created it, never as the (possibly stronger) role resuming it.
      launch_worker(id, owner);
      return text_result("running");
    });
  });
}

void zdm_backfill_worker_main(Datum arg) {
  int64 id = DatumGetInt64(arg);
  WorkerExtra extra;
  memcpy(&extra, MyBgworkerEntry->bgw_extra, sizeof extra);
  pqsignal(SIGTERM, die);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnectionByOid(extra.dbid, extra.role, 0);
  char appname[64];
  snprintf(appname, sizeof appname, "zdm backfill job %lld", static_cast<long long>(id));
  pgstat_report_appname(appname);
  // The job row is committed by the transaction that launched us: wait for its end.
  while (TransactionIdIsValid(extra.creator_xid) && TransactionIdIsInProgress(extra.creator_xid)) {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
  worker_context = AllocSetContextCreate(TopMemoryContext, "zdm backfill worker", ALLOCSET_DEFAULT_SIZES);
  in_worker = true;
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  MemoryContextSwitchTo(worker_context);
  pg::guarded([&] {
    read_committed();
    pg::call([] {
      PushActiveSnapshot(GetTransactionSnapshot());
      SPI_connect();
    });
    MemoryContextSwitchTo(worker_context);
    auto row = query("SELECT relid::text, state FROM zdm.backfill_jobs WHERE id = $1::bigint", {num(id)});
    if (row.empty() || (*row[0][1] != "running" && *row[0][1] != "waiting for replica")) {
      pg::call([] { SPI_finish(); });
      return;
    }
    Oid relid = static_cast<Oid>(std::stoul(*row[0][0]));
    // The lock may still be on its way from the session that resumed the job (which tried it) or
    // from the worker of the job's previous run: wait for it as long as a start would.
    if (!try_lock_table(relid) && !wait_lock_table(relid, kLockHandoverMs)) {
      pg::call([] { SPI_finish(); });
      return;  // someone else runs this table's backfill
    }
    try {
      run_job(id, true);
    } catch (...) {
      unlock_table();
      throw;
    }
    unlock_table();
    pg::call([] { SPI_finish(); });
  });
  PopActiveSnapshot();
  CommitTransactionCommand();
  proc_exit(0);
}

// ---- auto-resume after a restart (only when preloaded) -------------------------------------------
// A launcher, registered in _PG_init, starts once the server accepts connections (and again after a
// crash restart): it starts one short-lived resumer per database, which relaunches the jobs left
// running there, each in a worker as its owner. The launcher then idles, so that the postmaster
// restarts it after the next crash (workers that exit are forgotten at crash restart).
extern "C" {
PGDLLEXPORT void zdm_backfill_launcher_main(Datum arg);
PGDLLEXPORT void zdm_backfill_resumer_main(Datum arg);
}

namespace zdm::backfill {
namespace {
void register_resumer(Oid dboid) {
  BackgroundWorker w;
  memset(&w, 0, sizeof w);
  w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  w.bgw_start_time = BgWorkerStart_RecoveryFinished;
  w.bgw_restart_time = BGW_NEVER_RESTART;
  snprintf(w.bgw_library_name, BGW_MAXLEN, "zdm");
  snprintf(w.bgw_function_name, BGW_MAXLEN, "zdm_backfill_resumer_main");
  snprintf(w.bgw_name, BGW_MAXLEN, "zdm backfill resumer for database %u", dboid);
  snprintf(w.bgw_type, BGW_MAXLEN, "zdm backfill resumer");
  w.bgw_main_arg = ObjectIdGetDatum(dboid);
  BackgroundWorkerHandle* handle = nullptr;
  if (!RegisterDynamicBackgroundWorker(&w, &handle))
    ereport(WARNING, (errmsg("zdm: could not start the backfill resumer for database %u", dboid),
                      errhint("Raise max_worker_processes, or resume jobs by hand: SELECT zdm.backfill_resume(id).")));
}
}  // namespace

void register_launcher() {
  BackgroundWorker w;
  memset(&w, 0, sizeof w);
  w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  w.bgw_start_time = BgWorkerStart_RecoveryFinished;
  w.bgw_restart_time = 10;
  snprintf(w.bgw_library_name, BGW_MAXLEN, "zdm");
  snprintf(w.bgw_function_name, BGW_MAXLEN, "zdm_backfill_launcher_main");
  snprintf(w.bgw_name, BGW_MAXLEN, "zdm backfill launcher");
  snprintf(w.bgw_type, BGW_MAXLEN, "zdm backfill launcher");
  RegisterBackgroundWorker(&w);
}
}  // namespace zdm::backfill

// Plain C-style code: no C++ object lives across the PostgreSQL calls here.
void zdm_backfill_launcher_main(Datum) {
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
  // The database list, read as autovacuum.c's get_database_list() does.
  Oid dbs[1024];
  int ndb = 0;
  StartTransactionCommand();
  Relation rel = table_open(DatabaseRelationId, AccessShareLock);
  TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
  HeapTuple tup;
  while ((tup = heap_getnext(scan, ForwardScanDirection)) != nullptr && ndb < 1024) {
    Form_pg_database db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
    if (db->datallowconn && !db->datistemplate) dbs[ndb++] = db->oid;
  }
  table_endscan(scan);
  table_close(rel, AccessShareLock);
  CommitTransactionCommand();
  for (int i = 0; i < ndb; ++i) zdm::backfill::register_resumer(dbs[i]);
  while (!ShutdownRequestPending) {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    // Absorbs ProcSignalBarriers: DROP TABLESPACE and DROP DATABASE wait until every process with a
    // ProcSignal slot has (procsignal.c WaitForProcSignalBarrier), so an idle loop without this
    // makes them hang for ever.
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
  }
  proc_exit(0);
}

void zdm_backfill_resumer_main(Datum arg) {
  Oid dboid = DatumGetObjectId(arg);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  PushActiveSnapshot(GetTransactionSnapshot());
  pg::guarded([&] {
    pg::call([] { SPI_connect(); });
    auto installed = scalar("SELECT to_regclass('zdm.backfill_jobs')::text", {});
    if (installed) {
      // Jobs whose process died with the server: no live process can hold their table's lock yet.
      auto rows = query("SELECT id::text, owner::text FROM zdm.backfill_jobs "
                        "WHERE state IN ('running', 'waiting for replica') ORDER BY id", {});
      for (const auto& r : rows) {
        int64 id = std::stoll(*r[0]);
        Oid owner = static_cast<Oid>(std::stoul(*r[1]));
        launch_worker(id, owner);
        ereport(LOG, (errmsg("zdm: resuming backfill job %lld after a restart", static_cast<long long>(id))));
      }
    }
    pg::call([] { SPI_finish(); });
  });
  PopActiveSnapshot();
  CommitTransactionCommand();
  proc_exit(0);
}
