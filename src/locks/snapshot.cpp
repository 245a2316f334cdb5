// One consistent reading of who waits for which lock, who holds it and who is queued ahead: the
// lock manager's shared tables walked once, with every partition lock held, the way lock.c:
// GetBlockerStatusData does it for a single pid (pg_blocking_pids). Reading them once for all waiters
// keeps a report O(waiters x queue length) instead of one pg_blocking_pids() scan per waiter.
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "locks/snapshot.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_authid_d.h"
#include "common/ip.h"
#include "executor/spi.h"
#include "libpq/pqcomm.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
}

namespace zdm::locks {

namespace {

int32_t leader_pid(const PGPROC* proc) {
  return proc->lockGroupLeader != nullptr ? proc->lockGroupLeader->pid : proc->pid;
}

const char* state_name(BackendState state) {
  // pgstatfuncs.c: pg_stat_get_activity
  switch (state) {
    case STATE_IDLE: return "idle";
    case STATE_RUNNING: return "active";
    case STATE_IDLEINTRANSACTION: return "idle in transaction";
    case STATE_FASTPATH: return "fastpath function call";
    case STATE_IDLEINTRANSACTION_ABORTED: return "idle in transaction (aborted)";
    case STATE_DISABLED: return "disabled";
    case STATE_UNDEFINED: return "";
  }
  return "";
}

std::string copy_text(char* palloced) {
  if (palloced == nullptr) return {};
  std::string s(palloced);
  pfree(palloced);
  return s;
}

// What one walk of the shared lock table copies out, before any C++ string is built.
struct RawWait {
  int32_t pid, leader;
  LOCK* lock;
  int mode;
  TimestampTz wait_start;
};

}  // namespace

const ConflictTable& server_conflicts() {
  static ConflictTable table = [] {
    ConflictTable t;
    for (int a = 1; a <= MaxLockMode; ++a)
      for (int b = 1; b <= MaxLockMode; ++b)
        if (DoLockModesConflict(a, b)) t.mask[a] |= 1u << b;
    return t;
  }();
  return table;
}

bool may_see(Oid role) {
  return pg::call([&] {
    return has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS) || has_privs_of_role(GetUserId(), role);
  });
}

Reading read() {
  Reading r;
  read_activity(r);

  std::vector<RawWait> raw;
  std::map<LOCK*, size_t> lock_index;
  raw.reserve(64);
  // lock.c: GetBlockerStatusData. ProcArrayLock keeps the PGPROCs from being recycled under us; all
  // partition locks (taken in order) give one instantaneous state of every lock and queue, and make
  // the lock group fields safe to read. Nothing below may ereport: no catalog access, no palloc.
  LWLockAcquire(ProcArrayLock, LW_SHARED);
  for (int i = 0; i < NUM_LOCK_PARTITIONS; i++) LWLockAcquire(LockHashPartitionLockByIndex(i), LW_SHARED);
  for (uint32 i = 0; i < ProcGlobal->allProcCount; i++) {
    PGPROC* proc = GetPGProcByNumber(i);
    LOCK* lock = proc->waitLock;
    if (proc->pid == 0 || lock == nullptr) continue;
    raw.push_back({proc->pid, leader_pid(proc), lock, static_cast<int>(proc->waitLockMode),
                   static_cast<TimestampTz>(pg_atomic_read_u64(&proc->waitStart))});
    auto [it, inserted] = lock_index.emplace(lock, r.snapshot.locks.size());
    if (!inserted) continue;
    Lock copy;
    SHM_QUEUE* holders = &lock->procLocks;
    auto* pl = reinterpret_cast<PROCLOCK*>(SHMQueueNext(holders, holders, offsetof(PROCLOCK, lockLink)));
    while (pl != nullptr) {
      PGPROC* holder = pl->tag.myProc;
      Holder h;
      h.pid = holder->pid;
      h.leader = pl->groupLeader != nullptr ? pl->groupLeader->pid : holder->pid;
      // A prepared transaction's dummy PGPROC has pid 0 and its xid (twophase.c: MarkAsPreparingGuts).
      h.xid = holder->pid == 0 ? static_cast<uint32_t>(holder->xid) : 0;
      h.hold_mask = static_cast<uint32_t>(pl->holdMask);
      copy.holders.push_back(h);
      pl = reinterpret_cast<PROCLOCK*>(SHMQueueNext(holders, &pl->lockLink, offsetof(PROCLOCK, lockLink)));
    }
    PROC_QUEUE* queue = &lock->waitProcs;
    auto* q = reinterpret_cast<PGPROC*>(queue->links.next);
    for (int k = 0; k < queue->size; k++) {
      copy.queue.push_back({q->pid, leader_pid(q), static_cast<int>(q->waitLockMode)});
      q = reinterpret_cast<PGPROC*>(q->links.next);
    }
    r.snapshot.locks.push_back(std::move(copy));
    r.tags.push_back(lock->tag);
  }
  for (int i = NUM_LOCK_PARTITIONS; --i >= 0;) LWLockRelease(LockHashPartitionLockByIndex(i));
  LWLockRelease(ProcArrayLock);

  for (const RawWait& w : raw) {
    r.snapshot.waits.push_back({w.pid, w.leader, lock_index[w.lock], w.mode});
    r.wait_start.push_back(w.wait_start);
  }
  bool any_prepared = false;
  for (const Lock& l : r.snapshot.locks)
    for (const Holder& h : l.holders) any_prepared |= h.pid == 0;
  if (any_prepared) read_prepared(r);
  return r;
}

void read_activity(Reading& r) {
  r.now = GetCurrentTimestamp();
  // pgstat_read_current_status copies every backend's status and keeps the copy until the transaction
  // ends. Drop the old copy first so that activity is as fresh as the lock data read with it (a later
  // pg_stat_activity query in the same transaction sees this new copy).
  pg::call([] { pgstat_clear_backend_activity_snapshot(); });
  int n = pg::call([] { return pgstat_fetch_stat_numbackends(); });
  struct RoleSeen {
    bool visible = false;
    std::string name;
  };
  std::map<Oid, RoleSeen> roles;
  for (int i = 1; i <= n; i++) {
    LocalPgBackendStatus* local = pg::call([&] { return pgstat_fetch_stat_local_beentry(i); });
    if (local == nullptr) continue;
    PgBackendStatus* be = &local->backendStatus;
    if (be->st_procpid == 0) continue;
    Activity a;
    a.pid = be->st_procpid;
    a.userid = be->st_userid;
    a.dbid = be->st_databaseid;
    // Few roles, many sessions: look each role up once.
    auto role = roles.find(be->st_userid);
    if (role == roles.end()) {
      RoleSeen seen;
      seen.visible = may_see(be->st_userid);
      if (OidIsValid(be->st_userid)) {
        const char* name = pg::call([&] { return GetUserNameFromId(be->st_userid, true); });
        if (name != nullptr) seen.name = name;
      }
      role = roles.emplace(be->st_userid, std::move(seen)).first;
    }
    a.visible = role->second.visible;
    a.user = role->second.name;
    if (be->st_appname != nullptr) a.application = be->st_appname;
    if (a.visible) {
      a.state = state_name(be->st_state);
      a.query = copy_text(pg::call([&] { return pgstat_clip_activity(be->st_activity_raw); }));
      a.xact_start = be->st_xact_start_timestamp;
      a.state_start = be->st_state_start_timestamp;
      // pgstatfuncs.c: client_addr / client_port; a Unix socket shows as "local".
      const SockAddr& addr = be->st_clientaddr;
      if (addr.addr.ss_family == AF_INET || addr.addr.ss_family == AF_INET6) {
        char host[NI_MAXHOST] = {0}, port[NI_MAXSERV] = {0};
        int ret = pg_getnameinfo_all(&addr.addr, addr.salen, host, sizeof(host), port, sizeof(port),
                                     NI_NUMERICHOST | NI_NUMERICSERV);
        if (ret == 0) {
          clean_ipv6_addr(addr.addr.ss_family, host);
          a.has_client = true;
          a.client = std::string(host) + ":" + port;
        }
      } else if (addr.addr.ss_family == AF_UNIX) {
        a.has_client = true;
        a.client = "local";
      }
    }
    Session s;
    s.known = true;
    s.visible = a.visible;
    s.state = a.state;
    s.xact_start = a.xact_start;
    r.sessions[a.pid] = s;
    r.activity[a.pid] = std::move(a);
  }
}

void read_prepared(Reading& r) {
  // pg_prepared_xacts is readable by everyone; the gid is what COMMIT / ROLLBACK PREPARED need.
  pg::call([] { SPI_connect(); });
  int rc = pg::call([] {
    return SPI_execute("SELECT transaction, gid, prepared, database FROM pg_catalog.pg_prepared_xacts", true, 0);
  });
  if (rc == SPI_OK_SELECT) {
    for (uint64 i = 0; i < SPI_processed; i++) {
      HeapTuple tuple = SPI_tuptable->vals[i];
      TupleDesc desc = SPI_tuptable->tupdesc;
      bool isnull;
      Datum xid = pg::call([&] { return SPI_getbinval(tuple, desc, 1, &isnull); });
      if (isnull) continue;
      Session s;
      s.known = true;
      s.visible = true;
      s.state = "prepared";
      s.gid = copy_text(pg::call([&] { return SPI_getvalue(tuple, desc, 2); }));
      Datum prepared = pg::call([&] { return SPI_getbinval(tuple, desc, 3, &isnull); });
      if (!isnull) s.xact_start = DatumGetTimestampTz(prepared);
      s.database = copy_text(pg::call([&] { return SPI_getvalue(tuple, desc, 4); }));
      r.sessions[prepared_key(DatumGetTransactionId(xid))] = s;
    }
  }
  pg::call([] { SPI_finish(); });
}

std::string relation_name(Oid dbid, Oid relid) {
  if (dbid == MyDatabaseId) {
    char* rel = pg::call([&] { return get_rel_name(relid); });
    if (rel != nullptr) {
      Oid nsp = pg::call([&] { return get_rel_namespace(relid); });
      char* nspname = pg::call([&] { return get_namespace_name(nsp); });
      const char* q = pg::call([&] { return quote_qualified_identifier(nspname, rel); });
      return q;
    }
  }
  return "relation " + std::to_string(relid) + " of database " + std::to_string(dbid);
}

const char* locktype_name(const LOCKTAG& tag) {
  if (tag.locktag_type <= LOCKTAG_LAST_TYPE) return LockTagTypeNames[tag.locktag_type];
  return "unknown";
}

std::string describe(const LOCKTAG& tag) {
  switch (static_cast<LockTagType>(tag.locktag_type)) {
    case LOCKTAG_RELATION:
      return relation_name(tag.locktag_field1, tag.locktag_field2);
    case LOCKTAG_RELATION_EXTEND:
      return "extension of " + relation_name(tag.locktag_field1, tag.locktag_field2);
    case LOCKTAG_DATABASE_FROZEN_IDS:
      return "frozen ids of database " + std::to_string(tag.locktag_field1);
    case LOCKTAG_PAGE:
      return relation_name(tag.locktag_field1, tag.locktag_field2) + " (page " +
             std::to_string(tag.locktag_field3) + ")";
    case LOCKTAG_TUPLE:
      return relation_name(tag.locktag_field1, tag.locktag_field2) + " (page " +
             std::to_string(tag.locktag_field3) + ", tuple " + std::to_string(tag.locktag_field4) + ")";
    case LOCKTAG_TRANSACTION:
      return "transaction " + std::to_string(tag.locktag_field1);
    case LOCKTAG_VIRTUALTRANSACTION:
      return "virtual transaction " + std::to_string(tag.locktag_field1) + "/" + std::to_string(tag.locktag_field2);
    case LOCKTAG_SPECULATIVE_TOKEN:
      return "speculative insertion of transaction " + std::to_string(tag.locktag_field1);
    case LOCKTAG_OBJECT: {
      if (tag.locktag_field1 == MyDatabaseId || tag.locktag_field1 == InvalidOid) {
        ObjectAddress address{tag.locktag_field2, tag.locktag_field3, static_cast<int32>(tag.locktag_field4)};
        char* d = pg::call([&] { return getObjectDescription(&address, true); });
        if (d != nullptr) return copy_text(d);
      }
      return "object " + std::to_string(tag.locktag_field2) + "/" + std::to_string(tag.locktag_field3) + "/" +
             std::to_string(tag.locktag_field4);
    }
    case LOCKTAG_USERLOCK:
      return "user lock";
    case LOCKTAG_ADVISORY:
      // lockfuncs.c: field4 = 1 for one bigint key (high and low halves), 2 for two int4 keys.
      if (tag.locktag_field4 == 1) {
        int64 key = (static_cast<int64>(tag.locktag_field2) << 32) | tag.locktag_field3;
        return "advisory lock " + std::to_string(key);
      }
      return "advisory lock (" + std::to_string(static_cast<int32>(tag.locktag_field2)) + ", " +
             std::to_string(static_cast<int32>(tag.locktag_field3)) + ")";
  }
  return "unknown lock";
}

}  // namespace zdm::locks
