// statement-after-access-exclusive: a statement that runs while an earlier statement of the same
// transaction holds ACCESS EXCLUSIVE on an existing relation. The lock lasts until COMMIT, so every
// reader and writer of that relation also waits for this statement.
#include <algorithm>
#include <string>

#include "rules/families.hpp"
#include "rules/rules.hpp"
#include "rules/statement_text.hpp"

namespace zdm::rules {

void add_transaction_rules(Rules& r) {
  r.push_back({"statement-after-access-exclusive", Severity::Warning,
               "a statement run in the same transaction after an earlier one took ACCESS EXCLUSIVE on an existing "
               "relation (the lock is held until COMMIT)",
               "COMMIT right after the statement that takes the lock; run the rest in its own transaction"});
}

void check_transaction(const Statement& st, Findings& out) {
  if (st.held_access_exclusive.empty()) return;
  std::string held;
  for (size_t i = 0; i < st.held_access_exclusive.size(); i++) held += (i ? ", " : "") + st.held_access_exclusive[i];
  // Long (reads or rewrites a relation) is critical; a catalog-only statement still adds its lock wait.
  const Action* heavy = nullptr;
  for (const Action& a : st.actions)
    if ((a.scan || a.rewrite) && a.rel.exists && a.recursed_from.empty()) {
      heavy = &a;
      break;
    }
  Finding f;
  f.rule = "statement-after-access-exclusive";
  f.severity = heavy ? Severity::Critical : Severity::Warning;
  f.relation = st.held_access_exclusive.front();
  f.lock = LockMode::AccessExclusive;
  f.message = st.command + " runs while this transaction holds ACCESS EXCLUSIVE on " + held;
  f.detail = "An earlier statement of this transaction locked " + held +
             " in AccessExclusiveLock mode; the lock is held until COMMIT, so every query on " +
             (st.held_access_exclusive.size() > 1 ? "them" : "it") + " waits for this statement too.";
  // A second ALTER TABLE of the same table can instead be another subcommand of the first one.
  bool same_tables = !st.actions.empty();
  for (const Action& a : st.actions)
    if (std::find(st.held_access_exclusive.begin(), st.held_access_exclusive.end(), a.rel.name) ==
        st.held_access_exclusive.end())
      same_tables = false;
  if (heavy)
    f.detail += " This statement: " + text::facts(*heavy, LockMode::None);
  else if (!same_tables)
    f.detail += " If this statement has to wait for a lock of its own, the queue behind " + held + " grows meanwhile.";
  std::string stmt = sql::clean(st.text);
  f.hint = "COMMIT right after the statement that took the lock, and run this one in its own transaction:\nCOMMIT;\n" +
           (stmt.empty() ? std::string("-- this statement") : stmt + ";");
  if (same_tables && st.command == "ALTER TABLE")
    f.hint += "\n-- or make it another subcommand of the ALTER TABLE that took the lock (one statement, one lock).";
  out.push_back(std::move(f));
}

}  // namespace zdm::rules
