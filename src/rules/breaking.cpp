// breaking-drop-column, breaking-rename-column, breaking-drop-table, breaking-rename-table,
// breaking-set-schema, breaking-drop-type-in-use: changes that break clients still running the old code.
#include <string>

#include "rules/families.hpp"
#include "rules/rules.hpp"
#include "rules/statement_text.hpp"

namespace zdm::rules {

namespace {

bool is_table_like(char kind) {
  return kind == 'r' || kind == 'p' || kind == 'v' || kind == 'm' || kind == 'f';
}

// "table", "view", ... and the ALTER / DROP command that names it.
const char* kind_word(char kind) {
  switch (kind) {
    case 'v': return "view";
    case 'm': return "materialized view";
    case 'f': return "foreign table";
    default: return "table";
  }
}
std::string kind_command(char kind) {
  switch (kind) {
    case 'v': return "VIEW";
    case 'm': return "MATERIALIZED VIEW";
    case 'f': return "FOREIGN TABLE";
    default: return "TABLE";
  }
}

// The inline override that lets a hint's own contract step through strict mode: by the time the hint
// says to run it, the expand steps have made it safe (no deployed code uses the old name).
std::string allow(const char* rules) { return std::string(" /* zdm:allow ") + rules + " */"; }

Finding base(const Statement& st, const Action& a, const char* rule, Severity severity) {
  Finding f;
  f.rule = rule;
  f.severity = severity;
  f.relation = a.rel.name;
  f.lock = st.strongest_lock;
  f.detail = text::facts(a, LockMode::None);
  return f;
}

void drop_column(const Statement& st, const Action& a, Findings& out) {
  const std::string& t = a.rel.name;
  Finding f = base(st, a, "breaking-drop-column", Severity::Warning);
  f.message = "dropping column " + a.column + " of " + t + " breaks clients that still read or write it";
  f.detail += " The column is gone at once: running code that names it fails, and SELECT * changes shape.";
  f.hint = "Contract only after no deployed code uses it:\n"
           "-- 1. deploy code that neither reads nor writes " + a.column + " (tell the ORM to ignore it)\n";
  if (a.column_not_null)
    f.hint += "-- 2. meanwhile let old writers that omit it keep working:\n"
              "ALTER TABLE " + t + " ALTER COLUMN " + a.column + " DROP NOT NULL;\n";
  f.hint += std::string(a.column_not_null ? "-- 3." : "-- 2.") + " then drop it, with a bounded wait for the lock:\n"
            "SET lock_timeout = '2s';\nALTER TABLE " + t + " DROP COLUMN " + a.column + allow("breaking-drop-column") + ";";
  out.push_back(std::move(f));
}

void rename_column(const Statement& st, const Action& a, Findings& out) {
  const std::string& t = a.rel.name;
  const std::string& c = a.column;
  const std::string& n = a.new_name;
  std::string fn = sql::schema_prefix(t) + text::new_name(st, NameKind::Function, a.rel.oid, t, n, "sync");
  std::string type = a.old_type.empty() ? "<type of " + c + ">" : a.old_type;
  Finding f = base(st, a, "breaking-rename-column", Severity::Critical);
  f.message = "renaming column " + c + " of " + t + " to " + n + " breaks clients that still use the old name";
  f.detail += " Old code fails on its next query that names " + c + ".";
  f.hint =
      "Expand and contract instead: a new column kept in sync both ways while old and new code run:\n"
      "ALTER TABLE " + t + " ADD COLUMN " + n + " " + type + ";\n"
      "CREATE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "IF TG_OP = 'INSERT' THEN NEW." + n + " := COALESCE(NEW." + n + ", NEW." + c + "); NEW." + c +
      " := COALESCE(NEW." + c + ", NEW." + n + "); "
      "ELSIF NEW." + c + " IS DISTINCT FROM OLD." + c + " THEN NEW." + n + " := NEW." + c + "; "
      "ELSE NEW." + c + " := NEW." + n + "; END IF; RETURN NEW; END $$;\n"
      "CREATE TRIGGER " + sql::unqualified(fn) + " BEFORE INSERT OR UPDATE ON " + t +
      " FOR EACH ROW EXECUTE FUNCTION " + fn + "();\n"
      "CALL zdm.backfill(" + text::literal(t) + ", " + text::literal(n + " = " + c) + ", " +
      text::literal(n + " IS DISTINCT FROM " + c) + ");\n"
      "-- deploy code that reads and writes " + n + "; once no client uses " + c + ", contract:\n"
      "BEGIN;\nSET LOCAL lock_timeout = '2s';\nDROP TRIGGER " + sql::unqualified(fn) + " ON " + t + ";\nALTER TABLE " + t +
      " DROP COLUMN " + c + allow("breaking-drop-column, statement-after-access-exclusive") + ";\nCOMMIT;\n"
      "DROP FUNCTION " + fn + "();";
  out.push_back(std::move(f));
}

void drop_table(const Statement& st, const Action& a, Findings& out) {
  const std::string& t = a.rel.name;
  std::string kind = kind_command(a.rel.kind);
  std::string parked = sql::schema_prefix(t) + text::new_name(st, NameKind::Relation, a.rel.oid, t, "", "to_drop");
  Finding f = base(st, a, "breaking-drop-table", Severity::Warning);
  f.message = std::string("dropping ") + kind_word(a.rel.kind) + " " + t + " breaks clients that still use it";
  if (!a.referenced.empty())
    f.detail += " Removing its foreign keys also locks " + a.referenced +
                " in AccessExclusiveLock mode (blocks reads and writes).";
  if (!a.parent.empty())
    f.detail += " Dropping a partition also locks " + a.parent +
                " in AccessExclusiveLock mode (blocks reads and writes of the whole partitioned table).";
  f.detail += " It cannot be undone: the data is gone with it.";
  f.hint.clear();
  if (!a.parent.empty()) {
    // DETACH ... CONCURRENTLY takes only SHARE UPDATE EXCLUSIVE on the parent; the drop then locks the
    // detached table alone.
    std::string parent = a.parent.substr(0, a.parent.find(", "));
    f.hint = "Detach it without blocking the partitioned table first (outside a transaction block):\nALTER TABLE " +
             parent + " DETACH PARTITION " + t + " CONCURRENTLY;\n";
  }
  f.hint += "Once deployed code no longer uses it, park it under another name first (undo: rename it back), "
           "and drop it when nothing has failed:\n"
           "ALTER " + kind + " " + t + " RENAME TO " + sql::unqualified(parked) + allow("breaking-rename-table") + ";\n"
           "-- later:\nSET lock_timeout = '2s';\nDROP " + kind + " " + parked + allow("breaking-drop-table") + ";";
  out.push_back(std::move(f));
}

void rename_table(const Statement& st, const Action& a, Findings& out) {
  const std::string& t = a.rel.name;
  std::string kind = kind_command(a.rel.kind);
  std::string renamed = sql::schema_prefix(t) + a.new_name;
  Finding f = base(st, a, "breaking-rename-table", Severity::Critical);
  f.message = std::string("renaming ") + kind_word(a.rel.kind) + " " + t + " to " + a.new_name +
              " breaks clients that still use the old name";
  f.detail += " Old code fails on its next query that names " + t + ".";
  f.hint = "Rename it and leave a view under the old name in the same transaction (a simple view is updatable, so "
           "old code keeps reading and writing):\n"
           "BEGIN;\nSET LOCAL lock_timeout = '2s';\n"
           "SET LOCAL zdm.allow = 'breaking-rename-table,statement-after-access-exclusive';\n"
           "ALTER " + kind + " " + t + " RENAME TO " + a.new_name + ";\n"
           "CREATE VIEW " + t + " AS SELECT * FROM " + renamed + ";\nCOMMIT;\n"
           "-- once no client uses the old name:\nDROP VIEW " + t + allow("breaking-drop-table") + ";";
  out.push_back(std::move(f));
}

void set_schema(const Statement& st, const Action& a, Findings& out) {
  const std::string& t = a.rel.name;
  std::string kind = kind_command(a.rel.kind);
  std::string old_name = a.rel.qualified.empty() ? t : a.rel.qualified;
  std::string moved = a.new_name + "." + sql::unqualified(old_name);
  Finding f = base(st, a, "breaking-set-schema", Severity::Critical);
  f.message = std::string("moving ") + kind_word(a.rel.kind) + " " + t + " to schema " + a.new_name +
              " breaks clients that still use the old name";
  f.detail += " Old code that names " + old_name + " (or finds it on its search_path) fails on its next query.";
  f.hint = "Move it and leave a view under the old name in the same transaction:\n"
           "BEGIN;\nSET LOCAL lock_timeout = '2s';\n"
           "SET LOCAL zdm.allow = 'breaking-set-schema,statement-after-access-exclusive';\n"
           "ALTER " + kind + " " + t + " SET SCHEMA " + a.new_name + ";\n"
           "CREATE VIEW " + old_name + " AS SELECT * FROM " + moved + ";\nCOMMIT;\n"
           "-- once no client uses the old name:\nDROP VIEW " + old_name + allow("breaking-drop-table") + ";";
  out.push_back(std::move(f));
}

void drop_type(const Statement& st, const Action& a, Findings& out) {
  const std::string& t = a.rel.name;
  const std::string& c = a.column;
  std::string n = text::new_name(st, NameKind::Column, a.rel.oid, c, "", "new");
  Finding f = base(st, a, "breaking-drop-type-in-use", Severity::Critical);
  if (a.cascade) {
    f.message = "dropping type " + a.old_type + " with CASCADE drops column " + c + " of " + t;
    f.detail += " The column and its data are gone at once; running code that names it fails.";
  } else {
    f.message = "type " + a.old_type + " is still used by column " + c + " of " + t;
    f.detail += " PostgreSQL waits for the lock on " + t + " and then rejects the drop (without CASCADE).";
  }
  f.hint = "Move the column off the type first (expand and contract), then drop the type:\n"
           "ALTER TABLE " + t + " ADD COLUMN " + n + " text;\n"
           "CALL zdm.backfill(" + text::literal(t) + ", " + text::literal(n + " = " + c + "::text") + ", " +
           text::literal(n + " IS DISTINCT FROM " + c + "::text") + ");\n"
           "-- switch clients to " + n + " (writing both meanwhile); once none uses " + c + ":\n"
           "ALTER TABLE " + t + " DROP COLUMN " + c + allow("breaking-drop-column") + ";\n"
           "DROP " + (st.command == "DROP DOMAIN" || a.command == "DROP DOMAIN" ? "DOMAIN " : "TYPE ") + a.old_type + ";";
  out.push_back(std::move(f));
}

}  // namespace

void add_breaking_rules(Rules& r) {
  r.push_back({"breaking-drop-column", Severity::Warning,
               "ALTER TABLE ... DROP COLUMN: clients still running code that names the column fail",
               "deploy code that no longer uses the column first, then drop it with a short lock_timeout"});
  r.push_back({"breaking-rename-column", Severity::Critical,
               "RENAME COLUMN: clients still using the old name fail",
               "add the new column, keep both in sync with a trigger, backfill, switch clients, drop the old one"});
  r.push_back({"breaking-drop-table", Severity::Warning,
               "DROP TABLE / VIEW / MATERIALIZED VIEW: clients still using it fail, and the data is gone",
               "rename it aside first (reversible), drop it once nothing failed"});
  r.push_back({"breaking-rename-table", Severity::Critical,
               "RENAME of a table or view: clients still using the old name fail",
               "rename it and create a view with the old name in the same transaction; drop the view later"});
  r.push_back({"breaking-set-schema", Severity::Critical,
               "SET SCHEMA of a table or view: clients still using the old name fail",
               "move it and create a view with the old name in the same transaction; drop the view later"});
  r.push_back({"breaking-drop-type-in-use", Severity::Critical,
               "DROP TYPE / DOMAIN still used by a column: fails after waiting for ACCESS EXCLUSIVE, or with CASCADE "
               "drops the column",
               "move the column to another type (new column, backfill, switch, drop), then drop the type"});
}

void check_breaking(const Statement& st, const Action& a, Findings& out) {
  if (!a.recursed_from.empty()) return;  // judged on the relation the user named
  switch (a.op) {
    case Op::DropColumn: drop_column(st, a, out); break;
    case Op::RenameColumn: rename_column(st, a, out); break;
    case Op::DropRelation:
      if (is_table_like(a.rel.kind)) drop_table(st, a, out);
      break;
    case Op::RenameRelation:
      if (is_table_like(a.rel.kind)) rename_table(st, a, out);
      break;
    case Op::SetSchema:
      if (is_table_like(a.rel.kind)) set_schema(st, a, out);
      break;
    case Op::DropType:
      if (a.in_use) drop_type(st, a, out);
      break;
    default: break;
  }
}

}  // namespace zdm::rules
