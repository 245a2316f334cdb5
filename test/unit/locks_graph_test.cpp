// The lock graph: direct blockers as pg_blocking_pids reports them, roots, depth, cycles, parallel
// workers folded into their leader, prepared transactions, suggested actions, the tree and previews.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "locks/pure/graph.hpp"

using namespace zdm::locks;

namespace {

constexpr int AccessShare = 1, RowExclusive = 3, ShareUpdateExclusive = 4, Share = 5, Exclusive = 7,
              AccessExclusive = 8;
uint32_t bit(int m) { return 1u << m; }

const ConflictTable kConflicts = ConflictTable::postgres_default();

// A small builder: locks by name, holders and queue in order.
struct Scene {
  Snapshot snap;
  Sessions sessions;
  size_t lock(std::vector<Holder> holders, std::vector<Queued> queue) {
    snap.locks.push_back({std::move(holders), queue});
    for (const Queued& q : queue) snap.waits.push_back({q.pid, q.leader, snap.locks.size() - 1, q.mode});
    return snap.locks.size() - 1;
  }
  void session(Key k, const std::string& state, int64_t xact_start = 0) {
    Session s;
    s.known = true;
    s.state = state;
    s.xact_start = xact_start;
    sessions[k] = s;
  }
  Graph build() const { return zdm::locks::build(snap, kConflicts, sessions, "750ms"); }
};

Holder holds(int32_t pid, std::initializer_list<int> modes, int32_t leader = 0) {
  Holder h;
  h.pid = pid;
  h.leader = leader ? leader : pid;
  for (int m : modes) h.hold_mask |= bit(m);
  return h;
}
Queued waits(int32_t pid, int mode, int32_t leader = 0) { return {pid, leader ? leader : pid, mode}; }

}  // namespace

TEST(ConflictTable, MatchesTheDocumentedTable) {
  EXPECT_TRUE(kConflicts.conflicts(AccessShare, AccessExclusive));
  EXPECT_FALSE(kConflicts.conflicts(AccessShare, Exclusive));
  EXPECT_TRUE(kConflicts.conflicts(ShareUpdateExclusive, ShareUpdateExclusive));
  EXPECT_FALSE(kConflicts.conflicts(Share, Share));
  EXPECT_TRUE(kConflicts.conflicts(RowExclusive, Share));
  for (int a = 1; a <= 8; ++a)
    for (int b = 1; b <= 8; ++b) EXPECT_EQ(kConflicts.conflicts(a, b), kConflicts.conflicts(b, a)) << a << "," << b;
}

TEST(LockGraph, SimpleBlockHasOneHardBlockerWhichIsTheRoot) {
  Scene s;
  s.lock({holds(10, {AccessExclusive}), holds(20, {})}, {waits(20, AccessShare)});
  s.session(10, "idle in transaction");
  Graph g = s.build();
  ASSERT_EQ(g.waiters.size(), 1u);
  const Waiter& w = g.waiters[0];
  EXPECT_EQ(w.key, 20);
  EXPECT_EQ(w.hard, std::vector<Key>{10});
  EXPECT_TRUE(w.soft.empty());
  EXPECT_TRUE(w.has_root);
  EXPECT_EQ(w.root, 10);
  EXPECT_EQ(w.depth, 1);
  EXPECT_EQ(g.behind.at(10), 1);
  EXPECT_EQ(g.roots, std::vector<Key>{10});
  EXPECT_NE(w.action.find("pg_terminate_backend(10)"), std::string::npos) << w.action;
}

TEST(LockGraph, DdlInTheQueueIsASoftBlockerOfTheReadersBehindIt) {
  // reader 10 holds ACCESS SHARE; ALTER (20) waits for ACCESS EXCLUSIVE; readers 30, 40 queue behind.
  Scene s;
  s.lock({holds(10, {AccessShare})},
         {waits(20, AccessExclusive), waits(30, AccessShare), waits(40, AccessShare)});
  s.session(10, "idle in transaction");
  s.session(20, "active");
  Graph g = s.build();
  ASSERT_EQ(g.waiters.size(), 3u);
  const Waiter& alter = *g.find(20);
  EXPECT_EQ(alter.hard, std::vector<Key>{10});
  EXPECT_EQ(alter.depth, 1);
  EXPECT_EQ(alter.soft_behind, 2);
  EXPECT_EQ(alter.behind, 2);
  for (Key reader : {30, 40}) {
    const Waiter& r = *g.find(reader);
    EXPECT_TRUE(r.hard.empty());  // ACCESS SHARE does not conflict with ACCESS SHARE
    EXPECT_EQ(r.soft, std::vector<Key>{20});
    EXPECT_EQ(r.root, 10);
    EXPECT_EQ(r.depth, 2);
    EXPECT_EQ(r.parent, 20);
    EXPECT_NE(r.action.find("pg_cancel_backend(20)"), std::string::npos) << r.action;
    // The retry advice names the lock_timeout it was given (the caller's zdm.lock_timeout).
    EXPECT_NE(r.action.find("SET lock_timeout = '750ms'"), std::string::npos) << r.action;
  }
  EXPECT_NE(alter.action.find("pg_cancel_backend(20)"), std::string::npos) << alter.action;
  EXPECT_EQ(g.behind.at(10), 3);
}

TEST(LockGraph, ChainOfThreeHasDepthsOneAndTwo) {
  Scene s;
  s.lock({holds(10, {AccessExclusive})}, {waits(20, AccessExclusive)});   // t1
  s.lock({holds(20, {AccessExclusive})}, {waits(30, AccessShare)});       // t2
  s.session(10, "active");
  Graph g = s.build();
  EXPECT_EQ(g.find(20)->depth, 1);
  EXPECT_EQ(g.find(30)->depth, 2);
  EXPECT_EQ(g.find(30)->root, 10);
  EXPECT_EQ(g.find(30)->parent, 20);
  EXPECT_EQ(g.find(20)->behind, 1);
  EXPECT_EQ(g.behind.at(10), 2);
  // An active root: cancel first.
  EXPECT_NE(g.find(30)->action.find("pg_cancel_backend(10)"), std::string::npos) << g.find(30)->action;
}

TEST(LockGraph, CyclesAreReportedNotFollowed) {
  Scene s;
  s.lock({holds(10, {AccessExclusive})}, {waits(20, AccessExclusive)});
  s.lock({holds(20, {AccessExclusive})}, {waits(10, AccessExclusive)});
  s.lock({holds(10, {AccessExclusive})}, {waits(30, AccessShare)});  // 30 waits into the cycle
  Graph g = s.build();
  EXPECT_EQ(g.find(10)->cycle, (std::vector<Key>{10, 20}));
  EXPECT_EQ(g.find(20)->cycle, (std::vector<Key>{10, 20}));
  EXPECT_FALSE(g.find(10)->has_root);
  EXPECT_TRUE(g.find(30)->cycle.empty());
  EXPECT_FALSE(g.find(30)->has_root);
  EXPECT_NE(g.find(10)->action.find("deadlock"), std::string::npos);
  auto lines = tree(g, [](Key k) { return "pid " + std::to_string(k); });
  EXPECT_NE(std::find(lines.begin(), lines.end(), "deadlock cycle:"), lines.end());
}

TEST(LockGraph, ParallelWorkersAreFoldedIntoTheirLeader) {
  // Worker 11 of leader 10 holds the lock; worker 21 of leader 20 waits for it while 20 waits too.
  Scene s;
  s.lock({holds(10, {}, 10), holds(11, {AccessExclusive}, 10)},
         {waits(21, AccessShare, 20), waits(20, AccessShare)});
  // A leader never blocks its own worker.
  s.lock({holds(30, {AccessExclusive})}, {waits(31, AccessShare, 30)});
  Graph g = s.build();
  ASSERT_EQ(g.waiters.size(), 2u);
  EXPECT_EQ(g.find(20)->hard, std::vector<Key>{10});
  EXPECT_EQ(g.find(20)->root, 10);
  EXPECT_EQ(s.snap.waits[g.find(20)->wait].pid, 20);  // the leader's own wait is shown
  EXPECT_TRUE(g.find(30)->hard.empty());
}

TEST(LockGraph, PreparedTransactionIsARootWithItsGid) {
  Scene s;
  Holder prepared;
  prepared.pid = 0;
  prepared.xid = 777;
  prepared.hold_mask = bit(Exclusive);  // its transactionid lock
  s.lock({prepared}, {waits(20, Share)});
  Session p;
  p.known = true;
  p.gid = "it's gid";
  p.database = "app";
  s.sessions[prepared_key(777)] = p;
  Graph g = s.build();
  const Waiter& w = *g.find(20);
  EXPECT_EQ(w.hard, std::vector<Key>{prepared_key(777)});
  EXPECT_EQ(display_pid(w.root), 0);
  EXPECT_TRUE(is_prepared(w.root));
  EXPECT_NE(w.action.find("COMMIT PREPARED 'it''s gid'"), std::string::npos) << w.action;
  EXPECT_NE(w.action.find("ROLLBACK PREPARED"), std::string::npos) << w.action;
}

TEST(LockGraph, HiddenRootGetsNoAdviceBasedOnItsState) {
  Scene s;
  s.lock({holds(10, {AccessExclusive})}, {waits(20, AccessShare)});
  s.session(10, "");
  s.sessions[10].visible = false;
  Graph g = s.build();
  EXPECT_EQ(g.find(20)->action.find("SELECT"), std::string::npos) << g.find(20)->action;
  EXPECT_NE(g.find(20)->action.find("pg_read_all_stats"), std::string::npos);
}

TEST(LockGraph, IdleSessionHoldingASessionLockIsTerminatedNotCancelled) {
  Scene s;  // advisory locks use the same modes: pg_advisory_lock takes ExclusiveLock
  s.lock({holds(10, {Exclusive})}, {waits(20, Exclusive)});
  s.session(10, "idle");
  Graph g = s.build();
  EXPECT_NE(g.find(20)->action.find("pg_terminate_backend(10)"), std::string::npos);
}

TEST(LockGraph, RootTieBreakPrefersTheOldestTransaction) {
  Scene s;
  s.lock({holds(10, {AccessShare}), holds(11, {AccessShare})}, {waits(20, AccessExclusive)});
  s.session(10, "active", 500);
  s.session(11, "active", 100);
  Graph g = s.build();
  EXPECT_EQ(g.find(20)->hard, (std::vector<Key>{10, 11}));
  EXPECT_EQ(g.find(20)->root, 11);
}

TEST(LockGraph, WaiterWhoseLockIsBeingGrantedIsItsOwnRoot) {
  Scene s;
  s.lock({holds(10, {AccessShare})}, {waits(20, AccessShare)});
  Graph g = s.build();
  EXPECT_TRUE(g.find(20)->has_root);
  EXPECT_EQ(g.find(20)->root, 20);
  EXPECT_EQ(g.find(20)->depth, 0);
}

TEST(LockTree, RootFirstWithCountsBehindEachNode) {
  Scene s;
  s.lock({holds(10, {AccessShare})},
         {waits(20, AccessExclusive), waits(30, AccessShare), waits(40, AccessShare)});
  Graph g = s.build();
  auto lines = tree(g, [](Key k) { return "pid " + std::to_string(k); });
  std::vector<std::string> expected = {
      "pid 10  [3 behind]",
      "└─ pid 20  [2 behind]",
      "   ├─ pid 30",
      "   └─ pid 40",
  };
  EXPECT_EQ(lines, expected);
}

TEST(LockPreview, ClearWhenNothingConflicts) {
  Preview p = preview(AccessExclusive, 0, {}, {}, kConflicts);
  EXPECT_EQ(p.verdict, Verdict::Clear);
  EXPECT_STREQ(verdict_name(p.verdict), "clear");
  p = preview(ShareUpdateExclusive, 0, {holds(10, {AccessShare, RowExclusive})}, {}, kConflicts);
  EXPECT_EQ(p.verdict, Verdict::Clear);
}

TEST(LockPreview, AlterBehindAReaderWouldBlockNewReaders) {
  Preview p = preview(AccessExclusive, 0, {holds(10, {AccessShare})}, {}, kConflicts);
  EXPECT_EQ(p.verdict, Verdict::WouldBlockOthers);
  EXPECT_EQ(p.blockers, std::vector<Key>{10});
  EXPECT_TRUE(p.queue_mask & bit(AccessShare));
  EXPECT_TRUE(p.queue_mask & bit(RowExclusive));
  EXPECT_FALSE(p.queue_mask & bit(AccessExclusive));  // already queued behind the reader anyway
}

TEST(LockPreview, WouldOnlyWaitWhenEverythingItBlocksIsBlockedAlready) {
  // The table is held ACCESS EXCLUSIVE: nothing new is granted now, so a SHARE request adds no harm.
  Preview p = preview(Share, 0, {holds(10, {AccessExclusive})}, {}, kConflicts);
  EXPECT_EQ(p.verdict, Verdict::WouldWait);
  EXPECT_EQ(p.queue_mask, 0u);
  // Waiters count as blockers too: they are ahead in the queue.
  p = preview(AccessExclusive, 0, {holds(10, {AccessShare})}, {waits(20, AccessExclusive)}, kConflicts);
  EXPECT_EQ(p.blockers, (std::vector<Key>{10, 20}));
  EXPECT_EQ(p.verdict, Verdict::WouldWait);  // readers already queue behind 20
}

TEST(LockGraph, ConflictingRequestsAheadInTheQueueAreSoftBlockersButCompatibleOnesAreNot) {
  // 10 holds ACCESS SHARE; queue: 20 wants ACCESS EXCLUSIVE, 30 ACCESS SHARE, 40 EXCLUSIVE (a worker
  // of leader 45), 50 ACCESS EXCLUSIVE.
  Scene s;
  s.lock({holds(10, {AccessShare})},
         {waits(20, AccessExclusive), waits(30, AccessShare), waits(40, Exclusive, 45), waits(50, AccessExclusive)});
  Graph g = s.build();
  EXPECT_EQ(g.find(20)->soft, std::vector<Key>{});
  EXPECT_EQ(g.find(30)->soft, std::vector<Key>{20});          // ACCESS SHARE conflicts only with 20
  EXPECT_EQ(g.find(45)->soft, std::vector<Key>{20});          // the worker's wait, shown as its leader
  EXPECT_EQ(g.find(45)->hard, std::vector<Key>{});            // EXCLUSIVE does not conflict with ACCESS SHARE
  EXPECT_EQ(g.find(50)->soft, (std::vector<Key>{20, 30, 45}));  // everything ahead conflicts with it
  EXPECT_EQ(g.find(50)->hard, std::vector<Key>{10});
  EXPECT_EQ(g.find(20)->soft_behind, 2);                      // 30 and 45 wait only softly for 20
}

TEST(LockPreview, AModeTheSessionHoldsAlreadyIsGrantedAtOnce) {
  // lock.c: a held mode is granted from the local lock table, whatever waits.
  Preview p = preview(AccessShare, bit(AccessShare), {holds(10, {AccessShare})}, {waits(20, AccessExclusive)},
                      kConflicts);
  EXPECT_TRUE(p.already_held);
  EXPECT_EQ(p.verdict, Verdict::Clear);
  EXPECT_TRUE(p.blockers.empty());
}

TEST(LockPreview, WaitersThatWaitForTheSessionsOwnLockAreBehindItNotAhead) {
  // The session holds ACCESS SHARE; 20's ALTER waits for it. CREATE INDEX (SHARE) by the session is
  // put ahead of 20 (proc.c: ProcSleep) and granted: 20 is no blocker.
  Preview p = preview(Share, bit(AccessShare), {holds(10, {AccessShare})}, {waits(20, AccessExclusive)}, kConflicts);
  EXPECT_FALSE(p.already_held);
  EXPECT_EQ(p.verdict, Verdict::Clear);
  EXPECT_TRUE(p.blockers.empty());
  // A holder still blocks: 10 holds ROW EXCLUSIVE, which conflicts with SHARE.
  p = preview(Share, bit(AccessShare), {holds(10, {RowExclusive})}, {waits(20, AccessExclusive)}, kConflicts);
  EXPECT_EQ(p.blockers, std::vector<Key>{10});
  EXPECT_EQ(p.verdict, Verdict::WouldWait);  // what SHARE would hold up already queues behind 20
}

TEST(LockPreview, ConcurrentIndexBuildWaitsForWritersAfterItHasItsLock) {
  // CREATE INDEX CONCURRENTLY takes SHARE UPDATE EXCLUSIVE, which 10's ROW EXCLUSIVE does not block;
  // then it waits for every holder of a mode conflicting with SHARE (indexcmds.c: WaitForLockers):
  // 10, not the reader 20. While it waits it holds its lock: VACUUM's SHARE UPDATE EXCLUSIVE queues.
  constexpr int ShareLock = Share;
  Preview p = preview(ShareUpdateExclusive, 0, {holds(10, {RowExclusive}), holds(20, {AccessShare})}, {}, kConflicts,
                      ShareLock);
  EXPECT_EQ(p.blockers, std::vector<Key>{10});
  EXPECT_EQ(p.lockers, std::vector<Key>{10});
  EXPECT_EQ(p.verdict, Verdict::WouldBlockOthers);
  EXPECT_EQ(p.queue_mask, bit(ShareUpdateExclusive));  // SHARE and up wait for 10's ROW EXCLUSIVE anyway
  // Without writers it is clear; a reader is no locker.
  p = preview(ShareUpdateExclusive, 0, {holds(20, {AccessShare})}, {}, kConflicts, ShareLock);
  EXPECT_EQ(p.verdict, Verdict::Clear);
  EXPECT_TRUE(p.lockers.empty());
  // A holder that blocks its lock is a blocker, not a locker.
  p = preview(ShareUpdateExclusive, 0, {holds(30, {ShareUpdateExclusive, RowExclusive})}, {}, kConflicts, ShareLock);
  EXPECT_EQ(p.blockers, std::vector<Key>{30});
  EXPECT_TRUE(p.lockers.empty());
}
