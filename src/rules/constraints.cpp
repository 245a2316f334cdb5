// set-not-null-without-check, constraint-without-not-valid, constraint-builds-index,
// primary-key-nullable-columns, attach-partition-scan.
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

std::string bare(const std::string& name) {
  size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); i++) s += (i ? ", " : "") + v[i];
  return s;
}

std::string not_null_steps(const std::string& t, const std::string& c) {
  std::string k = text::derive(text::derive(bare(t), "_"), c + "_not_null");
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
           not_null_steps(a.rel.name, a.column);
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
    for (const std::string& c : a.nullable_columns) f.hint += not_null_steps(t, c);
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
  for (const std::string& c : a.nullable_columns) f.hint += not_null_steps(t, c);
  f.hint += (a.index_def.empty() ? "CREATE UNIQUE INDEX CONCURRENTLY " + a.index + " ON " + t + " (" + join(a.columns) + ")"
                                 : a.index_def) +
            ";\n"
            "ALTER TABLE " + t + " ADD CONSTRAINT " + k + " " + kind_sql(a.constraint_type) + " USING INDEX " +
            a.index + a.constraint_def + ";";
  out.push_back(std::move(f));
}

void check_attach_partition(const Statement& st, const Action& named, Findings& out) {
  if (!named.recursed_from.empty()) return;  // judged on the table the user named
  const Effective eff = effective(st, named);
  const Action& a = eff.action;
  if (!a.scan || a.parent.empty()) return;
  const std::string& p = a.rel.name;
  std::string k = text::derive(bare(p), "_bound");
  std::string expr = a.constraint_expr.empty() ? "<partition constraint>" : a.constraint_expr;
  std::string bound = a.partition_bound.empty() ? "FOR VALUES ..." : a.partition_bound;
  if (a.default_partition) {
    Finding f = finding("attach-partition-scan", st, eff,
                        "attaching " + a.new_name + " to " + a.parent + " scans its default partition " + p);
    f.detail += " Rows of the new bound must not be left in the default partition, and no valid CHECK on " + p +
                " proves it.";
    f.hint = "Prove it first under a lock that does not block writes; the attach then skips the scan:\n"
             "ALTER TABLE " + p + " ADD CONSTRAINT " + k + " CHECK (" + expr + ") NOT VALID;\n"
             "ALTER TABLE " + p + " VALIDATE CONSTRAINT " + k + ";\n"
             "ALTER TABLE " + a.parent + " ATTACH PARTITION " + a.new_name + " " + bound + ";\n"
             "ALTER TABLE " + p + " DROP CONSTRAINT " + k + ";";
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
  f.hint = "Prepare " + p + " first without blocking writes; the attach then neither scans nor builds:\n";
  for (const std::string& def : a.rebuilt_index_defs) f.hint += def + ";\n";
  if (proves)
    f.hint += "ALTER TABLE " + p + " ADD CONSTRAINT " + k + " CHECK (" + expr + ") NOT VALID;\n"
              "ALTER TABLE " + p + " VALIDATE CONSTRAINT " + k + ";\n";
  f.hint += "ALTER TABLE " + a.parent + " ATTACH PARTITION " + p + " " + bound + ";";
  if (proves) f.hint += "\nALTER TABLE " + p + " DROP CONSTRAINT " + k + ";";
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
}

void check_constraints(const Statement& st, const Action& a, Findings& out) {
  switch (a.op) {
    case Op::SetNotNull: check_set_not_null(st, a, out); break;
    case Op::AddConstraint: check_add_constraint(st, a, out); break;
    case Op::AttachPartition: check_attach_partition(st, a, out); break;
    default: break;
  }
}

}  // namespace zdm::rules
