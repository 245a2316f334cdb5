// add-column-volatile-default, add-column-serial, add-column-identity, add-column-generated-stored,
// add-column-domain-constraints, add-column-not-null-without-default.
//
// Since PostgreSQL 11 ADD COLUMN with a non-volatile default is a catalog change (the value is kept
// as the column's "missing value"); everything that cannot become a missing value rewrites the table
// under ACCESS EXCLUSIVE (tablecmds.c: ATExecAddColumn).
#include <string>

#include "rules/alter_effective.hpp"
#include "rules/families.hpp"
#include "rules/rules.hpp"
#include "rules/statement_text.hpp"

namespace zdm::rules {

namespace {

// The classic four steps to a NOT NULL column without a scan under ACCESS EXCLUSIVE.
std::string not_null_steps(const Statement& st, const Action& a) {
  const std::string& t = a.rel.name;
  const std::string& c = a.column;
  std::string k = text::new_name(st, NameKind::Constraint, a.rel.oid, t, c, "not_null");
  return "ALTER TABLE " + t + " ADD CONSTRAINT " + k + " CHECK (" + c + " IS NOT NULL) NOT VALID;\n"
         "ALTER TABLE " + t + " VALIDATE CONSTRAINT " + k + ";\n"
         "ALTER TABLE " + t + " ALTER COLUMN " + c + " SET NOT NULL;\n"
         "ALTER TABLE " + t + " DROP CONSTRAINT " + k + ";";
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

// Add the column plain, give new rows the value, backfill old rows in batches.
std::string add_then_backfill(const std::string& t, const std::string& c, const std::string& type,
                              const std::string& value) {
  return "ALTER TABLE " + t + " ADD COLUMN " + c + " " + type + ";\n"
         "ALTER TABLE " + t + " ALTER COLUMN " + c + " SET DEFAULT " + value + ";\n"
         "CALL zdm.backfill(" + text::literal(t) + ", " + text::literal(c + " = " + value) + ", " +
         text::literal(c + " IS NULL") + ");\n";
}

}  // namespace

void add_add_column_rules(Rules& r) {
  r.push_back({"add-column-volatile-default", Severity::Critical,
               "ADD COLUMN with a volatile DEFAULT (random(), clock_timestamp(), nextval(), ...), which rewrites "
               "the table under ACCESS EXCLUSIVE",
               "add the column without a default, set the default for new rows, backfill old rows in batches"});
  r.push_back({"add-column-serial", Severity::Critical,
               "ADD COLUMN of type serial / bigserial / smallserial: its nextval() default rewrites the table",
               "create the sequence, add a plain integer column, set the nextval() default, backfill in batches, "
               "then add NOT NULL through a validated CHECK"});
  r.push_back({"add-column-identity", Severity::Critical,
               "ADD COLUMN ... GENERATED AS IDENTITY, which rewrites the table to number every row",
               "add a plain column fed by a sequence, backfill in batches, make it NOT NULL through a validated "
               "CHECK, then turn it into an identity column"});
  r.push_back({"add-column-generated-stored", Severity::Critical,
               "ADD COLUMN ... GENERATED ALWAYS AS (...) STORED, which rewrites the table to compute every row",
               "add a plain column kept up to date by a trigger and backfill it in batches"});
  r.push_back({"add-column-domain-constraints", Severity::Critical,
               "ADD COLUMN of a domain type with constraints, which rewrites the table to check every row",
               "add the column with the domain's base type and express the domain's checks as a CHECK "
               "constraint added NOT VALID and validated separately"});
  r.push_back({"add-column-not-null-without-default", Severity::Critical,
               "ADD COLUMN ... NOT NULL without a default on a table that has rows: it scans under ACCESS "
               "EXCLUSIVE and then fails",
               "give it a constant default (a catalog-only change), or add it nullable, backfill, and add NOT "
               "NULL through a validated CHECK"});
}

void check_add_column(const Statement& st, const Action& named, Findings& out) {
  if (named.op != Op::AddColumn) return;
  if (!named.recursed_from.empty()) return;  // judged on the table the user named
  const Effective eff = effective(st, named);
  const Action& a = eff.action;
  const std::string& t = a.rel.name;
  const std::string& c = a.column;
  if (a.serial) {
    std::string seq = sql::schema_prefix(t) + text::new_name(st, NameKind::Relation, a.rel.oid, t, c, "seq");
    Finding f = finding("add-column-serial", st, eff,
                        "adding " + a.new_type + " serial column " + c + " to " + t + " rewrites the whole table");
    f.detail += " Its default nextval() is volatile, so every existing row gets its own value.";
    f.hint = "Expand in steps instead:\n"
             "CREATE SEQUENCE " + seq + " AS " + a.new_type + ";\n" +
             add_then_backfill(t, c, a.new_type, "nextval(" + text::literal(seq) + ")") +
             "ALTER SEQUENCE " + seq + " OWNED BY " + t + "." + c + ";\n" + not_null_steps(st, a);
    out.push_back(std::move(f));
    return;
  }
  if (a.identity) {
    std::string seq = sql::schema_prefix(t) + text::new_name(st, NameKind::Relation, a.rel.oid, t, c, "seq");
    Finding f = finding("add-column-identity", st, eff,
                        "adding identity column " + c + " to " + t + " rewrites the whole table");
    f.detail += " PostgreSQL numbers every existing row while holding the lock.";
    f.hint = "Expand in steps instead:\n"
             "CREATE SEQUENCE " + seq + " AS " + a.new_type + ";\n" +
             add_then_backfill(t, c, a.new_type, "nextval(" + text::literal(seq) + ")") + not_null_steps(st, a) +
             "\n-- then hand the numbering over to an identity, in one short transaction (one ALTER TABLE, one\n"
             "-- lock; the identity starts after the values already given):\n"
             "BEGIN;\nSET LOCAL lock_timeout = '2s';\n"
             "ALTER TABLE " + t + " ALTER COLUMN " + c + " DROP DEFAULT, ALTER COLUMN " + c +
             " ADD GENERATED " + (a.identity_kind == 'd' ? "BY DEFAULT" : "ALWAYS") + " AS IDENTITY;\n"
             "SELECT setval(pg_get_serial_sequence(" + text::literal(t) + ", " + text::literal(text::unquote(c)) +
             "), (SELECT max(" + c + ") FROM " + t + "));\nCOMMIT;\n"
             "DROP SEQUENCE " + seq + ";";
    out.push_back(std::move(f));
    return;
  }
  if (a.generated_stored) {
    std::string expr = a.generation_expr.empty() ? "<generation expression>" : a.generation_expr;
    std::string fn = sql::schema_prefix(t) + text::new_name(st, NameKind::Function, a.rel.oid, t, c, "compute");
    Finding f = finding("add-column-generated-stored", st, eff,
                        "adding stored generated column " + c + " to " + t + " rewrites the whole table");
    f.detail += " PostgreSQL computes the expression for every existing row while holding the lock.";
    f.hint = "Expand in steps instead (a plain column kept in sync by a trigger):\n"
             "ALTER TABLE " + t + " ADD COLUMN " + c + " " + a.new_type + ";\n"
             "CREATE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW." + c + " := " +
             "(SELECT (" + expr + ") FROM (SELECT NEW.*) AS " + sql::unqualified(t) + "); RETURN NEW; END $$;\n"
             "CREATE TRIGGER " + sql::unqualified(fn) + " BEFORE INSERT OR UPDATE ON " + t + " FOR EACH ROW EXECUTE FUNCTION " + fn +
             "();\n"
             "CALL zdm.backfill(" + text::literal(t) + ", " + text::literal(c + " = " + expr) + ", " +
             text::literal(c + " IS DISTINCT FROM (" + expr + ")") + ");";
    out.push_back(std::move(f));
    return;
  }
  if (a.volatile_default) {
    std::string value = a.default_expr.empty() ? "<default>" : a.default_expr;
    Finding f = finding("add-column-volatile-default", st, eff,
                        "adding column " + c + " to " + t + " with volatile default " + value +
                            " rewrites the whole table");
    f.detail += " A volatile default cannot be stored once as the column's missing value.";
    f.hint = "Expand in steps instead:\n" + add_then_backfill(t, c, a.new_type, value);
    if (a.not_null) f.hint += not_null_steps(st, a);
    else f.hint.pop_back();
    out.push_back(std::move(f));
    return;
  }
  if (a.domain_with_constraints) {
    std::string base = a.base_type.empty() ? a.new_type : a.base_type;
    Finding f = finding("add-column-domain-constraints", st, eff,
                        "adding column " + c + " of domain " + a.new_type + " to " + t + " rewrites the whole table");
    f.detail += " The domain has constraints, which PostgreSQL checks by rewriting every row.";
    std::string k = text::new_name(st, NameKind::Constraint, a.rel.oid, t, c, "check");
    f.hint = "Use the base type and a separately validated CHECK instead:\n"
             "ALTER TABLE " + t + " ADD COLUMN " + c + " " + base + ";\n"
             "ALTER TABLE " + t + " ADD CONSTRAINT " + k + " CHECK (" +
             (a.domain_check.empty() ? "/* the domain's checks, with VALUE replaced by " + c + " */" : a.domain_check) +
             ") NOT VALID;\n"
             "ALTER TABLE " + t + " VALIDATE CONSTRAINT " + k + ";";
    out.push_back(std::move(f));
    return;
  }
  if (a.not_null && !a.has_default && !a.rel.known_empty) {
    Finding f = finding("add-column-not-null-without-default", st, eff,
                        "adding column " + c + " NOT NULL without a default to " + t + " fails on its existing rows");
    f.detail += " Existing rows would hold NULL in the new column, so PostgreSQL scans the table and raises an error.";
    f.hint = "Either give it a constant default (a catalog-only change):\n"
             "ALTER TABLE " + t + " ADD COLUMN " + c + " " + a.new_type + " NOT NULL DEFAULT <value>;\n"
             "or add it nullable, backfill, then add NOT NULL through a validated CHECK:\n"
             "ALTER TABLE " + t + " ADD COLUMN " + c + " " + a.new_type + ";\n"
             "CALL zdm.backfill(" + text::literal(t) + ", " + text::literal(c + " = <value>") + ", " +
             text::literal(c + " IS NULL") + ");\n" + not_null_steps(st, a);
    out.push_back(std::move(f));
  }
}

}  // namespace zdm::rules
