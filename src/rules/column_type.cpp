// rewrite-column-type, rebuild-index-column-type, revalidate-check-column-type.
#include <string>

#include "rules/alter_effective.hpp"
#include "rules/families.hpp"
#include "rules/rules.hpp"
#include "rules/statement_text.hpp"

namespace zdm::rules {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); i++) s += (i ? ", " : "") + v[i];
  return s;
}

bool integer_type(const std::string& t) { return t == "smallint" || t == "integer" || t == "bigint"; }

// "FOREIGN KEY (c) REFERENCES ..." with the column renamed to n (a single-column key).
std::string on_column(const std::string& definition, const std::string& c, const std::string& n) {
  std::string from = "(" + c + ")";
  size_t pos = definition.find(from);
  if (pos == std::string::npos) return definition;
  return definition.substr(0, pos) + "(" + n + ")" + definition.substr(pos + from.size());
}

// The expand/contract recipe: a new column of the new type, a trigger, a batched backfill, then a
// swap in one short transaction that carries over what the old column was: its NOT NULL (through a
// validated CHECK, so that SET NOT NULL scans nothing), its PRIMARY KEY / UNIQUE constraint (a unique
// index built CONCURRENTLY, then USING INDEX), the foreign keys of other tables on that key and its
// own (re-added NOT VALID, validated after the swap), its default, owned sequence and identity.
std::string expand_contract(const Statement& st, const Action& a) {
  const std::string& t = a.rel.name;
  const std::string& c = a.column;
  const uint32_t table = a.rel.oid;
  std::string n = text::new_name(st, NameKind::Column, table, c, "", "new");
  std::string fn = sql::schema_prefix(t) + text::new_name(st, NameKind::Function, table, t, c, "sync");
  // With USING, the new column is computed from the user's expression; the trigger evaluates it over
  // the new row (a one-row subquery gives the expression the table's column names).
  std::string value = a.using_expr.empty() ? c : "(" + a.using_expr + ")";
  std::string from_new = a.using_expr.empty()
                             ? "NEW." + c
                             : "(SELECT " + value + " FROM (SELECT NEW.*) AS " + sql::unqualified(t) + ")";
  bool key = !a.key_constraint.empty();
  bool not_null = a.column_not_null || key;
  std::string nn = not_null ? text::new_name(st, NameKind::Constraint, table, t, n, "not_null") : "";
  std::string idx = key ? text::new_name(st, NameKind::Relation, table, t, n, "key") : "";
  // The new foreign keys' names, chosen once: they are added now and renamed at the swap.
  std::vector<std::string> new_fk_names;
  for (const ReferencingKey& fk : a.own_foreign_keys)
    new_fk_names.push_back(text::new_name(st, NameKind::Constraint, table, fk.name, "", "new"));
  std::string h =
      "Expand and contract instead:\n"
      "ALTER TABLE " + t + " ADD COLUMN " + n + " " + a.new_type + ";\n"
      "-- keep it in sync while old code still writes " + c + ":\n"
      "CREATE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW." + n + " := " + from_new +
      "; RETURN NEW; END $$;\n"
      "CREATE TRIGGER " + sql::unqualified(fn) + " BEFORE INSERT OR UPDATE ON " + t +
      " FOR EACH ROW EXECUTE FUNCTION " + fn + "();\n"
      "CALL zdm.backfill(" + text::literal(t) + ", " + text::literal(n + " = " + value) + ", " +
      text::literal(n + " IS DISTINCT FROM " + value) + ");\n";
  if (key || not_null || !a.own_foreign_keys.empty()) {
    h += "-- prepare what " + c + " is, without blocking writes:\n";
    if (key) h += "CREATE UNIQUE INDEX CONCURRENTLY " + idx + " ON " + t + " (" + n + ");\n";
    if (not_null)
      h += "ALTER TABLE " + t + " ADD CONSTRAINT " + nn + " CHECK (" + n + " IS NOT NULL) NOT VALID;\n"
           "ALTER TABLE " + t + " VALIDATE CONSTRAINT " + nn + ";\n";
    for (size_t i = 0; i < a.own_foreign_keys.size(); i++) {
      const ReferencingKey& fk = a.own_foreign_keys[i];
      const std::string& k = new_fk_names[i];
      h += "ALTER TABLE " + t + " ADD CONSTRAINT " + k + " " + on_column(fk.definition, c, n) + " NOT VALID;\n"
           "ALTER TABLE " + t + " VALIDATE CONSTRAINT " + k + ";\n";
    }
  }
  // The swap is meant to hold its locks for a moment only, as one transaction: what the guard would
  // say of its statements one by one is allowed for it.
  h += "-- then swap the columns in one short transaction (clients keep using " + c + " throughout):\n"
       "BEGIN;\nSET LOCAL lock_timeout = '2s';\n"
       "SET LOCAL zdm.allow = 'statement-after-access-exclusive,breaking-drop-column,breaking-rename-column';\n";
  if (not_null) h += "ALTER TABLE " + t + " ALTER COLUMN " + n + " SET NOT NULL;  -- no scan: the CHECK proves it\n";
  for (const ReferencingKey& fk : a.referencing_keys)
    h += "ALTER TABLE " + fk.table + " DROP CONSTRAINT " + fk.name + ";\n";
  if (key)
    h += "ALTER TABLE " + t + " DROP CONSTRAINT " + a.key_constraint + ", ADD CONSTRAINT " + a.key_constraint +
         (a.key_constraint_type == 'p' ? " PRIMARY KEY" : " UNIQUE") + " USING INDEX " + idx + ";\n";
  if (!a.column_default.empty() && !a.identity)
    h += "ALTER TABLE " + t + " ALTER COLUMN " + n + " SET DEFAULT " + a.column_default + ";\n";
  if (!a.owned_sequence.empty() && !a.identity) {
    // The sequence goes with the column that owns it: hand it to the new one first.
    h += "ALTER SEQUENCE " + a.owned_sequence + " OWNED BY " + t + "." + n + ";\n";
    if (integer_type(a.new_type) && !a.owned_sequence_type.empty() && a.owned_sequence_type != a.new_type)
      h += "ALTER SEQUENCE " + a.owned_sequence + " AS " + a.new_type + ";\n";
  }
  h += "ALTER TABLE " + t + " DROP COLUMN " + c + ";\n"
       "ALTER TABLE " + t + " RENAME COLUMN " + n + " TO " + c + ";\n";
  if (a.identity)
    h += "ALTER TABLE " + t + " ALTER COLUMN " + c + " ADD GENERATED " +
         (a.identity_kind == 'a' ? "ALWAYS" : "BY DEFAULT") + " AS IDENTITY;\n"
         "SELECT setval(pg_get_serial_sequence(" + text::literal(t) + ", " + text::literal(text::unquote(c)) + "), max(" + c +
         ")) FROM " + t + ";\n";
  for (size_t i = 0; i < a.own_foreign_keys.size(); i++)
    h += "ALTER TABLE " + t + " RENAME CONSTRAINT " + new_fk_names[i] + " TO " + a.own_foreign_keys[i].name + ";\n";
  if (not_null) h += "ALTER TABLE " + t + " DROP CONSTRAINT " + nn + ";\n";
  for (const ReferencingKey& fk : a.referencing_keys)
    h += "ALTER TABLE " + fk.table + " ADD CONSTRAINT " + fk.name + " " + fk.definition + " NOT VALID;\n";
  h += "DROP FUNCTION " + fn + "() CASCADE;\nCOMMIT;";
  if (!a.referencing_keys.empty()) {
    h += "\n-- then check the re-added foreign keys without blocking writes:";
    for (const ReferencingKey& fk : a.referencing_keys)
      h += "\nALTER TABLE " + fk.table + " VALIDATE CONSTRAINT " + fk.name + ";";
  }
  return h;
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
    Finding f;
    f.rule = "rewrite-column-type";
    f.severity = Severity::Critical;
    f.relation = t;
    f.lock = st.strongest_lock;
    f.message = "changing column " + c + " of " + t + " from " + a.old_type + " to " + a.new_type +
                " rewrites the whole table";
    f.detail = text::facts(a, st.strongest_lock) + children_note(eff);
    f.hint = expand_contract(st, a);
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
      f.hint = expand_contract(st, a);
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
