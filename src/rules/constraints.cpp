// set-not-null-without-check, constraint-without-not-valid, constraint-builds-index,
// primary-key-nullable-columns, attach-partition-scan, domain-constraint-scan.
//
// Each of these makes PostgreSQL read every row while it holds a lock that blocks writes (mostly
// ACCESS EXCLUSIVE, which blocks reads too). The safe path moves the scan under a weaker lock:
// NOT VALID + VALIDATE CONSTRAINT (SHARE UPDATE EXCLUSIVE), CREATE INDEX CONCURRENTLY + USING INDEX,
// and a validated CHECK that lets SET NOT NULL / ATTACH PARTITION skip their scan.
#include <string>

#include "rules/alter_effective.hpp"
#include "rules/families.hpp"
#include "rules/rules.hpp"

namespace zdm::rules {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); i++) s += (i ? ", " : "") + v[i];
  return s;
}

std::string not_null_steps(const Statement& st, const Action& a, const std::string& c) {
  const std::string& t = a.rel.name;
  std::string k = text::new_name(st, NameKind::Constraint, a.rel.oid, t, c, "not_null");
  return "ALTER TABLE " + t + " ADD CONSTRAINT " + k + " CHECK (" + c + " IS NOT NULL) NOT VALID;\n"
         "ALTER TABLE " + t + " VALIDATE CONSTRAINT " + k + ";\n"
         "ALTER TABLE " + t + " ALTER COLUMN " + c + " SET NOT NULL;\n"
         "ALTER TABLE " + t + " DROP CONSTRAINT " + k + ";\n";
}

Finding finding(const char* rule, const Statement& st, const Effective& eff, std::string message) {
  const Action& a = eff.action;
  Finding f;
  f.rule = rule;
  f.severity = find_rule(rule) ? find_rule(rule)->severity : Severity::Critical;
  f.relation = a.rel.name;
  f.lock = st.strongest_lock;
  f.message = std::move(message);
  f.detail = text::facts(a, st.strongest_lock) + children_note(eff);
  return f;
}

const char* kind_sql(char type) {
  switch (type) {
    case 'p': return "PRIMARY KEY";
    case 'u': return "UNIQUE";
    case 'x': return "EXCLUDE";
    case 'f': return "FOREIGN KEY";
    default: return "CHECK";
  }
}

void check_set_not_null(const Statement& st, const Action& named, Findings& out) {
  if (!named.recursed_from.empty()) return;  // judged on the table the user named
  const Effective eff = effective(st, named);
  const Action& a = eff.action;
  if (!a.scan || a.valid_not_null_check) return;
  Finding f = finding("set-not-null-without-check", st, eff,
                      "setting column " + a.column + " of " + a.rel.name + " NOT NULL scans the whole table");
  f.detail += " No valid CHECK constraint proves " + a.column + " IS NOT NULL, so PostgreSQL verifies every row.";
  f.hint = "Prove it first under a lock that does not block writes; SET NOT NULL then skips the scan:\n" +
           not_null_steps(st, a, a.column);
  f.hint.pop_back();
  out.push_back(std::move(f));
}

void check_add_constraint(const Statement& st, const Action& named, Findings& out) {
  if (!named.recursed_from.empty()) return;  // judged on the table the user named
  const Effective eff = effective(st, named);
  const Action& a = eff.action;
  if (a.referenced_side || !a.scan) return;
  const std::string& t = a.rel.name;
  const std::string& k = a.constraint;
  if (a.constraint_type == 'c' || a.constraint_type == 'f') {
    std::string def = a.constraint_def.empty() ? std::string(kind_sql(a.constraint_type)) + " (...)" : a.constraint_def;
    Finding f = finding("constraint-without-not-valid", st, eff,
                        std::string("adding ") + kind_sql(a.constraint_type) + " constraint " + k + " to " + t +
                            " validates every row while holding the lock");
    if (a.constraint_type == 'f')
      f.detail += " The referenced table " + a.referenced + " is locked SHARE ROW EXCLUSIVE (blocks writes) too.";
    f.hint = "Add it NOT VALID (new rows are checked at once), then validate under SHARE UPDATE EXCLUSIVE, which "
             "does not block reads or writes:\n"
             "ALTER TABLE " + t + " ADD CONSTRAINT " + k + " " + def + " NOT VALID;\n"
             "ALTER TABLE " + t + " VALIDATE CONSTRAINT " + k + ";";
    out.push_back(std::move(f));
    return;
  }
  if (a.constraint_type != 'p' && a.constraint_type != 'u' && a.constraint_type != 'x') return;
  if (a.using_index) {
    // USING INDEX: no index build; only a PRIMARY KEY over nullable columns scans.
    if (a.constraint_type != 'p' || a.nullable_columns.empty()) return;
    Finding f = finding("primary-key-nullable-columns", st, eff,
                        "adding primary key " + k + " to " + t + " using index " + a.index + " sets column" +
                            (a.nullable_columns.size() > 1 ? "s " : " ") + join(a.nullable_columns) +
                            " NOT NULL, which scans the whole table");
    f.hint = "Prove the columns NOT NULL first, under a lock that does not block writes:\n";
    for (const std::string& c : a.nullable_columns) f.hint += not_null_steps(st, a, c);
    f.hint += "ALTER TABLE " + t + " ADD CONSTRAINT " + k + " PRIMARY KEY USING INDEX " + a.index + ";";
    out.push_back(std::move(f));
    return;
  }
  Finding f = finding("constraint-builds-index", st, eff,
                      std::string("adding ") + kind_sql(a.constraint_type) + " constraint " + k + " to " + t +
                          " builds its index while holding the lock");
  if (a.constraint_type == 'x') {
    f.hint = "PostgreSQL cannot attach an exclusion constraint to an index built beforehand, so this one always "
             "builds under ACCESS EXCLUSIVE: run it in a quiet period with a short lock_timeout and retries:\n"
             "SET lock_timeout = '2s';";
    out.push_back(std::move(f));
    return;
  }
  f.hint = "Build the unique index without blocking writes, then attach it (a catalog change):\n";
  for (const std::string& c : a.nullable_columns) f.hint += not_null_steps(st, a, c);
  f.hint += (a.index_def.empty() ? "CREATE UNIQUE INDEX CONCURRENTLY " + a.index + " ON " + t + " (" + join(a.columns) + ")"
                                 : a.index_def) +
            ";\n"
            "ALTER TABLE " + t + " ADD CONSTRAINT " + k + " " + kind_sql(a.constraint_type) + " USING INDEX " +
            a.index + a.constraint_def + ";";
  out.push_back(std::move(f));
}

// One ATTACH PARTITION (or CREATE TABLE ... PARTITION OF) can make PostgreSQL read two tables: the
// table attached, to check its rows against the bound (and build the parent's indexes it lacks), and
// the default partition, to check none of its rows belongs to the new bound. Each read gets its own
// finding, and both findings hand back the same recipe, which prepares both so that the statement
// neither scans nor builds: the missing indexes, a validated CHECK on each table proving what
// PostgreSQL would check, the statement, then the CHECKs dropped.
std::string attach_recipe(const Statement& st) {
  std::string prepare, drop, statement;
  for (const Action& b : st.actions) {
    if (b.op != Op::AttachPartition || !b.recursed_from.empty() || b.parent.empty()) continue;
    const Action& a = effective(st, b).action;
    if (!a.scan) continue;
    const std::string& p = a.rel.name;
    if (statement.empty())
      statement = a.command == "CREATE TABLE" ? st.text
                  : "ALTER TABLE " + a.parent + " ATTACH PARTITION " + (a.default_partition ? a.new_name : p) + " " +
                        (a.partition_bound.empty() ? "FOR VALUES ..." : a.partition_bound);
    if (!a.default_partition)
      for (const std::string& def : a.rebuilt_index_defs) prepare += def + ";\n";
    if (a.default_partition || !a.partition_constraint_implied) {
      std::string k = text::new_name(st, NameKind::Constraint, a.rel.oid, p, "", "bound");
      std::string expr = a.constraint_expr.empty() ? "<partition constraint>" : a.constraint_expr;
      prepare += "ALTER TABLE " + p + " ADD CONSTRAINT " + k + " CHECK (" + expr + ") NOT VALID;\n"
                 "ALTER TABLE " + p + " VALIDATE CONSTRAINT " + k + ";\n";
      drop += "\nALTER TABLE " + p + " DROP CONSTRAINT " + k + ";";
    }
  }
  return prepare + statement + ";" + drop;
}

void check_attach_partition(const Statement& st, const Action& named, Findings& out) {
  if (!named.recursed_from.empty()) return;  // judged on the table the user named
  const Effective eff = effective(st, named);
  const Action& a = eff.action;
  if (!a.scan || a.parent.empty()) return;
  const std::string& p = a.rel.name;
  if (a.default_partition) {
    // ATTACH PARTITION and CREATE TABLE ... PARTITION OF both check the default partition
    // (partbounds.c check_default_partition_contents); the proof lets either skip the scan.
    bool creates = a.command == "CREATE TABLE";
    Finding f = finding("attach-partition-scan", st, eff,
                        (creates ? "creating partition " + a.new_name + " of " : "attaching " + a.new_name + " to ") +
                            a.parent + " scans its default partition " + p);
    f.detail += " Rows of the new bound must not be left in the default partition, and no valid CHECK on " + p +
                " proves it.";
    f.hint = std::string("Prove it first under a lock that does not block writes; the ") +
             (creates ? "CREATE TABLE" : "attach") + " then skips the scan:\n" + attach_recipe(st);
    out.push_back(std::move(f));
    return;
  }
  bool builds = !a.rebuilt_indexes.empty();
  bool proves = !a.partition_constraint_implied;
  std::string what = proves ? "scans " + p + " to check the partition bound" : "";
  if (builds)
    what += std::string(proves ? " and " : "") + "builds index" + (a.rebuilt_indexes.size() > 1 ? "es " : " ") +
            join(a.rebuilt_indexes) + " on " + p;
  Finding f = finding("attach-partition-scan", st, eff, "attaching " + p + " to " + a.parent + " " + what);
  if (proves) f.detail += " No valid CHECK constraint on " + p + " implies the partition constraint.";
  if (builds) f.detail += " " + p + " has no index matching the parent's, so PostgreSQL builds it under the lock.";
  f.hint = "Prepare " + p + " first without blocking writes; the attach then neither scans nor builds:\n" +
           attach_recipe(st);
  out.push_back(std::move(f));
}

// ALTER DOMAIN ... ADD CONSTRAINT / VALIDATE CONSTRAINT / SET NOT NULL: one finding for the statement,
// on the first table it must read, naming every table (typecmds.c validateDomainConstraint holds
// SHARE on each while it reads them all).
void check_domain(const Statement& st, const Action& a, Findings& out) {
  std::vector<std::string> tables;
  std::vector<std::string> columns;
  bool first = true;
  for (const Action& b : st.actions) {
    if (b.op != Op::AlterDomainCheck || !b.scan || !b.rel.visible_to_others()) continue;
    if (tables.empty()) first = &b == &a;
    columns.push_back(b.rel.name + "." + b.column);
    bool seen = false;
    for (const std::string& t : tables) seen = seen || t == b.rel.name;
    if (!seen) tables.push_back(b.rel.name);
  }
  if (!first || tables.empty() || !a.scan) return;
  const std::string& d = a.old_type;
  Effective eff{a, 0};
  Finding f = finding("domain-constraint-scan", st, eff,
                      "ALTER DOMAIN " + d + " " + a.new_name + " reads every row of " + join(tables) +
                          " while holding SHARE locks that block writes");
  f.detail += " Column" + std::string(columns.size() > 1 ? "s " : " ") + join(columns) + " of type " + d + ": " +
              (tables.size() > 1 ? "each table is read in full, all in this one statement." : "it is read in full.");
  // PostgreSQL names an unnamed domain CHECK as this chooses it (typecmds.c domainAddConstraint).
  std::string k = a.constraint.empty() ? text::new_name(st, NameKind::DomainConstraint, a.domain, d, "", "check")
                                       : a.constraint;
  std::string not_null = a.new_name == "SET NOT NULL"
                             ? text::new_name(st, NameKind::DomainConstraint, a.domain, d, "", "not_null")
                             : "";
  if (a.new_name == "VALIDATE CONSTRAINT") {
    f.hint = "PostgreSQL 15 validates a domain constraint only under SHARE on every table using it. New rows are "
             "checked already; run the validation at a quiet time, with a bounded wait:\n"
             "SET lock_timeout = '2s';\nALTER DOMAIN " + d + " VALIDATE CONSTRAINT " + k + ";\nRESET lock_timeout;";
  } else {
    std::string add = a.new_name == "SET NOT NULL"
                          ? "ALTER DOMAIN " + d + " ADD CONSTRAINT " + not_null +
                                " CHECK (VALUE IS NOT NULL) NOT VALID"
                          : st.text + " NOT VALID";
    f.hint = "Add it NOT VALID: new and updated rows are checked at once and no row is read now:\n" + add +
             ";\n-- later, at a quiet time (it still takes SHARE on each table while it reads them):\n"
             "SET lock_timeout = '2s';\nALTER DOMAIN " + d + " VALIDATE CONSTRAINT " +
             (a.new_name == "SET NOT NULL" ? not_null : k) + ";\nRESET lock_timeout;";
  }
  out.push_back(std::move(f));
}

}  // namespace

void add_constraint_rules(Rules& r) {
  r.push_back({"set-not-null-without-check", Severity::Critical,
               "ALTER COLUMN ... SET NOT NULL with no valid CHECK (col IS NOT NULL): a full scan under ACCESS "
               "EXCLUSIVE",
               "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (no scan) and drop the CHECK"});
  r.push_back({"constraint-without-not-valid", Severity::Critical,
               "ADD CONSTRAINT ... CHECK / FOREIGN KEY without NOT VALID: every row is validated while the lock is "
               "held (a foreign key also locks the referenced table)",
               "add the constraint NOT VALID, then VALIDATE CONSTRAINT, which takes SHARE UPDATE EXCLUSIVE"});
  r.push_back({"constraint-builds-index", Severity::Critical,
               "ADD CONSTRAINT ... UNIQUE / PRIMARY KEY / EXCLUDE without USING INDEX: the index is built under "
               "ACCESS EXCLUSIVE",
               "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX"});
  r.push_back({"primary-key-nullable-columns", Severity::Critical,
               "ADD PRIMARY KEY ... USING INDEX over columns not yet NOT NULL: SET NOT NULL scans under ACCESS "
               "EXCLUSIVE",
               "make the columns NOT NULL through validated CHECK constraints first"});
  r.push_back({"attach-partition-scan", Severity::Critical,
               "ATTACH PARTITION where no valid CHECK implies the partition bound: the partition (or the default "
               "partition) is scanned under ACCESS EXCLUSIVE",
               "add a CHECK matching the bound NOT VALID, VALIDATE it, attach, then drop the CHECK"});
  r.push_back({"domain-constraint-scan", Severity::Critical,
               "ALTER DOMAIN ... ADD CONSTRAINT (without NOT VALID), VALIDATE CONSTRAINT or SET NOT NULL: every table "
               "with a column of the domain is read under SHARE, which blocks writes",
               "add the domain constraint NOT VALID (new rows are checked at once) and validate at a quiet time with "
               "lock_timeout"});
}

void check_constraints(const Statement& st, const Action& a, Findings& out) {
  switch (a.op) {
    case Op::SetNotNull: check_set_not_null(st, a, out); break;
    case Op::AddConstraint: check_add_constraint(st, a, out); break;
    case Op::AttachPartition: check_attach_partition(st, a, out); break;
    case Op::AlterDomainCheck: check_domain(st, a, out); break;
    default: break;
  }
}

}  // namespace zdm::rules
