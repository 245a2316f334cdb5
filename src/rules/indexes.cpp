// index-without-concurrently, reindex-without-concurrently, concurrently-in-transaction.
#include <string>

#include "rules/families.hpp"
#include "rules/rules.hpp"
#include "rules/statement_text.hpp"

namespace zdm::rules {

namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); i++) s += (i ? sep : "") + v[i];
  return s;
}

// Partitions the statement reaches from the named table (their actions follow the named one's).
std::vector<const RelationFacts*> partitions(const Statement& st, const Action& a) {
  std::vector<const RelationFacts*> out;
  for (const Action& c : st.actions)
    if (c.recursed_from == a.rel.name && c.op == a.op && c.rel.kind != 'p' && c.rel.kind != 'i' && c.rel.kind != 'I')
      out.push_back(&c.rel);
  return out;
}

// The user's CREATE INDEX with CONCURRENTLY added.
std::string concurrent_create(const Statement& st, const Action& a) {
  std::string s = sql::with_concurrently(sql::clean(st.text), "CREATE", "UNIQUE", "INDEX");
  if (!s.empty()) return s;
  if (!a.index_def.empty()) return sql::with_concurrently(sql::clean(a.index_def), "CREATE", "UNIQUE", "INDEX");
  return "CREATE INDEX CONCURRENTLY " + (a.index.empty() ? "" : a.index + " ") + "ON " + a.rel.name + " (" +
         join(a.columns, ", ") + ")";
}

void create_index(const Statement& st, const Action& a, Findings& out) {
  Finding f;
  f.rule = "index-without-concurrently";
  f.severity = Severity::Critical;
  f.relation = a.rel.name;
  f.lock = st.strongest_lock;
  f.message = "creating " + (a.index.empty() ? std::string("an index") : "index " + a.index) + " on " + a.rel.name +
              " without CONCURRENTLY blocks writes while it builds";
  f.detail = text::facts(a, LockMode::None);
  std::vector<const RelationFacts*> parts = partitions(st, a);
  if (a.rel.kind == 'p') {
    f.detail += " It builds the index on " + std::to_string(parts.size()) + " partition" +
                (parts.size() == 1 ? "" : "s") + ", each locked the same way and read in full.";
    // PostgreSQL 15 has no CREATE INDEX CONCURRENTLY on a partitioned table: build the parent's index
    // ON ONLY (invalid, catalog only), each partition's concurrently, then attach them.
    // Key columns come from the parse tree; an expression key is left for the user to fill in.
    // Unnamed, each index gets the name PostgreSQL would choose (indexcmds.c ChooseIndexName).
    std::vector<std::string> raw_columns;
    for (const std::string& c : a.columns) raw_columns.push_back(text::unquote(c));
    std::string key = text::quote(join(raw_columns, "_"));
    std::string idx = a.index.empty() ? text::new_name(st, NameKind::Relation, a.rel.oid, a.rel.name, key, "idx")
                                      : a.index;
    std::string cols = a.columns.empty() ? "<the index's keys>" : join(a.columns, ", ");
    std::string create = sql::keyword_at(sql::clean(st.text), 7, "UNIQUE") ? "CREATE UNIQUE INDEX " : "CREATE INDEX ";
    f.hint = "CREATE INDEX CONCURRENTLY does not work on a partitioned table; build the index per partition:\n" +
             create + idx + " ON ONLY " + a.rel.name + " (" + cols + ");\n";
    for (const RelationFacts* part : parts) {
      const std::string& p = part->name;
      std::string pidx = text::new_name(st, NameKind::Relation, part->oid, p, key, "idx");
      f.hint += create.substr(0, create.size() - 1) + " CONCURRENTLY " + pidx + " ON " + p + " (" + cols + ");\n";
      f.hint += "ALTER INDEX " + idx + " ATTACH PARTITION " + sql::schema_prefix(p) + pidx + ";\n";
    }
    f.hint += "-- the parent's index becomes valid once every partition's index is attached";
  } else {
    f.detail += " Reads go on; every INSERT, UPDATE and DELETE waits until the index is built.";
    f.hint = "Build it without blocking writes (outside a transaction block):\n" + concurrent_create(st, a) +
             ";\n-- if it fails it leaves an INVALID index behind: drop it with DROP INDEX CONCURRENTLY and run it again";
  }
  out.push_back(std::move(f));
}

void reindex(const Statement& st, const Action& a, Findings& out) {
  bool one_index = !a.index.empty();
  std::string target = one_index ? "INDEX " + a.index : "TABLE " + a.rel.name;
  Finding f;
  f.rule = "reindex-without-concurrently";
  f.severity = Severity::Critical;
  f.relation = a.rel.name;
  f.lock = st.strongest_lock;
  f.message = "REINDEX " + target + " without CONCURRENTLY blocks " +
              (a.rebuilt_indexes.empty() ? std::string("writes") : std::string("reads and writes")) + " on " +
              a.rel.name + " while it rebuilds";
  f.detail = text::facts(a, LockMode::None);
  if (!a.rebuilt_indexes.empty()) {
    bool many = a.rebuilt_indexes.size() > 1;
    f.detail += std::string(" Index") + (many ? "es " : " ") + join(a.rebuilt_indexes, ", ") +
                (many ? " are" : " is") + " rebuilt under AccessExclusiveLock: queries on " + a.rel.name +
                " wait for " + (many ? "them" : "it") + " as soon as the planner opens the table's indexes.";
  }
  f.hint = "Rebuild without blocking reads or writes (outside a transaction block):\nREINDEX " +
           (one_index ? "INDEX CONCURRENTLY " + a.index : "TABLE CONCURRENTLY " + a.rel.name) + ";";
  out.push_back(std::move(f));
}

void in_transaction(const Statement& st, const Action& a, Findings& out) {
  std::string what = a.op == Op::CreateIndex ? "CREATE INDEX CONCURRENTLY" : "REINDEX CONCURRENTLY";
  Finding f;
  f.rule = "concurrently-in-transaction";
  f.severity = Severity::Warning;
  f.relation = a.rel.name;
  f.lock = st.strongest_lock;
  f.message = what + " on " + a.rel.name + " cannot run inside a transaction block";
  f.detail = "It waits for every transaction that could still see the table without the index, which it can "
             "only do between transactions of its own: PostgreSQL rejects it inside BEGIN ... COMMIT.";
  std::string stmt = sql::clean(st.text);
  if (stmt.empty())
    stmt = a.op == Op::CreateIndex ? concurrent_create(st, a)
                                   : "REINDEX " + (a.index.empty() ? "TABLE CONCURRENTLY " + a.rel.name
                                                                   : "INDEX CONCURRENTLY " + a.index);
  f.hint = "End the transaction first, then run it on its own:\nCOMMIT;\n" + stmt + ";";
  out.push_back(std::move(f));
}

}  // namespace

void add_index_rules(Rules& r) {
  r.push_back({"index-without-concurrently", Severity::Critical,
               "CREATE INDEX without CONCURRENTLY on an existing table: SHARE lock (writes wait) for the whole build",
               "CREATE INDEX CONCURRENTLY outside a transaction block (per partition, then ATTACH, for a "
               "partitioned table)"});
  r.push_back({"reindex-without-concurrently", Severity::Critical,
               "REINDEX INDEX / TABLE without CONCURRENTLY: SHARE on the table and ACCESS EXCLUSIVE on each index "
               "(reads that plan on the table wait too)",
               "REINDEX INDEX CONCURRENTLY / REINDEX TABLE CONCURRENTLY outside a transaction block"});
  r.push_back({"concurrently-in-transaction", Severity::Warning,
               "CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY inside a transaction block, which PostgreSQL "
               "rejects",
               "COMMIT first and run the statement on its own"});
}

void check_indexes(const Statement& st, const Action& a, Findings& out) {
  if (!a.recursed_from.empty()) return;  // judged on the relation the user named
  if (a.op == Op::CreateIndex) {
    // CREATE INDEX ... ON ONLY a partitioned table builds nothing: an INVALID parent index, in the
    // catalog only, for the partitions' indexes to be attached to (the first step of the safe path).
    if (a.only && a.rel.kind == 'p') return;
    if (a.concurrently && a.in_transaction_block)
      in_transaction(st, a, out);
    else if (!a.concurrently)
      create_index(st, a, out);
  } else if (a.op == Op::Reindex) {
    if (a.rel.kind == 'i' || a.rel.kind == 'I') return;
    if (a.rebuilt_indexes.empty() && a.rel.kind != 'p') return;  // a table without indexes: nothing to rebuild
    if (a.concurrently && a.in_transaction_block)
      in_transaction(st, a, out);
    else if (!a.concurrently)
      reindex(st, a, out);
  }
}

}  // namespace zdm::rules
