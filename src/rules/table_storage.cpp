// rewrite-set-logged, rewrite-set-unlogged, rewrite-set-tablespace, rewrite-set-access-method.
//
// Each gives the table a new relfilenode while ACCESS EXCLUSIVE is held: SET LOGGED / UNLOGGED and
// SET ACCESS METHOD rewrite every row (tablecmds.c: AT_REWRITE_ALTER_PERSISTENCE,
// AT_REWRITE_ACCESS_METHOD), SET TABLESPACE copies every block (ATExecSetTableSpace). None has an
// online form in PostgreSQL: the safe path is a copy kept in sync, then a swap.
#include <string>

#include "rules/alter_effective.hpp"
#include "rules/families.hpp"
#include "rules/rules.hpp"
#include "rules/statement_text.hpp"

namespace zdm::rules {

namespace {

// Copy, sync, swap: the expand/contract of a whole table. The copy goes in the table's schema.
std::string copy_and_swap(const Statement& st, const Action& a, const std::string& create_suffix) {
  const std::string& t = a.rel.name;
  std::string n = sql::schema_prefix(t) + text::new_name(st, NameKind::Relation, a.rel.oid, t, "", "new");
  std::string o = text::new_name(st, NameKind::Relation, a.rel.oid, t, "", "old");
  return "CREATE " + create_suffix.substr(0, create_suffix.find('|')) + "TABLE " + n + " (LIKE " + t +
         " INCLUDING ALL)" + create_suffix.substr(create_suffix.find('|') + 1) + ";\n"
         "-- copy the rows in batches and keep " + n + " in sync with a trigger on " + t + " (or use pg_repack), then swap:\n"
         "BEGIN;\nSET LOCAL lock_timeout = '2s';\n"
         "SET LOCAL zdm.allow = 'breaking-rename-table,statement-after-access-exclusive';\n"
         "ALTER TABLE " + t + " RENAME TO " + o + ";\nALTER TABLE " + n + " RENAME TO " + sql::unqualified(t) +
         ";\nCOMMIT;";
}

Finding finding(const char* rule, const Statement& st, const Effective& eff, std::string message) {
  const Action& a = eff.action;
  Finding f;
  f.rule = rule;
  f.severity = Severity::Critical;
  f.relation = a.rel.name;
  f.lock = st.strongest_lock;
  f.message = std::move(message);
  f.detail = text::facts(a, st.strongest_lock) + children_note(eff);
  return f;
}

}  // namespace

void add_table_storage_rules(Rules& r) {
  r.push_back({"rewrite-set-logged", Severity::Critical,
               "ALTER TABLE ... SET LOGGED on an unlogged table: rewrites it (and writes it all to WAL) under "
               "ACCESS EXCLUSIVE",
               "build a logged copy, keep it in sync, and swap names in one short transaction"});
  r.push_back({"rewrite-set-unlogged", Severity::Critical,
               "ALTER TABLE ... SET UNLOGGED on a logged table: rewrites it under ACCESS EXCLUSIVE",
               "build an unlogged copy, keep it in sync, and swap names in one short transaction"});
  r.push_back({"rewrite-set-tablespace", Severity::Critical,
               "ALTER TABLE ... SET TABLESPACE to another tablespace: copies every block under ACCESS EXCLUSIVE",
               "move it with pg_repack --tablespace, or a copy in the new tablespace kept in sync, then a swap"});
  r.push_back({"rewrite-set-access-method", Severity::Critical,
               "ALTER TABLE ... SET ACCESS METHOD to a different method: rewrites the table under ACCESS EXCLUSIVE",
               "build a copy USING the new method, keep it in sync, and swap names in one short transaction"});
}

void check_table_storage(const Statement& st, const Action& named, Findings& out) {
  if (!named.recursed_from.empty()) return;  // judged on the table the user named
  const Effective eff = effective(st, named);
  const Action& a = eff.action;
  if (!a.rewrite) return;
  const std::string& t = a.rel.name;
  switch (a.op) {
    case Op::SetLogged: {
      Finding f = finding("rewrite-set-logged", st, eff, "setting " + t + " LOGGED rewrites the whole table");
      f.detail += " Every row is also written to WAL.";
      f.hint = "Copy instead of rewriting under the lock:\n" + copy_and_swap(st, a, "|");
      out.push_back(std::move(f));
      break;
    }
    case Op::SetUnlogged: {
      Finding f = finding("rewrite-set-unlogged", st, eff, "setting " + t + " UNLOGGED rewrites the whole table");
      f.hint = "Copy instead of rewriting under the lock:\n" + copy_and_swap(st, a, "UNLOGGED |");
      out.push_back(std::move(f));
      break;
    }
    case Op::SetTablespace: {
      if (a.rel.kind == 'i') {
        // ALTER INDEX ... SET TABLESPACE: REINDEX can move an index without blocking writes (PostgreSQL 14+).
        Finding f = finding("rewrite-set-tablespace", st, eff,
                            "moving index " + t + " to tablespace " + a.new_name + " copies every block of the index");
        const std::string said = "; rewrites the table and rebuilds its indexes.";
        size_t pos = f.detail.find(said);
        if (pos != std::string::npos)
          f.detail.replace(pos, said.size(),
                           "; copies every block of the index to the new tablespace. Queries that plan with the "
                           "index wait for it too.");
        f.hint = "Rebuild it in the new tablespace without blocking writes:\n"
                 "REINDEX (TABLESPACE " + a.new_name + ") INDEX CONCURRENTLY " + t + ";";
        out.push_back(std::move(f));
        break;
      }
      Finding f = finding("rewrite-set-tablespace", st, eff,
                          "moving " + t + " to tablespace " + a.new_name + " copies every block of the table");
      const std::string said = "; rewrites the table and rebuilds its indexes.";
      size_t pos = f.detail.find(said);
      if (pos != std::string::npos)
        f.detail.replace(pos, said.size(), "; copies every block of the table (not its indexes) to the new tablespace.");
      f.hint = "Move it without the long lock:\n"
               "pg_repack --table=" + t + " --tablespace=" + a.new_name + "\n"
               "-- or copy and swap:\n" + copy_and_swap(st, a, "| TABLESPACE " + a.new_name);
      out.push_back(std::move(f));
      break;
    }
    case Op::SetAccessMethod: {
      Finding f = finding("rewrite-set-access-method", st, eff,
                          "changing the access method of " + t + " to " + a.new_name + " rewrites the whole table");
      f.hint = "Copy instead of rewriting under the lock:\n" + copy_and_swap(st, a, "| USING " + a.new_name);
      out.push_back(std::move(f));
      break;
    }
    default:
      break;
  }
}

}  // namespace zdm::rules
