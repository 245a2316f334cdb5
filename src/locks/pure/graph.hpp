// The lock graph: who waits for whom, the root of each chain, cycles, and what to do about it.
// Pure C++ (no PostgreSQL headers): src/locks/snapshot.cpp copies one consistent snapshot of the lock
// manager's shared tables into the plain structs below; everything here is unit-tested without a
// server (test/unit/locks_graph_test.cpp).
#pragma once
#include "common/cpp_only.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace zdm::locks {

// A node of the graph: a session (its lock group leader's pid, > 0) or a prepared transaction, which
// holds its locks with pid 0 in pg_locks and is told apart by its xid (key = -xid).
using Key = int64_t;
inline Key prepared_key(uint32_t xid) { return -static_cast<Key>(xid); }
inline bool is_prepared(Key k) { return k < 0; }
// The pid as pg_blocking_pids reports it: 0 for a prepared transaction.
inline int32_t display_pid(Key k) { return k > 0 ? static_cast<int32_t>(k) : 0; }

// Which lock modes conflict: bit b of mask[m] is set when mode m conflicts with mode b. The
// PostgreSQL side fills it from the server's own table (lock.c: DoLockModesConflict).
struct ConflictTable {
  std::array<uint32_t, 16> mask{};
  bool conflicts(int a, int b) const { return (mask[a] >> b) & 1u; }
  // A copy of lock.c's LockConflicts, for tests.
  static ConflictTable postgres_default();
};

// One process holding some modes of a lock (a PROCLOCK). pid 0 = a prepared transaction (xid set).
struct Holder {
  int32_t pid = 0;
  int32_t leader = 0;  // lock group leader's pid (the pid itself when not in a parallel group)
  uint32_t xid = 0;    // prepared transactions only
  uint32_t hold_mask = 0;
};
// One process in a lock's wait queue, in queue order.
struct Queued {
  int32_t pid = 0;
  int32_t leader = 0;
  int mode = 0;
};
// One lock object (a LOCK) that somebody waits for.
struct Lock {
  std::vector<Holder> holders;
  std::vector<Queued> queue;
};
// One waiting process.
struct Wait {
  int32_t pid = 0;
  int32_t leader = 0;
  size_t lock = 0;  // index into Snapshot::locks
  int mode = 0;
};
struct Snapshot {
  std::vector<Lock> locks;
  std::vector<Wait> waits;
};

inline Key holder_key(const Holder& h) { return h.pid == 0 ? prepared_key(h.xid) : Key{h.leader}; }

// What pg_stat_activity says about a node (or, for a prepared transaction, pg_prepared_xacts).
struct Session {
  bool known = false;    // false: no activity entry (e.g. it just exited)
  bool visible = true;   // the caller may see its state and query (pg_stat_activity's rules)
  std::string state;     // "active", "idle in transaction", ...; "" when unknown or hidden
  std::string gid;       // prepared transactions
  std::string database;  // prepared transactions: where COMMIT PREPARED must run
  int64_t xact_start = 0;  // microseconds since any epoch, 0 when unknown
};
using Sessions = std::map<Key, Session>;

// One waiting session (parallel workers folded into their leader).
struct Waiter {
  Key key = 0;
  size_t wait = 0;              // index into Snapshot::waits of the wait shown for this session
  std::vector<Key> hard;        // hold a conflicting lock
  std::vector<Key> soft;        // ahead in the queue, wanting a conflicting lock
  bool has_root = false;
  Key root = 0;                 // nearest session that waits for nothing (has_root only)
  int depth = 0;                // edges from this waiter to its root
  Key parent = 0;               // the next node on the way to the root (the tree's parent)
  std::vector<Key> cycle;       // the waiters of this one's deadlock cycle, sorted; empty if none
  int behind = 0;               // sessions waiting, directly or not, for this one
  int soft_behind = 0;          // sessions waiting directly and only softly for this one
  std::string action;           // suggested_action
};

struct Graph {
  std::vector<Waiter> waiters;      // ordered by pid (prepared transactions never wait)
  std::map<Key, size_t> index;      // waiter key -> index into waiters
  std::map<Key, int> behind;        // every node with someone behind it -> count of sessions behind
  std::vector<Key> roots;           // roots, most sessions behind first
  bool waits(Key k) const { return index.count(k) > 0; }
  const Waiter* find(Key k) const {
    auto it = index.find(k);
    return it == index.end() ? nullptr : &waiters[it->second];
  }
};

// Builds the graph. Direct blockers follow pg_blocking_pids (lockfuncs.c): a holder of a conflicting
// mode is a hard blocker; a process ahead in the wait queue wanting a conflicting mode is a soft one;
// members of the waiter's own lock group never block it. `sessions` is used for the root's tie-break
// (oldest transaction first) and the suggested actions. `lock_timeout` is the value the advice to
// retry a queued request names (the caller's zdm.lock_timeout, functions.cpp: suggested_lock_timeout).
Graph build(const Snapshot& snapshot, const ConflictTable& conflicts, const Sessions& sessions,
            const std::string& lock_timeout);

// The lock mode's name as pg_locks spells it, for any mode number.
std::string mode_name(int mode);

// The indented tree of zdm.lock_tree(): each root, then the sessions waiting for it, each with the
// number of sessions behind it. `describe` gives the text of one node (after the tree's own prefix).
std::vector<std::string> tree(const Graph& graph, const std::function<std::string(Key)>& describe);

// ---- lock_preview ----------------------------------------------------------------------------------

enum class Verdict { Clear, WouldWait, WouldBlockOthers };
const char* verdict_name(Verdict v);  // "clear", "would_wait", "would_block_others"

// Whether a request for `mode` on one lock object (a relation) would be granted now, and what would
// queue behind it while it waits. `holders` and `waiting` are the other sessions' entries, as
// GetLockStatusData reports them (fast-path locks included); `own_mask` is what the previewing session
// (its lock group) holds there already. `lockers_mode`, when not 0, is a mode whose conflicting holders
// the statement waits for after it has its own lock (indexcmds.c: CREATE INDEX / REINDEX CONCURRENTLY
// wait in WaitForLockers for every transaction that holds a lock conflicting with SHARE).
struct Preview {
  Verdict verdict = Verdict::Clear;
  bool already_held = false;   // the session holds this mode already: granted at once (lock.c)
  std::vector<Key> blockers;   // hold or wait for a conflicting mode: it would wait for them
  std::vector<Key> lockers;    // of `blockers`, those it waits for only after it has its lock
  uint32_t queue_mask = 0;     // modes that are granted at once now but would queue behind it
};
Preview preview(int mode, uint32_t own_mask, const std::vector<Holder>& holders,
                const std::vector<Queued>& waiting, const ConflictTable& conflicts, int lockers_mode = 0);

}  // namespace zdm::locks
