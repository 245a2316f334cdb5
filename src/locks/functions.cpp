// The SQL-callable functions of the locks room: zdm.lock_report(), zdm.lock_tree(), zdm.lock_preview().
// Each reads one snapshot (snapshot.cpp), builds the pure graph (pure/graph.cpp) and prints it.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "guard/guard.hpp"
#include "locks/pure/graph.hpp"
#include "locks/snapshot.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

namespace zdm::locks {
namespace {

Datum text_datum(const std::string& s) {
  return pg::call([&] { return PointerGetDatum(cstring_to_text_with_len(s.data(), static_cast<int>(s.size()))); });
}

Datum int_array(const std::vector<Key>& keys) {
  std::vector<Datum> elems;
  for (Key k : keys) elems.push_back(Int32GetDatum(display_pid(k)));
  Datum* data = elems.data();
  int n = static_cast<int>(elems.size());
  return pg::call([&] { return PointerGetDatum(construct_array_builtin(data, n, INT4OID)); });
}

Datum age(TimestampTz now, TimestampTz then) {
  return pg::call([&] { return DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(now), TimestampTzGetDatum(then)); });
}

// "00:05:12" (or "2 days 03:00:00") for the tree.
std::string age_text(TimestampTz now, TimestampTz then) {
  int64 secs = (now - then) / USECS_PER_SEC;
  if (secs < 0) secs = 0;
  char buf[64];
  int64 days = secs / 86400;
  secs %= 86400;
  if (days > 0)
    snprintf(buf, sizeof(buf), "%lld day%s %02lld:%02lld:%02lld", static_cast<long long>(days), days == 1 ? "" : "s",
             static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
             static_cast<long long>(secs % 60));
  else
    snprintf(buf, sizeof(buf), "%02lld:%02lld:%02lld", static_cast<long long>(secs / 3600),
             static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  return buf;
}

std::string one_line(const std::string& s, size_t max) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  if (out.size() > max) out = out.substr(0, max - 3) + "...";
  return out;
}

// The lock_timeout zdm suggests: the caller's zdm.lock_timeout, the bound lock-safe DDL puts on one
// lock wait (README.md, "Lock-safe DDL"); when lock-safe DDL is off (0), that setting's default.
std::string suggested_lock_timeout() {
  // As SHOW prints it ("1s", "250ms"): GetConfigOptionByName adds the unit.
  const char* value = pg::call([] { return GetConfigOptionByName("zdm.lock_timeout", nullptr, true); });
  if (value == nullptr || std::string(value) == "0") return "1s";
  return value;
}

// The tuplestore of a set-returning function (InitMaterializedSRF, as pg_stat_statements does).
struct Output {
  Tuplestorestate* store;
  TupleDesc desc;
};
Output begin_srf(FunctionCallInfo fcinfo, bits32 flags = 0) {
  pg::call([&] { InitMaterializedSRF(fcinfo, flags); });
  auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  return {rsinfo->setResult, rsinfo->setDesc};
}
void put(const Output& out, std::vector<Datum>& values, const std::vector<bool>& nulls) {
  std::unique_ptr<bool[]> plain(new bool[nulls.size()]);  // std::vector<bool> has no bool* to hand over
  for (size_t i = 0; i < nulls.size(); ++i) plain[i] = nulls[i];
  Datum* v = values.data();
  bool* n = plain.get();
  pg::call([&] { tuplestore_putvalues(out.store, out.desc, v, n); });
}

// The object a waiter waits for, readably; a transaction lock names who holds it. Many waiters share
// one lock (a pile-up), so each (lock, mode) is described once per call.
std::string describe_lock_object(const Reading& r, size_t lock_index, int mode);
const std::string& lock_object(const Reading& r, size_t lock_index, int mode, const Graph&) {
  auto key = std::make_pair(lock_index, mode);
  auto it = r.object_text.find(key);
  if (it == r.object_text.end()) it = r.object_text.emplace(key, describe_lock_object(r, lock_index, mode)).first;
  return it->second;
}
std::string describe_lock_object(const Reading& r, size_t lock_index, int mode) {
  const LOCKTAG& tag = r.tags[lock_index];
  std::string text = describe(tag);
  if (tag.locktag_type == LOCKTAG_TRANSACTION || tag.locktag_type == LOCKTAG_VIRTUALTRANSACTION) {
    std::vector<Key> holders;
    for (const Holder& h : r.snapshot.locks[lock_index].holders)
      if (h.hold_mask & server_conflicts().mask[mode]) holders.push_back(holder_key(h));
    std::string list;
    for (Key k : holders) {
      if (!list.empty()) list += ", ";
      if (is_prepared(k)) {
        auto it = r.sessions.find(k);
        list += "prepared transaction '" + (it != r.sessions.end() ? it->second.gid : std::string("?")) + "'";
      } else {
        list += "pid " + std::to_string(display_pid(k));
      }
    }
    if (!list.empty()) text += " held by " + list;
  }
  return text;
}

// The line of one node in zdm.lock_tree().
std::string tree_line(const Reading& r, const Graph& g, Key k, bool with_times) {
  std::string line;
  const Activity* a = nullptr;
  if (auto it = r.activity.find(display_pid(k)); k > 0 && it != r.activity.end()) a = &it->second;
  if (is_prepared(k)) {
    auto it = r.sessions.find(k);
    line = "prepared transaction '" + (it != r.sessions.end() ? it->second.gid : std::string("?")) + "'";
    if (with_times && it != r.sessions.end() && it->second.xact_start != 0)
      line += ", prepared " + age_text(r.now, it->second.xact_start) + " ago";
    return line;
  }
  line = "pid " + std::to_string(display_pid(k));
  if (a != nullptr && !a->user.empty()) line += " (" + a->user + ")";
  const Waiter* w = g.find(k);
  if (w != nullptr) {
    const Wait& wait = r.snapshot.waits[w->wait];
    line += " waits for " + mode_name(wait.mode) + " on " + lock_object(r, wait.lock, wait.mode, g);
    if (w->has_root && w->parent != 0) {
      bool hard = std::find(w->hard.begin(), w->hard.end(), w->parent) != w->hard.end();
      line += hard ? " (hard)" : " (soft)";
    }
    if (with_times && r.wait_start[w->wait] != 0) line += ", waiting " + age_text(r.now, r.wait_start[w->wait]);
  } else if (a != nullptr && a->visible) {
    line += " " + (a->state.empty() ? std::string("unknown state") : a->state);
    if (with_times && a->xact_start != 0) line += ", transaction " + age_text(r.now, a->xact_start);
  } else if (a == nullptr) {
    line += " (no session)";
  }
  if (a != nullptr) line += ": " + (a->visible ? one_line(a->query, 80) : std::string("<insufficient privilege>"));
  return line;
}

Reading read_graph(Graph& g) {
  Reading r = read();
  g = build(r.snapshot, server_conflicts(), r.sessions, suggested_lock_timeout());
  return r;
}

void lock_report(FunctionCallInfo fcinfo) {
  Output out = begin_srf(fcinfo);
  Graph g;
  Reading r = read_graph(g);
  constexpr int kColumns = 22;
  for (const Waiter& w : g.waiters) {
    std::vector<Datum> v(kColumns, 0);
    std::vector<bool> n(kColumns, true);
    auto set = [&](int i, Datum d) { v[i] = d; n[i] = false; };
    const Wait& wait = r.snapshot.waits[w.wait];
    const Activity* a = nullptr;
    if (auto it = r.activity.find(display_pid(w.key)); it != r.activity.end()) a = &it->second;
    set(0, Int32GetDatum(display_pid(w.key)));
    if (a != nullptr && !a->user.empty()) set(1, text_datum(a->user));
    if (a != nullptr) set(2, text_datum(a->application));
    if (a != nullptr && a->visible && a->has_client) set(3, text_datum(a->client));
    if (r.wait_start[w.wait] != 0) {
      set(4, TimestampTzGetDatum(r.wait_start[w.wait]));
      set(5, age(r.now, r.wait_start[w.wait]));
    }
    set(6, text_datum(mode_name(wait.mode)));
    set(7, text_datum(locktype_name(r.tags[wait.lock])));
    set(8, text_datum(lock_object(r, wait.lock, wait.mode, g)));
    if (a != nullptr && a->visible) set(9, text_datum(a->query));
    set(10, int_array(w.hard));
    set(11, int_array(w.soft));
    if (w.has_root) {
      set(12, Int32GetDatum(display_pid(w.root)));
      set(14, Int32GetDatum(w.depth));
      auto it = r.sessions.find(w.root);
      if (is_prepared(w.root)) {
        set(15, text_datum("prepared"));
        if (it != r.sessions.end()) {
          set(13, text_datum(it->second.gid));
          if (it->second.xact_start != 0) set(16, age(r.now, it->second.xact_start));
        }
      } else if (auto ra = r.activity.find(display_pid(w.root)); ra != r.activity.end() && ra->second.visible) {
        const Activity& root = ra->second;
        if (!root.state.empty()) set(15, text_datum(root.state));
        if (root.xact_start != 0) set(16, age(r.now, root.xact_start));
        if (root.state_start != 0) set(17, age(r.now, root.state_start));
        set(18, text_datum(root.query));
      }
    }
    set(19, Int32GetDatum(w.behind));
    if (!w.cycle.empty()) set(20, int_array(w.cycle));
    set(21, text_datum(w.action));
    put(out, v, n);
  }
}

void lock_tree(FunctionCallInfo fcinfo, bool with_times) {
  Output out = begin_srf(fcinfo, MAT_SRF_USE_EXPECTED_DESC);  // SETOF text: no row type to look up
  Graph g;
  Reading r = read_graph(g);
  std::vector<std::string> lines = tree(g, [&](Key k) { return tree_line(r, g, k, with_times); });
  for (const std::string& line : lines) {
    std::vector<Datum> v{text_datum(line)};
    std::vector<bool> n{false};
    put(out, v, n);
  }
}

// The relations and lock modes a statement would need, from the guard's analysis (guard::analyze),
// which reads the catalog without taking a lock that could wait.
struct Target {
  Oid relid;
  std::string name;
  int mode;
  // No other session can see it (created in this transaction, or temporary): nobody can hold it.
  std::string private_reason;
  // With its lock taken, the statement waits for the transactions holding a mode conflicting with
  // this one (0: none). indexcmds.c: CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY wait in
  // WaitForLockers for every writer of the table (SHARE).
  int lockers_mode = 0;
};

std::string quoted_name(const std::string& name) {
  return name.rfind('"', 0) == 0 ? name : "\"" + name + "\"";
}

std::vector<Target> targets_of(const std::string& sql) {
  const char* text = sql.c_str();
  List* stmts = pg::call([&] { return raw_parser(text, RAW_PARSE_DEFAULT); });
  if (list_length(stmts) != 1)
    throw UserError(sqlstate::kInvalidParameterValue, "zdm.lock_preview takes exactly one statement",
                    list_length(stmts) == 0 ? std::string("The text holds no statement.")
                                            : "The text holds " + std::to_string(list_length(stmts)) + " statements.",
                    "Preview the statements one at a time, e.g. SELECT * FROM zdm.lock_preview('ALTER TABLE t ADD "
                    "COLUMN c int'); zdm.lint and zdm.analyze take a whole migration.");
  Node* stmt = linitial_node(RawStmt, stmts)->stmt;
  if (!guard::analyzes(stmt)) {
    const char* tag = pg::call([&] { return GetCommandTagName(CreateCommandTag(stmt)); });
    throw UserError(sqlstate::kFeatureNotSupported, "zdm.lock_preview cannot tell which table locks this statement needs",
                    std::string("The statement is ") + tag + ".",
                    "zdm.lock_preview knows the statements the guard analyses: ALTER TABLE, CREATE INDEX, LOCK "
                    "TABLE, CREATE TABLE, CREATE TRIGGER, DROP, TRUNCATE, ... (README.md, \"The guard on statements other than ALTER TABLE\").");
  }
  guard::AnalysisContext context;
  context.in_transaction_block = pg::call([] { return IsTransactionBlock(); });
  context.take_no_lock = true;  // the preview takes no lock at all, not even a brief ACCESS SHARE
  Statement st = guard::analyze(stmt, sql, context);
  std::vector<Target> targets;
  for (const Action& a : st.actions) {
    if (a.lock == LockMode::None) continue;
    if (!a.rel.exists) {
      // A relation the statement itself creates cannot be held by anyone.
      if (a.op == Op::CreateTable || a.op == Op::CreateIndex) continue;
      throw UserError(sqlstate::kUndefinedTable, "relation " + quoted_name(a.rel.name) + " does not exist", "",
                      "Check the name and the search_path.");
    }
    const char* qualified = a.rel.qualified.empty() ? a.rel.name.c_str() : a.rel.qualified.c_str();
    Oid relid = pg::call([&] {
      return RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(qualified)), NoLock, true);
    });
    if (!OidIsValid(relid)) continue;
    std::string reason = a.rel.created_in_transaction ? "created in this transaction"
                         : a.rel.temporary            ? "a temporary table"
                                                      : "";
    const bool waits_for_writers =
        a.concurrently && (a.op == Op::CreateIndex || a.op == Op::Reindex) && a.recursed_from.empty();
    const int lockers_mode = waits_for_writers ? ShareLock : 0;
    auto it = std::find_if(targets.begin(), targets.end(), [&](const Target& t) { return t.relid == relid; });
    if (it != targets.end()) {
      it->mode = std::max(it->mode, static_cast<int>(a.lock));
      it->lockers_mode = std::max(it->lockers_mode, lockers_mode);
      continue;
    }
    targets.push_back({relid, relation_name(MyDatabaseId, relid), static_cast<int>(a.lock), reason, lockers_mode});
  }
  // A statement the guard knows that locks no existing relation (a plain CREATE TABLE): no rows,
  // nothing can block it.
  return targets;
}

void lock_preview(FunctionCallInfo fcinfo, const std::string& sql) {
  Output out = begin_srf(fcinfo);
  std::vector<Target> targets = targets_of(sql);

  // One reading of the lock table, fast-path locks included (a reader's ACCESS SHARE usually is one).
  LockData* data = pg::call([] { return GetLockStatusData(); });
  Reading r;
  read_activity(r);
  bool any_prepared = false;
  int32_t me = MyProc->lockGroupLeader ? MyProc->lockGroupLeader->pid : MyProcPid;
  struct Entry {
    bool waiting;
    int mode;          // the awaited mode, or the strongest held one
    uint32_t mask;
  };
  // A prepared transaction's entries have pid 0 and no xid; the transaction id lock it holds on its own
  // xid, under the same virtual transaction, names it (pg_locks shows the same pairing).
  // It also holds its subtransactions' xids: the one pg_prepared_xacts lists is the top-level one.
  std::map<std::pair<int, uint32_t>, uint32_t> prepared_xid;
  for (int i = 0; i < data->nelements; i++) any_prepared |= data->locks[i].pid == 0;
  if (any_prepared) read_prepared(r);
  for (int i = 0; i < data->nelements; i++) {
    const LockInstanceData& in = data->locks[i];
    if (in.pid == 0 && in.locktag.locktag_type == LOCKTAG_TRANSACTION && in.holdMask != 0) {
      uint32_t xid = in.locktag.locktag_field1;
      auto key = std::make_pair(static_cast<int>(in.backend), static_cast<uint32_t>(in.lxid));
      if (r.sessions.count(prepared_key(xid)) || !prepared_xid.count(key)) prepared_xid[key] = xid;
    }
  }
  // A fast-path lock is reported under the pid that holds it, without its lock group (lock.c:
  // GetLockStatusData sets leaderPid = pid): a parallel worker's ACCESS SHARE would show as the worker.
  // Fold such entries into their leader, reading lockGroupLeader as pg_stat_activity's leader_pid does
  // (pgstatfuncs.c, under ProcArrayLock only).
  std::vector<int32_t> fast_pids;
  for (int i = 0; i < data->nelements; i++)
    if (data->locks[i].fastpath && data->locks[i].pid != 0) fast_pids.push_back(data->locks[i].pid);
  std::vector<int32_t> fast_leaders(fast_pids.size());
  {
    const int32_t* in = fast_pids.data();
    int32_t* out = fast_leaders.data();
    size_t n = fast_pids.size();
    pg::call([&] {
      LWLockAcquire(ProcArrayLock, LW_SHARED);
      for (size_t i = 0; i < n; i++) {
        PGPROC* proc = BackendPidGetProcWithLock(in[i]);
        PGPROC* leader = proc != nullptr ? proc->lockGroupLeader : nullptr;
        out[i] = leader != nullptr ? leader->pid : in[i];
      }
      LWLockRelease(ProcArrayLock);
    });
  }
  std::map<int32_t, int32_t> leader_of;
  for (size_t i = 0; i < fast_pids.size(); i++) leader_of[fast_pids[i]] = fast_leaders[i];
  auto leader_pid = [&](const LockInstanceData& in) -> int32_t {
    if (!in.fastpath) return in.leaderPid;
    auto it = leader_of.find(in.pid);
    return it == leader_of.end() ? in.leaderPid : it->second;
  };

  const std::string lock_timeout = suggested_lock_timeout();
  for (const Target& t : targets) {
    std::vector<Holder> holders;
    std::vector<Queued> waiting;
    std::map<Key, std::vector<Entry>> entries;
    uint32_t own_mask = 0;
    for (int i = 0; i < data->nelements; i++) {
      const LockInstanceData& in = data->locks[i];
      if (in.locktag.locktag_type != LOCKTAG_RELATION || in.locktag.locktag_field1 != MyDatabaseId ||
          in.locktag.locktag_field2 != t.relid)
        continue;
      const int32_t leader = leader_pid(in);
      if (leader == me) {
        own_mask |= static_cast<uint32_t>(in.holdMask);
        continue;
      }
      Holder h;
      h.pid = in.pid;
      h.leader = leader;
      if (in.pid == 0) {
        auto it = prepared_xid.find({in.backend, in.lxid});
        h.xid = it != prepared_xid.end() ? it->second : static_cast<uint32_t>(in.lxid);
      }
      h.hold_mask = static_cast<uint32_t>(in.holdMask);
      if (h.hold_mask != 0) {
        holders.push_back(h);
        int strongest = 0;
        for (int m = 1; m <= MaxLockMode; ++m)
          if (h.hold_mask & (1u << m)) strongest = m;
        entries[holder_key(h)].push_back({false, strongest, h.hold_mask});
      }
      if (in.waitLockMode != NoLock) {
        waiting.push_back({in.pid, leader, in.waitLockMode});
        entries[Key{leader}].push_back({true, in.waitLockMode, 0});
      }
    }
    Preview p = !t.private_reason.empty()
                    ? preview(t.mode, own_mask, {}, {}, server_conflicts())
                    : preview(t.mode, own_mask, holders, waiting, server_conflicts(), t.lockers_mode);

    std::string detail;
    for (Key k : p.blockers) {
      if (!detail.empty()) detail += "; ";
      // A locker is waited for after the statement has its lock, for a mode conflicting with
      // lockers_mode; the others for its lock itself.
      const bool locker = std::find(p.lockers.begin(), p.lockers.end(), k) != p.lockers.end();
      const int against = locker ? t.lockers_mode : t.mode;
      std::string what;
      for (const Entry& e : entries[k]) {
        // (a wait for a lock this session holds puts that waiter behind it: graph.cpp preview)
        bool conflicts = e.waiting ? !locker && server_conflicts().conflicts(t.mode, e.mode) &&
                                         !(server_conflicts().mask[e.mode] & own_mask)
                                   : (e.mask & server_conflicts().mask[against]) != 0;
        if (!conflicts) continue;
        if (!what.empty()) what += " and ";
        if (e.waiting) {
          what += "waits for " + mode_name(e.mode);
        } else {
          std::string modes;
          for (int m = 1; m <= MaxLockMode; ++m)
            if ((e.mask & (1u << m)) && server_conflicts().conflicts(against, m))
              modes += (modes.empty() ? "" : ", ") + mode_name(m);
          what += "holds " + modes;
        }
      }
      // "then waits for the transaction of pid 4711, which holds RowExclusiveLock (idle in transaction): ..."
      if (locker) {
        detail += "then waits for the transaction of ";
        what = ", which " + what;
      } else {
        what = " " + what;
      }
      if (is_prepared(k)) {
        auto it = r.sessions.find(k);
        detail += "prepared transaction '" + (it != r.sessions.end() ? it->second.gid : std::string("?")) + "'" + what;
      } else {
        detail += "pid " + std::to_string(display_pid(k)) + what;
        auto it = r.activity.find(display_pid(k));
        if (it != r.activity.end() && it->second.visible)
          detail += " (" + it->second.state + "): " + one_line(it->second.query, 80);
      }
    }
    std::vector<Datum> v(7, 0);
    std::vector<bool> n(7, true);
    auto set = [&](int i, Datum d) { v[i] = d; n[i] = false; };
    set(0, text_datum(t.name));
    set(1, text_datum(mode_name(t.mode)));
    set(2, text_datum(verdict_name(p.verdict)));
    set(3, int_array(p.blockers));
    if (!t.private_reason.empty()) detail = t.private_reason + ": no other session can see it";
    else if (p.already_held) detail = "this session holds " + mode_name(t.mode) + " on it already";
    if (!detail.empty()) set(4, text_datum(detail));
    std::vector<std::string> modes;
    for (int m = 1; m <= MaxLockMode; ++m)
      if (p.queue_mask & (1u << m)) modes.push_back(mode_name(m));
    {
      std::vector<Datum> elems;
      for (const auto& m : modes) elems.push_back(text_datum(m));
      Datum* d = elems.data();
      int count = static_cast<int>(elems.size());
      set(5, pg::call([&] { return PointerGetDatum(construct_array_builtin(d, count, TEXTOID)); }));
    }
    set(6, text_datum(lock_timeout));
    put(out, v, n);
  }
}

}  // namespace
}  // namespace zdm::locks

extern "C" {
PG_FUNCTION_INFO_V1(zdm_lock_report);
PG_FUNCTION_INFO_V1(zdm_lock_tree);
PG_FUNCTION_INFO_V1(zdm_lock_preview);
Datum zdm_lock_report(PG_FUNCTION_ARGS);
Datum zdm_lock_tree(PG_FUNCTION_ARGS);
Datum zdm_lock_preview(PG_FUNCTION_ARGS);
}

Datum zdm_lock_report(PG_FUNCTION_ARGS) {
  zdm::pg::guarded([&] { zdm::locks::lock_report(fcinfo); });
  return (Datum)0;
}

Datum zdm_lock_tree(PG_FUNCTION_ARGS) {
  bool with_times = PG_ARGISNULL(0) ? true : PG_GETARG_BOOL(0);
  zdm::pg::guarded([&] { zdm::locks::lock_tree(fcinfo, with_times); });
  return (Datum)0;
}

Datum zdm_lock_preview(PG_FUNCTION_ARGS) {
  if (PG_ARGISNULL(0))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("zdm.lock_preview needs a statement")));
  char* sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
  zdm::pg::guarded([&] { zdm::locks::lock_preview(fcinfo, sql); });
  return (Datum)0;
}
