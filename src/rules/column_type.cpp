// rewrite-column-type, rebuild-index-column-type, revalidate-check-column-type.
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

// The expand/contract recipe: a new column of the new type, a trigger, a batched backfill, the swap.
std::string expand_contract(const Action& a) {
  const std::string& t = a.rel.name;
  const std::string& c = a.column;
  std::string n = text::derive(c, "_new");
  std::string fn = text::derive(text::derive(bare(t), "_"), c + "_sync");
  // With USING, the new column is computed from the user's expression; the trigger evaluates it over
  // the new row (a one-row subquery gives the expression the table's column names).
  std::string value = a.using_expr.empty() ? c : "(" + a.using_expr + ")";
  std::string from_new = a.using_expr.empty()
                             ? "NEW." + c
                             : "(SELECT " + value + " FROM (SELECT NEW.*) AS " + bare(t) + ")";
  return
      "Expand and contract instead:\n"
      "ALTER TABLE " + t + " ADD COLUMN " + n + " " + a.new_type + ";\n"
      "-- keep it in sync while old code still writes " + c + ":\n"
      "CREATE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW." + n + " := " + from_new +
      "; RETURN NEW; END $$;\n"
      "CREATE TRIGGER " + fn + " BEFORE INSERT OR UPDATE ON " + t + " FOR EACH ROW EXECUTE FUNCTION " + fn + "();\n"
      "CALL zdm.backfill(" + text::literal(t) + ", " + text::literal(n + " = " + value) + ", " +
      text::literal(n + " IS DISTINCT FROM " + value) + ");\n"
      "-- switch reads to " + n + ", then contract:\n"
      "BEGIN; ALTER TABLE " + t + " DROP COLUMN " + c + "; ALTER TABLE " + t + " RENAME COLUMN " + n + " TO " + c +
      "; DROP FUNCTION " + fn + "() CASCADE; COMMIT;";
}

}  // namespace

void add_column_type_rules(Rules& r) {
  r.push_back({"rewrite-column-type", Severity::Critical,
               "ALTER COLUMN ... TYPE that rewrites the table (and rebuilds its indexes) under ACCESS EXCLUSIVE",
               "add a new column of the new type, keep it in sync with a trigger, backfill it in batches, "
               "switch reads, then drop the old column"});
  r.push_back({"rebuild-index-column-type", Severity::Critical,
               "ALTER COLUMN ... TYPE that keeps the table but rebuilds indexes on the column under ACCESS "
               "EXCLUSIVE",
               "drop the index CONCURRENTLY, change the type, build it again CONCURRENTLY; for an index behind a "
               "constraint, change the type through a new column"});
  r.push_back({"revalidate-check-column-type", Severity::Warning,
               "ALTER COLUMN ... TYPE without a rewrite that still re-validates the column's CHECK constraints "
               "(a full scan under ACCESS EXCLUSIVE)",
               "drop the CHECK and re-add it NOT VALID in the same statement, then VALIDATE it separately"});
}

void check_column_type(const Statement& st, const Action& named, std::vector<Finding>& out) {
  if (named.op != Op::AlterColumnType) return;
  if (!named.recursed_from.empty()) return;  // judged on the table the user named
  const Effective eff = effective(st, named);
  const Action& a = eff.action;
  const std::string& t = a.rel.name;
  const std::string& c = a.column;
  if (a.rewrite) {
    std::string n = text::derive(c, "_new");
    std::string fn = text::derive(text::derive(a.rel.name.substr(a.rel.name.rfind('.') + 1), "_"), c + "_sync");
    Finding f;
    f.rule = "rewrite-column-type";
    f.severity = Severity::Critical;
    f.relation = t;
    f.lock = st.strongest_lock;
    f.message = "changing column " + c + " of " + t + " from " + a.old_type + " to " + a.new_type +
                " rewrites the whole table";
    f.detail = text::facts(a, st.strongest_lock) + children_note(eff);
    f.hint = expand_contract(a);
    out.push_back(std::move(f));
    return;
  }
  if (!a.rebuilt_indexes.empty()) {
    Finding f;
    f.rule = "rebuild-index-column-type";
    f.severity = Severity::Critical;
    f.relation = t;
    f.lock = st.strongest_lock;
    f.message = "changing column " + c + " of " + t + " from " + a.old_type + " to " + a.new_type +
                " rebuilds index" + (a.rebuilt_indexes.size() > 1 ? "es " : " ") + join(a.rebuilt_indexes);
    f.detail = text::facts(a, st.strongest_lock) + children_note(eff) + " The table is not rewritten, but the index" +
               (a.rebuilt_indexes.size() > 1 ? "es are" : " is") + " rebuilt while the lock is held.";
    bool constraint_index = false;
    for (const std::string& d : a.rebuilt_index_defs) constraint_index = constraint_index || d.empty();
    if (constraint_index) {
      // An index behind a PRIMARY KEY / UNIQUE / EXCLUDE constraint cannot be dropped on its own.
      f.hint = expand_contract(a);
      out.push_back(std::move(f));
      return;
    }
    // Drop the index concurrently, change the type (now a catalog change), build it again concurrently.
    f.hint = "Rebuild the index outside the lock instead:\n";
    for (const std::string& idx : a.rebuilt_indexes) f.hint += "DROP INDEX CONCURRENTLY " + idx + ";\n";
    f.hint += "ALTER TABLE " + t + " ALTER COLUMN " + c + " TYPE " + a.new_type + ";\n";
    for (size_t i = 0; i < a.rebuilt_indexes.size(); i++) {
      std::string def = i < a.rebuilt_index_defs.size() ? a.rebuilt_index_defs[i]
                                                        : "CREATE INDEX " + a.rebuilt_indexes[i] + " ON " + t + " (" + c + ")";
      size_t pos = def.find(" INDEX ");
      if (pos != std::string::npos) def.insert(pos + 7, "CONCURRENTLY ");
      f.hint += def + ";\n";
    }
    f.hint += "-- queries run without the index in between.";
    out.push_back(std::move(f));
    return;
  }
  if (!a.revalidated_checks.empty()) {
    Finding f;
    f.rule = "revalidate-check-column-type";
    f.severity = Severity::Warning;
    f.relation = t;
    f.lock = st.strongest_lock;
    f.message = "changing column " + c + " of " + t + " from " + a.old_type + " to " + a.new_type +
                " re-validates CHECK constraint" + (a.revalidated_checks.size() > 1 ? "s " : " ") +
                join(a.revalidated_checks);
    f.detail = text::facts(a, st.strongest_lock) + children_note(eff) +
               " The table is not rewritten, but PostgreSQL re-adds the constraints that depend on the column and "
               "checks every row again.";
    std::string alter = "ALTER TABLE " + t;
    std::string validate;
    for (size_t i = 0; i < a.revalidated_checks.size(); i++) {
      const std::string& k = a.revalidated_checks[i];
      alter += " DROP CONSTRAINT " + k + ",";
      validate += "\nALTER TABLE " + t + " VALIDATE CONSTRAINT " + k + ";";
    }
    alter += " ALTER COLUMN " + c + " TYPE " + a.new_type;
    for (size_t i = 0; i < a.revalidated_checks.size(); i++) {
      std::string def = i < a.revalidated_check_defs.size() ? a.revalidated_check_defs[i] : "CHECK (...)";
      alter += ", ADD CONSTRAINT " + a.revalidated_checks[i] + " " + def + " NOT VALID";
    }
    f.hint = "Re-add the constraints NOT VALID in the same statement and validate them without blocking writes:\n" +
             alter + ";" + validate;
    out.push_back(std::move(f));
  }
}

}  // namespace zdm::rules
