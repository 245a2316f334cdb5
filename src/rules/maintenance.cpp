// cluster-table, vacuum-full, refresh-matview-without-concurrently, truncate-table.
#include <string>

#include "rules/families.hpp"
#include "rules/rules.hpp"
#include "rules/statement_text.hpp"

namespace zdm::rules {

namespace {

Finding base(const Statement& st, const Action& a, const char* rule) {
  Finding f;
  f.rule = rule;
  f.severity = Severity::Critical;
  f.relation = a.rel.name;
  f.lock = st.strongest_lock;
  f.detail = text::facts(a, LockMode::None);
  return f;
}

std::string indexes_note(const Action& a) {
  if (a.rebuilt_indexes.empty()) return {};
  std::string s = " Rebuilds index";
  s += a.rebuilt_indexes.size() > 1 ? "es " : " ";
  for (size_t i = 0; i < a.rebuilt_indexes.size(); i++) s += (i ? ", " : "") + a.rebuilt_indexes[i];
  return s + " under the same lock.";
}

// pg_repack's --table wants a schema-qualified name.
std::string repack_table(const Action& a) {
  return a.rel.qualified.empty() ? a.rel.name : a.rel.qualified;
}

void cluster(const Statement& st, const Action& a, Findings& out) {
  Finding f = base(st, a, "cluster-table");
  f.message = "CLUSTER rewrites " + a.rel.name + " and blocks reads and writes until it finishes";
  f.detail += indexes_note(a);
  f.hint = "Reorder the table online with pg_repack, which holds ACCESS EXCLUSIVE only briefly at the start and end:\n";
  if (!a.index.empty()) f.hint += "ALTER TABLE " + a.rel.name + " CLUSTER ON " + a.index + ";  -- catalog only\n";
  f.hint += "CREATE EXTENSION IF NOT EXISTS pg_repack;\n-- then, from a shell: pg_repack --table=" + repack_table(a) +
            " <database>";
  out.push_back(std::move(f));
}

void vacuum_full(const Statement& st, const Action& a, Findings& out) {
  Finding f = base(st, a, "vacuum-full");
  f.message = "VACUUM FULL rewrites " + a.rel.name + " and blocks reads and writes until it finishes";
  f.detail += indexes_note(a);
  f.hint = "Plain VACUUM makes dead space reusable without blocking reads or writes:\nVACUUM (ANALYZE) " + a.rel.name +
           ";\n-- to give the space back to the operating system online, use pg_repack:\n"
           "CREATE EXTENSION IF NOT EXISTS pg_repack;\n-- then, from a shell: pg_repack --no-order --table=" +
           repack_table(a) + " <database>";
  out.push_back(std::move(f));
}

void refresh(const Statement& st, const Action& a, Findings& out) {
  Finding f = base(st, a, "refresh-matview-without-concurrently");
  f.message = "refreshing materialized view " + a.rel.name + " without CONCURRENTLY blocks its readers until the "
              "query finishes";
  f.detail += " Its defining query runs in full while the lock is held." + indexes_note(a);
  std::string refresh = "REFRESH MATERIALIZED VIEW CONCURRENTLY " + a.rel.name + ";";
  if (a.has_unique_index) {
    f.hint = "It has a unique index, so readers can go on during the refresh:\n" + refresh;
  } else {
    f.hint = "CONCURRENTLY needs a unique index on plain columns (no WHERE clause); create one, then refresh "
             "without blocking readers:\nCREATE UNIQUE INDEX CONCURRENTLY " +
             text::new_name(st, NameKind::Relation, a.rel.oid, a.rel.name, "", "key") + " ON " + a.rel.name +
             " (<columns that identify a row>);\n" + refresh;
  }
  out.push_back(std::move(f));
}

void truncate(const Statement& st, const Action& a, Findings& out) {
  Finding f = base(st, a, "truncate-table");
  Action facts = a;
  facts.rewrite = facts.scan = false;  // new, empty files: nothing is copied or read
  f.detail = text::facts(facts, LockMode::None);
  f.message = "TRUNCATE " + a.rel.name + " waits for ACCESS EXCLUSIVE, queueing every reader and writer behind it";
  f.detail += " It reads no rows and gives the table new, empty files, but it needs the strongest lock: while it "
              "waits for a long query, every new query on the table waits behind it.";
  if (!a.referenced.empty()) f.detail += " CASCADE also empties " + a.referenced + ", under the same lock.";
  // The bounded form is the safe one: it carries its own override, so that it passes strict mode.
  f.hint = "Either bound the wait and retry on lock_not_available (55P03):\nSET lock_timeout = '2s';\nTRUNCATE " +
           a.rel.name + " /* zdm:allow truncate-table */;\nRESET lock_timeout;\n-- or delete in batches, which blocks no reader (repeat until it deletes 0 rows):\n" +
           // ctid is unique only within one partition: a partitioned table needs tableoid too.
           (a.rel.kind == 'p' ? "DELETE FROM " + a.rel.name + " WHERE (tableoid, ctid) IN (SELECT tableoid, ctid FROM " +
                                    a.rel.name + " LIMIT 5000);"
                              : "DELETE FROM " + a.rel.name + " WHERE ctid = ANY (ARRAY(SELECT ctid FROM " + a.rel.name +
                                    " LIMIT 5000));");
  out.push_back(std::move(f));
}

}  // namespace

void add_maintenance_rules(Rules& r) {
  r.push_back({"cluster-table", Severity::Critical,
               "CLUSTER: rewrites the table and rebuilds its indexes under ACCESS EXCLUSIVE",
               "pg_repack (online, ACCESS EXCLUSIVE only briefly at the start and end)"});
  r.push_back({"vacuum-full", Severity::Critical,
               "VACUUM FULL: rewrites the table and rebuilds its indexes under ACCESS EXCLUSIVE",
               "plain VACUUM, or pg_repack --no-order to give space back online"});
  r.push_back({"refresh-matview-without-concurrently", Severity::Critical,
               "REFRESH MATERIALIZED VIEW without CONCURRENTLY: readers wait (ACCESS EXCLUSIVE) while the query runs",
               "a unique index on the view, then REFRESH MATERIALIZED VIEW CONCURRENTLY"});
  r.push_back({"truncate-table", Severity::Critical,
               "TRUNCATE of an existing table: ACCESS EXCLUSIVE, queueing every query behind it while it waits",
               "SET lock_timeout and retry, or DELETE in batches"});
}

void check_maintenance(const Statement& st, const Action& a, Findings& out) {
  if (!a.recursed_from.empty()) return;  // judged on the relation the user named
  switch (a.op) {
    case Op::Cluster: cluster(st, a, out); break;
    case Op::VacuumFull: vacuum_full(st, a, out); break;
    case Op::RefreshMatView:
      if (!a.concurrently) refresh(st, a, out);
      break;
    case Op::Truncate: truncate(st, a, out); break;
    default: break;
  }
}

}  // namespace zdm::rules
