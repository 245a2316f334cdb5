// The lock graph (see graph.hpp). Mirrors lockfuncs.c: pg_blocking_pids for the direct blockers and
// lock.c: LockAcquireExtended for "would a new request be granted now".
#include "locks/pure/graph.hpp"

#include <algorithm>
#include <deque>
#include <set>

#include "rules/model.hpp"

namespace zdm::locks {

namespace {

constexpr int kMaxMode = 8;  // lockdefs.h: MaxLockMode

uint32_t bit(int mode) { return 1u << mode; }

void add_unique(std::vector<Key>& v, Key k) {
  if (std::find(v.begin(), v.end(), k) == v.end()) v.push_back(k);
}

std::string pid_text(Key k) { return std::to_string(display_pid(k)); }

// Tarjan's strongly connected components over the waiters: a component of two or more is a cycle
// of sessions each waiting for the next (a deadlock the detector has not broken yet).
class Cycles {
 public:
  explicit Cycles(const Graph& g) : g_(g) {
    for (const auto& w : g_.waiters)
      if (!index_.count(w.key)) visit(w.key);
  }
  std::map<Key, std::vector<Key>> members;  // waiter -> its component, when of size > 1

 private:
  void visit(Key v) {
    index_[v] = low_[v] = next_++;
    stack_.push_back(v);
    on_stack_.insert(v);
    const Waiter* w = g_.find(v);
    if (w != nullptr) {
      for (const auto* edges : {&w->hard, &w->soft}) {
        for (Key u : *edges) {
          if (!g_.waits(u)) continue;
          if (!index_.count(u)) {
            visit(u);
            low_[v] = std::min(low_[v], low_[u]);
          } else if (on_stack_.count(u)) {
            low_[v] = std::min(low_[v], index_[u]);
          }
        }
      }
    }
    if (low_[v] == index_[v]) {
      std::vector<Key> component;
      Key u;
      do {
        u = stack_.back();
        stack_.pop_back();
        on_stack_.erase(u);
        component.push_back(u);
      } while (u != v);
      if (component.size() > 1) {
        std::sort(component.begin(), component.end());
        for (Key m : component) members[m] = component;
      }
    }
  }
  const Graph& g_;
  std::map<Key, int> index_, low_;
  std::vector<Key> stack_;
  std::set<Key> on_stack_;
  int next_ = 0;
};

// Root tie-break: the oldest transaction first (the likely culprit), then sessions before prepared
// transactions, then the smaller pid / xid.
bool better_root(Key a, Key b, const Sessions& sessions) {
  auto start = [&](Key k) -> int64_t {
    auto it = sessions.find(k);
    return it == sessions.end() ? 0 : it->second.xact_start;
  };
  int64_t sa = start(a), sb = start(b);
  if ((sa != 0) != (sb != 0)) return sa != 0;
  if (sa != sb) return sa < sb;
  if ((a > 0) != (b > 0)) return a > 0;
  return a > 0 ? a < b : a > b;
}

std::string root_action(Key root, const Sessions& sessions) {
  const std::string pid = pid_text(root);
  auto it = sessions.find(root);
  const Session* s = it == sessions.end() ? nullptr : &it->second;
  if (is_prepared(root)) {
    std::string gid = s && !s->gid.empty() ? s->gid : "?";
    std::string quoted = "'";
    for (char c : gid) quoted += (c == '\'') ? std::string("''") : std::string(1, c);
    quoted += "'";
    std::string where = s && !s->database.empty() ? " in database " + s->database : "";
    return "COMMIT PREPARED " + quoted + "; -- or ROLLBACK PREPARED " + quoted + where +
           ": the root is prepared transaction " + std::to_string(-root) +
           ", which holds its locks until it is committed or rolled back";
  }
  if (s != nullptr && s->known && !s->visible)
    return "-- the root is session " + pid +
           " of another role; its state is hidden from you (a member of pg_read_all_stats can see it)";
  if (s != nullptr && (s->state == "idle in transaction" || s->state == "idle in transaction (aborted)"))
    return "SELECT pg_terminate_backend(" + pid + "); -- the root is " + s->state +
           ": pg_cancel_backend does nothing to an idle session, terminating it ends its transaction";
  if (s != nullptr && s->state == "idle")
    return "SELECT pg_terminate_backend(" + pid +
           "); -- the root is idle and holds a session-level lock (an advisory lock, say): "
           "pg_cancel_backend does nothing to an idle session";
  return "SELECT pg_cancel_backend(" + pid + "); -- the root is " +
         (s != nullptr && !s->state.empty() ? s->state : std::string("running")) +
         ": cancel its statement first; if it still holds the lock, SELECT pg_terminate_backend(" + pid + ")";
}

std::string retry_hint(const std::string& lock_timeout) {
  return "; retry it later with SET lock_timeout = '" + lock_timeout + "'";
}

}  // namespace

ConflictTable ConflictTable::postgres_default() {
  // lock.c: LockConflicts[], modes numbered as lockdefs.h numbers them.
  ConflictTable t;
  auto set = [&](int m, std::initializer_list<int> with) {
    for (int o : with) t.mask[m] |= bit(o);
  };
  set(1, {8});
  set(2, {7, 8});
  set(3, {5, 6, 7, 8});
  set(4, {4, 5, 6, 7, 8});
  set(5, {3, 4, 6, 7, 8});
  set(6, {3, 4, 5, 6, 7, 8});
  set(7, {2, 3, 4, 5, 6, 7, 8});
  set(8, {1, 2, 3, 4, 5, 6, 7, 8});
  return t;
}

std::string mode_name(int mode) {
  if (mode >= 1 && mode <= kMaxMode) return lock_mode_name(static_cast<LockMode>(mode));
  return "lock mode " + std::to_string(mode);
}

Graph build(const Snapshot& snapshot, const ConflictTable& conflicts, const Sessions& sessions,
            const std::string& lock_timeout) {
  Graph g;
  // Soft blockers, one walk per wait queue: for each queued process, the earlier entries whose mode
  // conflicts with its own. Earlier entries are kept per mode, so a reader behind one queued ALTER
  // looks at the ALTER only, not at every reader ahead of it (O(blockers), not O(queue length)).
  std::vector<std::map<int32_t, std::vector<Key>>> soft_by_pid(snapshot.locks.size());
  for (size_t li = 0; li < snapshot.locks.size(); ++li) {
    // (queue position, leader) of the entries ahead, by the mode they want
    std::array<std::vector<std::pair<size_t, int32_t>>, 16> earlier;
    const auto& queue = snapshot.locks[li].queue;
    for (size_t pos = 0; pos < queue.size(); ++pos) {
      const Queued& q = queue[pos];
      if (q.mode <= 0 || q.mode >= 16) continue;
      std::vector<std::pair<size_t, int32_t>> ahead;
      for (int b = 1; b <= kMaxMode; ++b)
        if (conflicts.conflicts(q.mode, b))
          for (const auto& e : earlier[b])
            if (e.second != q.leader) ahead.push_back(e);
      std::sort(ahead.begin(), ahead.end());  // queue order, as pg_blocking_pids lists them
      std::vector<Key>& soft = soft_by_pid[li][q.pid];
      for (const auto& e : ahead) add_unique(soft, Key{e.second});
      earlier[q.mode].push_back({pos, q.leader});
    }
  }
  // Direct blockers per waiting session (lockfuncs.c: pg_blocking_pids).
  for (size_t wi = 0; wi < snapshot.waits.size(); ++wi) {
    const Wait& wait = snapshot.waits[wi];
    Key key = wait.leader;
    auto [it, inserted] = g.index.emplace(key, g.waiters.size());
    if (inserted) {
      Waiter w;
      w.key = key;
      w.wait = wi;
      g.waiters.push_back(w);
    }
    Waiter& w = g.waiters[it->second];
    // The leader's own wait is the one to show; a worker's only when the leader does not wait.
    if (wait.pid == wait.leader) w.wait = wi;
    if (wait.lock >= snapshot.locks.size()) continue;
    const Lock& lock = snapshot.locks[wait.lock];
    const uint32_t conflict_mask = conflicts.mask[wait.mode];
    for (const Holder& h : lock.holders) {
      if (h.pid != 0 && h.leader == wait.leader) continue;  // own lock group
      if (h.hold_mask & conflict_mask) add_unique(w.hard, holder_key(h));
    }
    auto soft = soft_by_pid[wait.lock].find(wait.pid);
    if (soft != soft_by_pid[wait.lock].end())
      for (Key k : soft->second) add_unique(w.soft, k);
  }
  // A session both hard and soft (two of its workers) counts as hard.
  for (Waiter& w : g.waiters) {
    w.soft.erase(std::remove_if(w.soft.begin(), w.soft.end(),
                                [&](Key k) { return std::find(w.hard.begin(), w.hard.end(), k) != w.hard.end(); }),
                 w.soft.end());
  }
  std::sort(g.waiters.begin(), g.waiters.end(), [](const Waiter& a, const Waiter& b) { return a.key < b.key; });
  g.index.clear();
  for (size_t i = 0; i < g.waiters.size(); ++i) g.index[g.waiters[i].key] = i;

  // Cycles.
  Cycles cycles(g);
  for (auto& [k, members] : cycles.members) g.waiters[g.index[k]].cycle = members;

  // Root, depth, parent and the counts behind every node: one breadth-first walk per waiter.
  std::set<Key> root_set;
  for (Waiter& w : g.waiters) {
    std::map<Key, int> dist{{w.key, 0}};
    std::map<Key, Key> first_hop;
    std::deque<Key> todo{w.key};
    std::vector<Key> roots_found;
    int root_dist = -1;
    while (!todo.empty()) {
      Key v = todo.front();
      todo.pop_front();
      const Waiter* vw = g.find(v);
      bool is_root = vw == nullptr || (vw->hard.empty() && vw->soft.empty());
      if (is_root) {
        if (root_dist < 0 || dist[v] == root_dist) {
          root_dist = dist[v];
          roots_found.push_back(v);
        }
        continue;
      }
      for (const auto* edges : {&vw->hard, &vw->soft}) {
        for (Key u : *edges) {
          if (dist.count(u)) continue;
          dist[u] = dist[v] + 1;
          first_hop[u] = v == w.key ? u : first_hop[v];
          todo.push_back(u);
        }
      }
    }
    for (auto& [k, d] : dist)
      if (k != w.key) g.behind[k]++;
    if (!roots_found.empty()) {
      Key best = roots_found.front();
      for (Key r : roots_found)
        if (better_root(r, best, sessions)) best = r;
      w.has_root = true;
      w.root = best;
      w.depth = root_dist;
      w.parent = best == w.key ? 0 : first_hop[best];
      if (best != w.key) root_set.insert(best);
    }
  }
  for (Waiter& w : g.waiters) {
    auto it = g.behind.find(w.key);
    w.behind = it == g.behind.end() ? 0 : it->second;
  }
  for (const Waiter& w : g.waiters)
    if (w.hard.empty())
      for (Key s : w.soft)
        if (const Waiter* sw = g.find(s)) g.waiters[g.index[sw->key]].soft_behind++;
  g.roots.assign(root_set.begin(), root_set.end());
  std::stable_sort(g.roots.begin(), g.roots.end(), [&](Key a, Key b) { return g.behind[a] > g.behind[b]; });

  // Suggested actions: advice only, one statement with the reason as a comment.
  for (Waiter& w : g.waiters) {
    const Wait& wait = snapshot.waits[w.wait];
    if (!w.cycle.empty()) {
      std::string list;
      for (Key k : w.cycle) list += (list.empty() ? "" : ", ") + pid_text(k);
      w.action = "SELECT pg_cancel_backend(" + pid_text(w.cycle.back()) + "); -- deadlock between sessions " +
                 list + ": the deadlock detector cancels one of them after deadlock_timeout";
    } else if (w.soft_behind > 0) {
      w.action = "SELECT pg_cancel_backend(" + pid_text(w.key) + "); -- its queued " + mode_name(wait.mode) +
                 " request holds up " + std::to_string(w.soft_behind) +
                 (w.soft_behind == 1 ? " session" : " sessions") + " queued behind it" + retry_hint(lock_timeout);
    } else if (w.hard.empty() && !w.soft.empty()) {
      Key s = w.soft.front();
      const Waiter* sw = g.find(s);
      std::string mode = sw ? mode_name(snapshot.waits[sw->wait].mode) : std::string("a lock");
      w.action = "SELECT pg_cancel_backend(" + pid_text(s) + "); -- session " + pid_text(s) + " waits for " +
                 mode + " and this session queues behind it" + retry_hint(lock_timeout);
    } else if (w.has_root && w.root != w.key) {
      w.action = root_action(w.root, sessions);
    } else if (w.has_root) {
      w.action = "-- nothing blocks it any more: the lock is being granted";
    } else {
      w.action = "-- its chain ends in a deadlock cycle; see the cycle's sessions";
    }
  }
  return g;
}

std::vector<std::string> tree(const Graph& graph, const std::function<std::string(Key)>& describe) {
  std::vector<std::string> lines;
  std::map<Key, std::vector<Key>> children;
  for (const Waiter& w : graph.waiters)
    if (w.has_root && w.parent != 0) children[w.parent].push_back(w.key);
  std::set<Key> shown;
  auto count = [&](Key k) {
    auto it = graph.behind.find(k);
    int n = it == graph.behind.end() ? 0 : it->second;
    return n == 0 ? std::string() : "  [" + std::to_string(n) + " behind]";
  };
  std::function<void(Key, const std::string&, bool)> walk = [&](Key k, const std::string& indent, bool last) {
    if (!shown.insert(k).second) return;
    lines.push_back(indent + (last ? "└─ " : "├─ ") + describe(k) + count(k));
    auto it = children.find(k);
    if (it == children.end()) return;
    const auto& kids = it->second;
    for (size_t i = 0; i < kids.size(); ++i) walk(kids[i], indent + (last ? "   " : "│  "), i + 1 == kids.size());
  };
  for (Key r : graph.roots) {
    if (!shown.insert(r).second) continue;
    lines.push_back(describe(r) + count(r));
    auto it = children.find(r);
    if (it == children.end()) continue;
    const auto& kids = it->second;
    for (size_t i = 0; i < kids.size(); ++i) walk(kids[i], "", i + 1 == kids.size());
  }
  // Waiters whose lock is being granted (nothing blocks them) and deadlock cycles.
  for (const Waiter& w : graph.waiters)
    if (w.has_root && w.root == w.key && !shown.count(w.key)) {
      shown.insert(w.key);
      lines.push_back(describe(w.key));
    }
  std::set<std::vector<Key>> cycles_shown;
  for (const Waiter& w : graph.waiters) {
    if (w.cycle.empty() || !cycles_shown.insert(w.cycle).second) continue;
    lines.push_back("deadlock cycle:");
    for (size_t i = 0; i < w.cycle.size(); ++i) {
      shown.insert(w.cycle[i]);
      lines.push_back(std::string(i + 1 == w.cycle.size() ? "└─ " : "├─ ") + describe(w.cycle[i]) +
                      count(w.cycle[i]));
    }
  }
  for (const Waiter& w : graph.waiters)
    if (!shown.count(w.key)) {
      shown.insert(w.key);
      lines.push_back("waiting for a deadlock cycle: " + describe(w.key));
    }
  return lines;
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Clear: return "clear";
    case Verdict::WouldWait: return "would_wait";
    case Verdict::WouldBlockOthers: return "would_block_others";
  }
  return "";
}

Preview preview(int mode, uint32_t own_mask, const std::vector<Holder>& holders,
                const std::vector<Queued>& waiting, const ConflictTable& conflicts, int lockers_mode) {
  Preview p;
  // lock.c: LockAcquireExtended: a mode the session holds already is granted without a look at the
  // lock table.
  if (own_mask & bit(mode)) {
    p.already_held = true;
    return p;
  }
  uint32_t granted = own_mask, awaited = 0;
  for (const Holder& h : holders) {
    granted |= h.hold_mask;
    if (h.hold_mask & conflicts.mask[mode]) add_unique(p.blockers, holder_key(h));
  }
  for (const Queued& q : waiting) {
    if (q.mode <= 0) continue;
    awaited |= bit(q.mode);
    // proc.c: ProcSleep puts a request ahead of every waiter that wants a mode conflicting with a
    // lock the requester holds already (that waiter waits for it, so it cannot wait for that waiter):
    // such a waiter is behind it, not a blocker. (ProcSleep inserts it before the first such waiter,
    // so the conflicting waiters after that one are behind it too; GetLockStatusData gives no queue
    // order, so those are still counted: an over-report, never a miss.)
    if (conflicts.mask[q.mode] & own_mask) continue;
    if (conflicts.conflicts(mode, q.mode)) add_unique(p.blockers, Key{q.leader});
  }
  // lock.c: GetLockConflicts, which WaitForLockers uses: the holders of a mode conflicting with
  // `lockers_mode`, fast-path and prepared transactions included; the session's own locks are not
  // counted. It waits for each of them while it holds its own lock.
  if (lockers_mode > 0)
    for (const Holder& h : holders)
      if (h.hold_mask & conflicts.mask[lockers_mode]) {
        Key k = holder_key(h);
        if (std::find(p.blockers.begin(), p.blockers.end(), k) != p.blockers.end()) continue;
        add_unique(p.blockers, k);
        add_unique(p.lockers, k);
      }
  auto by_pid = [](Key a, Key b) {
    return display_pid(a) != display_pid(b) ? display_pid(a) < display_pid(b) : a > b;
  };
  std::sort(p.blockers.begin(), p.blockers.end(), by_pid);
  std::sort(p.lockers.begin(), p.lockers.end(), by_pid);
  if (p.blockers.empty()) return p;
  // lock.c: LockAcquireExtended grants a new request at once unless it conflicts with a granted mode
  // or an awaited one. The modes granted at once now that would conflict with this statement's
  // request, queued or (while it waits for lockers) granted, are the ones that would pile up behind it.
  for (int q = 1; q <= kMaxMode; ++q)
    if (conflicts.conflicts(mode, q) && !(conflicts.mask[q] & (granted | awaited))) p.queue_mask |= bit(q);
  p.verdict = p.queue_mask ? Verdict::WouldBlockOthers : Verdict::WouldWait;
  return p;
}

}  // namespace zdm::locks
