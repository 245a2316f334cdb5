// Internal to the locks room: one consistent reading of the lock manager and of backend activity,
// turned into the pure graph's input (locks/pure/graph.hpp) plus what the SQL functions print.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "locks/pure/graph.hpp"
#include "pg/postgres.hpp"

extern "C" {
#include "storage/lock.h"
}

namespace zdm::locks {

// What pg_stat_activity shows about one backend, with its rules for what the caller may see.
struct Activity {
  int32_t pid = 0;
  Oid userid = InvalidOid;
  Oid dbid = InvalidOid;
  bool visible = false;  // HAS_PGSTAT_PERMISSIONS (pgstatfuncs.c)
  std::string user, application;
  bool has_client = false;
  std::string client;
  std::string state, query;
  TimestampTz xact_start = 0, state_start = 0;
};

struct Reading {
  Snapshot snapshot;
  std::vector<LOCKTAG> tags;             // per Snapshot::locks entry
  std::vector<TimestampTz> wait_start;   // per Snapshot::waits entry, 0 when not known yet
  std::map<int32_t, Activity> activity;  // by pid
  Sessions sessions;                     // by graph key, for the graph's tie-breaks and advice
  TimestampTz now = 0;
  // Descriptions of (lock, mode) already made in this call (functions.cpp: lock_object).
  mutable std::map<std::pair<size_t, int>, std::string> object_text;
};

// The server's own conflict table (lock.c: DoLockModesConflict).
const ConflictTable& server_conflicts();

// Reads every lock wait with its lock's holders and wait queue, under ProcArrayLock and all lock
// partition locks at once, as GetBlockerStatusData does for one pid (lock.c); then activity
// (pgstat) and prepared transactions (pg_prepared_xacts). May throw pg::PgError.
Reading read();

// Activity and prepared transactions only (for lock_preview, which reads GetLockStatusData itself).
void read_activity(Reading& reading);
void read_prepared(Reading& reading);

// "public.t", "public.t (page 0, tuple 3)", "transaction 745", "advisory lock 42", ...
std::string describe(const LOCKTAG& tag);
const char* locktype_name(const LOCKTAG& tag);  // as pg_locks.locktype
std::string relation_name(Oid dbid, Oid relid);

// Whether the caller may see another role's activity (pgstatfuncs.c: HAS_PGSTAT_PERMISSIONS).
bool may_see(Oid role);

}  // namespace zdm::locks
