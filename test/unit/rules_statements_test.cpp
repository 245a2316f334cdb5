// The rule families for statements other than ALTER TABLE (indexes, maintenance, breaking,
// transaction) on hand-built statements: which facts are flagged, under which rule id, what is left
// alone, and that the hints are runnable SQL with the user's own names.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rules/rules.hpp"

using namespace zdm;

namespace {

Action action(Op op, const std::string& command, const std::string& rel = "orders", LockMode lock = LockMode::AccessExclusive) {
  Action a;
  a.op = op;
  a.command = command;
  a.rel.name = rel;
  a.rel.qualified = "public." + rel;
  a.rel.exists = true;
  a.rel.rows = 1000;
  a.rel.bytes = 65536;
  a.lock = lock;
  return a;
}

Statement statement(const std::string& command, const std::string& text, std::vector<Action> actions) {
  Statement st;
  st.command = command;
  st.text = text;
  st.actions = std::move(actions);
  for (const Action& a : st.actions)
    if (static_cast<int>(a.lock) > static_cast<int>(st.strongest_lock)) st.strongest_lock = a.lock;
  return st;
}

std::vector<std::string> rules_of(const std::vector<Finding>& findings) {
  std::vector<std::string> ids;
  for (const Finding& f : findings) ids.push_back(f.rule);
  return ids;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

using Ids = std::vector<std::string>;

}  // namespace

// --- indexes -----------------------------------------------------------------------------------

TEST(Indexes, CreateIndexHintIsTheUsersStatementWithConcurrently) {
  Action a = action(Op::CreateIndex, "CREATE INDEX", "orders", LockMode::Share);
  a.index = "orders_total_key";
  a.scan = true;
  auto f = judge(statement("CREATE INDEX",
                           "\n  -- why\n  create unique index if not exists orders_total_key\n    on orders (total) /* x */ "
                           "where total > 0 -- zdm:allow nothing\n",
                           {a}));
  ASSERT_EQ(rules_of(f), Ids{"index-without-concurrently"});
  EXPECT_EQ(f[0].lock, LockMode::Share);
  EXPECT_TRUE(contains(f[0].detail, "ShareLock (blocks writes); reads every row"));
  EXPECT_TRUE(contains(f[0].hint,
                       "create unique index CONCURRENTLY if not exists orders_total_key on orders (total) where total > 0;"));
}

TEST(Indexes, QuotedTextAndCommentsInsideLiteralsSurvive) {
  Action a = action(Op::CreateIndex, "CREATE INDEX", "\"Orders\"", LockMode::Share);
  auto f = judge(statement("CREATE INDEX", "CREATE INDEX ON \"Orders\" ((note = '-- not a comment'));", {a}));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(contains(f[0].hint, "CREATE INDEX CONCURRENTLY ON \"Orders\" ((note = '-- not a comment'));"));
}

TEST(Indexes, PartitionedTableGetsAPerPartitionHint) {
  Action a = action(Op::CreateIndex, "CREATE INDEX", "events", LockMode::Share);
  a.rel.kind = 'p';
  a.index = "events_at_idx";
  a.columns = {"at"};
  Action p1 = action(Op::CreateIndex, "CREATE INDEX", "events_2025", LockMode::Share);
  p1.recursed_from = "events";
  p1.scan = true;
  auto f = judge(statement("CREATE INDEX", "CREATE INDEX events_at_idx ON events (at)", {a, p1}));
  ASSERT_EQ(rules_of(f), Ids{"index-without-concurrently"});  // one finding, on the named table
  EXPECT_TRUE(contains(f[0].hint, "CREATE INDEX events_at_idx ON ONLY events (at);"));
  EXPECT_TRUE(contains(f[0].hint, "CREATE INDEX CONCURRENTLY events_2025_at_idx ON events_2025 (at);"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER INDEX events_at_idx ATTACH PARTITION events_2025_at_idx;"));
}

TEST(Indexes, ConcurrentlyOutsideATransactionIsFine) {
  Action a = action(Op::CreateIndex, "CREATE INDEX", "orders", LockMode::ShareUpdateExclusive);
  a.concurrently = true;
  EXPECT_TRUE(judge(statement("CREATE INDEX", "CREATE INDEX CONCURRENTLY ON orders (total)", {a})).empty());
}

TEST(Indexes, ConcurrentlyInsideATransactionBlockIsFlagged) {
  Action a = action(Op::CreateIndex, "CREATE INDEX", "orders", LockMode::ShareUpdateExclusive);
  a.concurrently = a.in_transaction_block = true;
  auto f = judge(statement("CREATE INDEX", "CREATE INDEX CONCURRENTLY i ON orders (total);", {a}));
  ASSERT_EQ(rules_of(f), Ids{"concurrently-in-transaction"});
  EXPECT_EQ(f[0].severity, Severity::Warning);
  EXPECT_TRUE(contains(f[0].hint, "COMMIT;\nCREATE INDEX CONCURRENTLY i ON orders (total);"));
}

TEST(Indexes, TableCreatedInTheTransactionIsNotFlagged) {
  Action a = action(Op::CreateIndex, "CREATE INDEX", "fresh", LockMode::Share);
  a.rel.created_in_transaction = true;
  EXPECT_TRUE(judge(statement("CREATE INDEX", "CREATE INDEX ON fresh (v)", {a})).empty());
}

TEST(Indexes, ReindexIndexNamesTheIndexAndItsAccessExclusiveLock) {
  Action t = action(Op::Reindex, "REINDEX", "orders", LockMode::Share);
  t.index = "orders_pkey";
  t.rebuilt_indexes = {"orders_pkey"};
  t.scan = true;
  Action i = action(Op::Reindex, "REINDEX", "orders_pkey", LockMode::AccessExclusive);
  i.rel.kind = 'i';
  i.recursed_from = "orders";
  i.rewrite = true;
  auto f = judge(statement("REINDEX", "REINDEX INDEX orders_pkey", {t, i}));
  ASSERT_EQ(rules_of(f), Ids{"reindex-without-concurrently"});
  EXPECT_EQ(f[0].lock, LockMode::AccessExclusive);
  EXPECT_TRUE(contains(f[0].message, "blocks reads and writes on orders"));
  EXPECT_TRUE(contains(f[0].detail, "orders_pkey is rebuilt under AccessExclusiveLock"));
  EXPECT_TRUE(contains(f[0].hint, "REINDEX INDEX CONCURRENTLY orders_pkey;"));
}

TEST(Indexes, ReindexTableHintAndConcurrentReindex) {
  Action t = action(Op::Reindex, "REINDEX", "orders", LockMode::Share);
  t.rebuilt_indexes = {"orders_pkey", "orders_c_idx"};
  auto f = judge(statement("REINDEX", "REINDEX TABLE orders", {t}));
  ASSERT_EQ(rules_of(f), Ids{"reindex-without-concurrently"});
  EXPECT_TRUE(contains(f[0].hint, "REINDEX TABLE CONCURRENTLY orders;"));
  t.concurrently = true;
  t.lock = LockMode::ShareUpdateExclusive;
  EXPECT_TRUE(judge(statement("REINDEX", "REINDEX TABLE CONCURRENTLY orders", {t})).empty());
}

TEST(Indexes, DropIndexIsNotFlagged) {
  Action i = action(Op::DropIndex, "DROP INDEX", "orders_c_idx");
  i.rel.kind = 'i';
  Action t = action(Op::DropIndex, "DROP INDEX", "orders");
  t.recursed_from = "orders_c_idx";
  EXPECT_TRUE(judge(statement("DROP INDEX", "DROP INDEX orders_c_idx", {t, i})).empty());
}

// --- maintenance -------------------------------------------------------------------------------

TEST(Maintenance, ClusterAndVacuumFullAreFlaggedPlainVacuumIsNot) {
  Action c = action(Op::Cluster, "CLUSTER");
  c.rewrite = c.scan = true;
  c.index = "orders_pkey";
  auto f = judge(statement("CLUSTER", "CLUSTER orders USING orders_pkey", {c}));
  ASSERT_EQ(rules_of(f), Ids{"cluster-table"});
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders CLUSTER ON orders_pkey;"));
  EXPECT_TRUE(contains(f[0].hint, "pg_repack --table=public.orders"));

  Action v = action(Op::VacuumFull, "VACUUM");
  v.full = v.rewrite = v.scan = true;
  f = judge(statement("VACUUM", "VACUUM FULL orders", {v}));
  ASSERT_EQ(rules_of(f), Ids{"vacuum-full"});
  EXPECT_TRUE(contains(f[0].hint, "VACUUM (ANALYZE) orders;"));

  Action plain = action(Op::Vacuum, "VACUUM", "orders", LockMode::ShareUpdateExclusive);
  EXPECT_TRUE(judge(statement("VACUUM", "VACUUM orders", {plain})).empty());
}

TEST(Maintenance, RefreshHintDependsOnAUniqueIndex) {
  Action m = action(Op::RefreshMatView, "REFRESH MATERIALIZED VIEW", "totals");
  m.rel.kind = 'm';
  m.rewrite = true;
  auto f = judge(statement("REFRESH MATERIALIZED VIEW", "REFRESH MATERIALIZED VIEW totals", {m}));
  ASSERT_EQ(rules_of(f), Ids{"refresh-matview-without-concurrently"});
  EXPECT_TRUE(contains(f[0].hint, "CREATE UNIQUE INDEX CONCURRENTLY totals_key ON totals ("));
  EXPECT_TRUE(contains(f[0].hint, "REFRESH MATERIALIZED VIEW CONCURRENTLY totals;"));
  m.has_unique_index = true;
  f = judge(statement("REFRESH MATERIALIZED VIEW", "REFRESH MATERIALIZED VIEW totals", {m}));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_FALSE(contains(f[0].hint, "CREATE UNIQUE INDEX"));
  m.concurrently = true;
  m.lock = LockMode::Exclusive;
  EXPECT_TRUE(judge(statement("REFRESH MATERIALIZED VIEW", "REFRESH MATERIALIZED VIEW CONCURRENTLY totals", {m})).empty());
}

TEST(Maintenance, TruncateIsOneFindingPerNamedTableAndSaysNoRowIsRead) {
  Action a = action(Op::Truncate, "TRUNCATE", "audit");
  a.rewrite = a.scan = true;  // new relfilenode; the index rebuild scans the empty heap
  Action b = action(Op::Truncate, "TRUNCATE", "orders");
  Action child = action(Op::Truncate, "TRUNCATE", "orders_2025");
  child.recursed_from = "orders";
  auto f = judge(statement("TRUNCATE", "TRUNCATE audit, orders", {a, b, child}));
  ASSERT_EQ(rules_of(f), (Ids{"truncate-table", "truncate-table"}));
  EXPECT_FALSE(contains(f[0].detail, "rewrites the table"));
  EXPECT_TRUE(contains(f[0].detail, "reads no rows"));
  EXPECT_TRUE(contains(f[0].hint, "SET lock_timeout = '2s';\nTRUNCATE audit /* zdm:allow truncate-table */;"));
}

// --- breaking ----------------------------------------------------------------------------------

TEST(Breaking, DropColumnComesFromAlterTable) {
  Action a = action(Op::DropColumn, "ALTER TABLE");
  a.column = "note";
  auto f = judge(statement("ALTER TABLE", "ALTER TABLE orders DROP COLUMN note", {a}));
  ASSERT_EQ(rules_of(f), Ids{"breaking-drop-column"});
  // Its contract step passes strict mode: the hint says when it is safe to run.
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders DROP COLUMN note /* zdm:allow breaking-drop-column */;"));
  // A nullable column needs no DROP NOT NULL for old writers first; a NOT NULL one does.
  EXPECT_FALSE(contains(f[0].hint, "DROP NOT NULL"));
  a.column_not_null = true;
  f = judge(statement("ALTER TABLE", "ALTER TABLE orders DROP COLUMN note", {a}));
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders ALTER COLUMN note DROP NOT NULL;"));
}

TEST(Breaking, RenameColumnHintIsExpandContractWithBackfill) {
  Action a = action(Op::RenameColumn, "ALTER TABLE");
  a.column = "customer_id";
  a.new_name = "client_id";
  a.old_type = "integer";
  auto f = judge(statement("ALTER TABLE", "ALTER TABLE orders RENAME COLUMN customer_id TO client_id", {a}));
  ASSERT_EQ(rules_of(f), Ids{"breaking-rename-column"});
  EXPECT_EQ(f[0].severity, Severity::Critical);
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders ADD COLUMN client_id integer;"));
  EXPECT_TRUE(contains(f[0].hint, "CREATE TRIGGER orders_client_id_sync BEFORE INSERT OR UPDATE ON orders"));
  EXPECT_TRUE(contains(f[0].hint,
                       "CALL zdm.backfill('orders', 'client_id = customer_id', 'client_id IS DISTINCT FROM customer_id');"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders DROP COLUMN customer_id /* zdm:allow breaking-drop-column, "
                                  "statement-after-access-exclusive */;"));
}

TEST(Breaking, RenameTableLeavesAView) {
  Action a = action(Op::RenameRelation, "ALTER TABLE", "app.legacy");
  a.new_name = "legacy_v2";
  auto f = judge(statement("ALTER TABLE", "ALTER TABLE app.legacy RENAME TO legacy_v2", {a}));
  ASSERT_EQ(rules_of(f), Ids{"breaking-rename-table"});
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE app.legacy RENAME TO legacy_v2;\nCREATE VIEW app.legacy AS SELECT * FROM app.legacy_v2;"));
}

TEST(Breaking, RenameIndexOrSequenceIsNotBreaking) {
  Action a = action(Op::RenameRelation, "ALTER INDEX", "orders_pkey", LockMode::ShareUpdateExclusive);
  a.rel.kind = 'i';
  a.new_name = "orders_id_key";
  EXPECT_TRUE(judge(statement("ALTER INDEX", "ALTER INDEX orders_pkey RENAME TO orders_id_key", {a})).empty());
}

TEST(Breaking, SetSchemaLeavesAViewUnderTheOldQualifiedName) {
  Action a = action(Op::SetSchema, "ALTER TABLE");
  a.rel.qualified = "app.orders";
  a.new_name = "archive";
  auto f = judge(statement("ALTER TABLE", "ALTER TABLE orders SET SCHEMA archive", {a}));
  ASSERT_EQ(rules_of(f), Ids{"breaking-set-schema"});
  EXPECT_TRUE(contains(f[0].hint, "CREATE VIEW app.orders AS SELECT * FROM archive.orders;"));
}

TEST(Breaking, DropTableParksItFirst) {
  Action a = action(Op::DropRelation, "DROP TABLE", "\"Old Stuff\"");
  auto f = judge(statement("DROP TABLE", "DROP TABLE \"Old Stuff\"", {a}));
  ASSERT_EQ(rules_of(f), Ids{"breaking-drop-table"});
  EXPECT_TRUE(contains(f[0].hint,
                       "ALTER TABLE \"Old Stuff\" RENAME TO \"Old Stuff_to_drop\" /* zdm:allow breaking-rename-table */;"));
  EXPECT_TRUE(contains(f[0].hint, "DROP TABLE \"Old Stuff_to_drop\" /* zdm:allow breaking-drop-table */;"));
  Action seq = action(Op::DropRelation, "DROP SEQUENCE", "orders_id_seq");
  seq.rel.kind = 'S';
  EXPECT_TRUE(judge(statement("DROP SEQUENCE", "DROP SEQUENCE orders_id_seq", {seq})).empty());
}

TEST(Breaking, DropTypeInUseNamesTheColumn) {
  Action a = action(Op::DropType, "DROP TYPE");
  a.column = "feeling";
  a.old_type = "mood";
  a.in_use = true;
  a.cascade = true;
  auto f = judge(statement("DROP TYPE", "DROP TYPE mood CASCADE", {a}));
  ASSERT_EQ(rules_of(f), Ids{"breaking-drop-type-in-use"});
  EXPECT_TRUE(contains(f[0].message, "drops column feeling of orders"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders ADD COLUMN feeling_new text;"));
  EXPECT_TRUE(contains(f[0].hint, "DROP TYPE mood;"));
}

TEST(Breaking, EnumAddValueHasNoActionAndNoFinding) {
  EXPECT_TRUE(judge(statement("ALTER TYPE", "ALTER TYPE mood ADD VALUE 'meh'", {})).empty());
}

// --- transaction -------------------------------------------------------------------------------

TEST(Transaction, StatementAfterAccessExclusiveIsFlaggedOnce) {
  Action a = action(Op::AddColumn, "ALTER TABLE", "customers");
  Statement st = statement("ALTER TABLE", "ALTER TABLE customers ADD COLUMN email text;", {a});
  st.held_access_exclusive = {"orders"};
  auto f = judge(st);
  ASSERT_EQ(rules_of(f), Ids{"statement-after-access-exclusive"});
  EXPECT_EQ(f[0].severity, Severity::Warning);
  EXPECT_EQ(f[0].relation, "orders");
  EXPECT_TRUE(contains(f[0].hint, "COMMIT;\nALTER TABLE customers ADD COLUMN email text;"));
}

TEST(Transaction, AScanWhileTheLockIsHeldIsCritical) {
  Action a = action(Op::Other, "UPDATE", "customers", LockMode::RowExclusive);
  a.scan = true;
  Statement st = statement("ALTER TABLE", "ALTER TABLE customers VALIDATE CONSTRAINT c", {a});
  st.held_access_exclusive = {"orders", "items"};
  auto f = judge(st);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::Critical);
  EXPECT_TRUE(contains(f[0].message, "orders, items"));
}

TEST(Transaction, NothingHeldNothingFlagged) {
  Action a = action(Op::AddColumn, "ALTER TABLE", "customers");
  EXPECT_TRUE(judge(statement("ALTER TABLE", "ALTER TABLE customers ADD COLUMN email text", {a})).empty());
}

TEST(Catalog, EveryRuleOfTheseFamiliesIsListed) {
  for (const char* id : {"index-without-concurrently", "reindex-without-concurrently", "concurrently-in-transaction",
                         "cluster-table", "vacuum-full", "refresh-matview-without-concurrently", "truncate-table",
                         "breaking-drop-column", "breaking-rename-column", "breaking-drop-table",
                         "breaking-rename-table", "breaking-set-schema", "breaking-drop-type-in-use",
                         "statement-after-access-exclusive"})
    EXPECT_NE(find_rule(id), nullptr) << id;
}

// --- statements that lock existing tables while they add something ------------------------------

TEST(Domains, OneFindingForTheStatementNamingEveryTableAndTheNotValidPath) {
  Action a = action(Op::AlterDomainCheck, "ALTER DOMAIN", "stock", LockMode::Share);
  a.scan = true;
  a.column = "qty";
  a.old_type = "quantity";
  a.new_name = "ADD CONSTRAINT";
  a.constraint = "quantity_positive";
  Action b = a;
  b.rel.name = "returns";
  auto f = judge(statement("ALTER DOMAIN", "ALTER DOMAIN quantity ADD CONSTRAINT quantity_positive CHECK (VALUE > 0)",
                           {a, b}));
  ASSERT_EQ(rules_of(f), Ids{"domain-constraint-scan"});
  EXPECT_TRUE(contains(f[0].message, "stock, returns"));
  EXPECT_TRUE(contains(f[0].detail, "stock.qty, returns.qty"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER DOMAIN quantity ADD CONSTRAINT quantity_positive CHECK (VALUE > 0) NOT VALID;"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER DOMAIN quantity VALIDATE CONSTRAINT quantity_positive;"));
}

TEST(Domains, EmptyTablesAreNotFlagged) {
  Action a = action(Op::AlterDomainCheck, "ALTER DOMAIN", "stock", LockMode::Share);
  a.scan = false;  // the guard sets scan only for tables with rows
  a.old_type = "quantity";
  a.new_name = "SET NOT NULL";
  EXPECT_TRUE(judge(statement("ALTER DOMAIN", "ALTER DOMAIN quantity SET NOT NULL", {a})).empty());
}

TEST(Partitions, CreatePartitionOfScansTheDefaultPartitionUnlessProven) {
  Action parent = action(Op::CreateTable, "CREATE TABLE", "events");
  Action def = action(Op::AttachPartition, "CREATE TABLE", "events_other");
  def.default_partition = true;
  def.parent = "events";
  def.new_name = "events_5";
  def.partition_bound = "FOR VALUES FROM (500) TO (600)";
  def.constraint_expr = "(id IS NULL) OR (id < 500) OR (id >= 600)";
  def.scan = true;
  const std::string text = "CREATE TABLE events_5 PARTITION OF events FOR VALUES FROM (500) TO (600)";
  auto f = judge(statement("CREATE TABLE", text, {parent, def}));
  ASSERT_EQ(rules_of(f), Ids{"attach-partition-scan"});
  EXPECT_TRUE(contains(f[0].message, "creating partition events_5 of events"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE events_other VALIDATE CONSTRAINT"));
  EXPECT_TRUE(contains(f[0].hint, text + ";"));
  def.scan = false;
  def.partition_constraint_implied = true;
  EXPECT_TRUE(judge(statement("CREATE TABLE", text, {parent, def})).empty());
}

TEST(Objects, TriggersPoliciesAndLocksAreBoundedByLockSafeDdlNotFlagged) {
  // CREATE TRIGGER (SHARE ROW EXCLUSIVE), CREATE POLICY and LOCK TABLE (ACCESS EXCLUSIVE) change the
  // catalog only: no rule flags them; lock-safe DDL bounds their wait.
  for (auto [command, lock] : {std::pair{"CREATE TRIGGER", LockMode::ShareRowExclusive},
                               std::pair{"CREATE POLICY", LockMode::AccessExclusive},
                               std::pair{"LOCK TABLE", LockMode::AccessExclusive}})
    EXPECT_TRUE(judge(statement(command, command, {action(Op::Other, command, "orders", lock)})).empty()) << command;
}
