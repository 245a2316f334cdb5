// The guard's vocabulary: facts gathered from the live catalog (by src/guard/) and the findings the
// rules derive from them (in src/rules/). Plain C++: no PostgreSQL pointers or headers, so that every
// rule is unit-testable without a server.
#pragma once
#include "common/cpp_only.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace zdm {

// Table-level lock modes, numbered as PostgreSQL's lockdefs.h numbers them.
enum class LockMode : int {
  None = 0,
  AccessShare = 1,
  RowShare = 2,
  RowExclusive = 3,
  ShareUpdateExclusive = 4,
  Share = 5,
  ShareRowExclusive = 6,
  Exclusive = 7,
  AccessExclusive = 8,
};

// The mode as pg_locks spells it ("AccessExclusiveLock"); "" for None.
const char* lock_mode_name(LockMode mode);
// The mode as the documentation and LOCK TABLE spell it ("ACCESS EXCLUSIVE").
const char* lock_mode_sql(LockMode mode);
// Whether a lock in `mode` blocks plain reads (SELECT) or writes (INSERT/UPDATE/DELETE).
bool blocks_reads(LockMode mode);
bool blocks_writes(LockMode mode);

// Facts about one relation a statement touches, read from the catalog without locking it.
struct RelationFacts {
  uint32_t oid = 0;            // pg_class.oid; 0 when not in the catalog
  std::string name;            // as the user wrote it (possibly schema-qualified, quoted as needed)
  std::string qualified;       // schema.name, quoted as needed
  char kind = 'r';             // pg_class.relkind
  bool exists = false;         // false: not in the catalog (lint: created earlier in the file)
  bool created_in_transaction = false;  // created (or given a new relfilenode) in this transaction
  double rows = -1;            // pg_class.reltuples, -1 when never analyzed
  int64_t bytes = -1;          // main fork size in bytes, -1 when unknown
  bool known_empty = false;    // the main fork has no blocks
  bool temporary = false;      // a temporary table (or its index): no other session can use it

  // Whether another session can see the relation, and so wait for its locks or break on its changes:
  // it exists, and neither was it created in this transaction nor is it temporary.
  bool visible_to_others() const { return exists && !created_in_transaction && !temporary; }
};

// What kind of operation an Action is. One statement yields one or more actions.
enum class Op {
  Other,
  // ALTER TABLE subcommands
  AddColumn,
  DropColumn,
  RenameColumn,
  AlterColumnType,
  SetNotNull,
  DropNotNull,
  SetDefault,
  DropDefault,
  AddConstraint,        // CHECK, FOREIGN KEY, UNIQUE, PRIMARY KEY, EXCLUDE
  ValidateConstraint,
  DropConstraint,
  AttachPartition,
  DetachPartition,
  SetLogged,
  SetUnlogged,
  SetTablespace,
  SetAccessMethod,
  SetSchema,
  RenameRelation,
  AlterTableOther,      // any other ALTER TABLE subcommand: lock only
  // other statements
  CreateTable,
  CreateIndex,
  Reindex,
  DropIndex,
  DropRelation,
  DropType,
  AlterEnumAddValue,
  AlterDomainCheck,     // ALTER DOMAIN ... ADD CONSTRAINT / VALIDATE / SET NOT NULL: one action per column using it
  Cluster,
  VacuumFull,
  Vacuum,
  RefreshMatView,
  Truncate,
  TransactionControl,
};

// A foreign key of another table that references a key of this one (ALTER COLUMN ... TYPE of a key
// column: the swap to a new column must drop and re-add it).
struct ReferencingKey {
  std::string table;       // the referencing table, quoted, qualified when not visible
  std::string name;        // the constraint's name, quoted
  std::string definition;  // FOREIGN KEY (...) REFERENCES ..., as pg_get_constraintdef prints it
};

// One effect of a statement on one relation, with the facts the rules need.
struct Action {
  Op op = Op::Other;
  std::string command;         // "ALTER TABLE", "CREATE INDEX", ...
  RelationFacts rel;
  LockMode lock = LockMode::None;  // the lock this action needs on rel
  bool rewrite = false;        // the relation gets a new relfilenode (every row is copied)
  bool scan = false;           // every row is read (validation, index build, rewrite)

  // Operands, filled in as the op needs them.
  std::string column;          // column name as written
  std::string new_name;        // RENAME target, new schema, tablespace, access method
  std::string old_type;        // format_type of the current type
  std::string new_type;        // format_type of the target type
  std::string using_expr;      // USING expression text, if the user gave one
  std::string constraint;      // constraint name (given or the name PostgreSQL would choose)
  char constraint_type = 0;    // 'c' check, 'f' foreign key, 'u' unique, 'p' primary key, 'x' exclusion
  std::string constraint_def;  // the constraint as SQL (CHECK (...), FOREIGN KEY (...) REFERENCES ...)
  std::vector<std::string> columns;  // key columns of the constraint or index
  std::string index;           // index name (given or chosen)
  std::string index_def;       // CREATE INDEX text to hand back with CONCURRENTLY
  std::string default_expr;    // DEFAULT expression text
  std::string referenced;      // FOREIGN KEY target table
  std::vector<std::string> rebuilt_indexes;  // indexes rebuilt by a type change without rewrite
  std::vector<std::string> nullable_columns; // USING INDEX / PRIMARY KEY over columns not yet NOT NULL
  std::vector<std::string> revalidated_checks; // ALTER COLUMN TYPE: valid CHECK constraints re-checked (scan)
  std::string parent;          // ATTACH PARTITION: the partitioned table
  std::string partition_bound; // ATTACH PARTITION: FOR VALUES ... / DEFAULT, as PostgreSQL deparses it
  std::string constraint_expr; // CHECK expression or partition constraint, deparsed over rel's columns
  bool default_partition = false;  // ATTACH PARTITION: this action is the parent's default partition
  bool referenced_side = false;    // FOREIGN KEY: this action is the referenced table's side
  std::vector<std::string> revalidated_check_defs;  // CHECK (...) of each revalidated_checks entry
  std::string base_type;       // ADD COLUMN of a domain type: the domain's base type
  uint32_t domain = 0;         // ALTER DOMAIN: the domain's pg_type oid
  std::string generation_expr; // ADD COLUMN ... GENERATED ALWAYS AS (expr) STORED: expr, deparsed
  std::vector<std::string> rebuilt_index_defs;  // CREATE INDEX text of each rebuilt_indexes entry
  std::string domain_check;    // ADD COLUMN of a domain: its constraints as one CHECK expression over the column
  // ALTER COLUMN ... TYPE: the column's role, which its expand/contract swap must carry over.
  std::string key_constraint;       // the PRIMARY KEY or UNIQUE constraint made of this column alone
  char key_constraint_type = 0;     // 'p' or 'u'
  std::vector<ReferencingKey> referencing_keys;  // foreign keys of other tables on that constraint
  std::vector<ReferencingKey> own_foreign_keys;  // foreign keys of this column alone (table = this table)
  std::string column_default;       // the column's DEFAULT expression, deparsed
  std::string owned_sequence;       // the sequence the column owns (serial, identity), quoted
  std::string owned_sequence_type;  // its AS type (format_type)
  bool column_not_null = false;     // attnotnull
  char identity_kind = 0;           // attidentity: 'a' ALWAYS, 'd' BY DEFAULT, 0 none
  int subcommand = -1;         // ALTER TABLE: index of the subcommand this action belongs to
  // Set on the actions of partitions / inheritance children that PostgreSQL reaches by recursion from
  // the named table (same lock, their own rewrite / scan): the named table's action carries the finding.
  std::string recursed_from;

  bool concurrently = false;
  bool only = false;           // ONLY: the statement does not recurse to partitions or children
  bool not_valid = false;      // ADD CONSTRAINT ... NOT VALID
  bool using_index = false;    // ADD CONSTRAINT ... USING INDEX
  bool not_null = false;       // ADD COLUMN ... NOT NULL
  bool has_default = false;
  bool volatile_default = false;
  bool serial = false;         // serial / bigserial / smallserial
  bool identity = false;       // GENERATED ... AS IDENTITY
  bool generated_stored = false;
  bool domain_with_constraints = false;
  bool valid_not_null_check = false;  // SET NOT NULL: a valid CHECK (col IS NOT NULL) exists
  bool partition_constraint_implied = false;  // ATTACH PARTITION: existing constraints imply the bound
  bool same_access_method = false;
  bool in_use = false;         // DROP TYPE: a column uses it
  bool cascade = false;        // DROP ... CASCADE
  bool has_unique_index = false;  // REFRESH MATERIALIZED VIEW: a unique index CONCURRENTLY can use
  bool in_transaction_block = false;
  bool full = false;           // VACUUM FULL
};

// What kind of object a hint creates, for choosing its name.
enum class NameKind {
  Column,            // a column of table `owner`
  Constraint,        // a constraint of table `owner`
  Relation,          // an index, table or sequence in the schema of relation `owner`
  Function,          // a function without arguments in the schema of table `owner`, and its trigger on it
  DomainConstraint,  // a constraint of domain `owner` (a pg_type oid)
};

// A name for an object a hint creates: parts as PostgreSQL's makeObjectName joins them
// (name1_name2_label), unquoted.
struct NameRequest {
  NameKind kind = NameKind::Column;
  uint32_t owner = 0;  // see NameKind; 0 when not in the catalog (lint: created earlier in the file)
  std::string name1;
  std::string name2;   // "" for none
  std::string label;
};

// Chooses the names of the objects a hint creates the way PostgreSQL chooses names of its own
// (ChooseRelationName, ChooseConstraintName): the parts joined, truncated to fit NAMEDATALEN, and
// numbered (label1, label2, ...) past a name already in use, so that the hint's SQL runs as it is.
// The result is quoted as needed. The guard asks the live catalog (src/guard/names.cpp); a Statement
// without a chooser (unit tests) gets the parts joined as they are.
class NameChooser {
 public:
  virtual std::string choose(const NameRequest& request) const = 0;

 protected:
  ~NameChooser() = default;
};

// One statement as the guard sees it.
struct Statement {
  int number = 0;              // 1-based position in the text
  int line = 1;                // line where it starts
  std::string command;         // command tag ("ALTER TABLE")
  std::string text;            // the statement's own text
  std::vector<Action> actions;
  LockMode strongest_lock = LockMode::None;  // strongest lock over all actions
  bool in_transaction_block = false;
  // Relations this transaction already holds in ACCESS EXCLUSIVE mode from earlier statements.
  std::vector<std::string> held_access_exclusive;
  // The session's lock_timeout, for rule missing-lock-timeout. Filled for live statements by the hook
  // (lockwait::fill_session_facts); zdm.lint / zdm.analyze leave the defaults (nothing known).
  bool strict_mode = false;                 // zdm.mode = strict when the statement runs
  int session_lock_timeout_ms = -1;         // the session's lock_timeout; -1 unknown, 0 waits forever
  bool lock_timeout_explicit_zero = false;  // lock_timeout is 0 because the session SET it so
  int zdm_lock_timeout_ms = 0;              // zdm.lock_timeout; 0 when lock-safe DDL is off
  bool lock_wait_bounded = false;           // lock-safe DDL bounds this statement's lock wait
  // Names the objects the hints create (not owned); null: the parts are joined as they are.
  const NameChooser* names = nullptr;
};

enum class Severity { Warning, Critical };
const char* severity_name(Severity s);  // "warning", "critical"

// One finding: what a rule caught in one action.
struct Finding {
  std::string rule;            // stable kebab-case rule id
  Severity severity = Severity::Critical;
  std::string relation;
  LockMode lock = LockMode::None;
  std::string message;         // primary message, lower case, no trailing period
  std::string detail;          // facts
  std::string hint;            // the safe path, as runnable SQL with the user's names
};

}  // namespace zdm
