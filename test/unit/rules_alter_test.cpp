// The ALTER TABLE rule families (column_type, add_column, constraints, table_storage) on hand-built
// statements: which facts are flagged, under which rule id, and that the hints carry the user's names.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rules/rules.hpp"

using namespace zdm;

namespace {

Action action(Op op, const std::string& table = "orders") {
  Action a;
  a.op = op;
  a.command = "ALTER TABLE";
  a.rel.name = table;
  a.rel.qualified = "public." + table;
  a.rel.exists = true;
  a.rel.rows = 1000;
  a.rel.bytes = 65536;
  a.lock = LockMode::AccessExclusive;
  return a;
}

Statement statement(std::vector<Action> actions) {
  Statement st;
  st.command = "ALTER TABLE";
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

}  // namespace

// --- column_type -------------------------------------------------------------------------------

TEST(ColumnType, RewriteIsFlaggedWithAnExpandContractHint) {
  Action a = action(Op::AlterColumnType);
  a.column = "amount";
  a.old_type = "integer";
  a.new_type = "bigint";
  a.rewrite = a.scan = true;
  auto f = judge(statement({a}));
  ASSERT_EQ(rules_of(f), std::vector<std::string>{"rewrite-column-type"});
  EXPECT_EQ(f[0].lock, LockMode::AccessExclusive);
  EXPECT_TRUE(contains(f[0].detail, "AccessExclusiveLock"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders ADD COLUMN amount_new bigint;"));
}

TEST(ColumnType, KeyColumnSwapCarriesKeyForeignKeysDefaultAndSequence) {
  Action a = action(Op::AlterColumnType);
  a.column = "id";
  a.old_type = "integer";
  a.new_type = "bigint";
  a.rewrite = a.scan = true;
  a.key_constraint = "orders_pkey";
  a.key_constraint_type = 'p';
  a.column_not_null = true;
  a.column_default = "nextval('orders_id_seq'::regclass)";
  a.owned_sequence = "orders_id_seq";
  a.owned_sequence_type = "integer";
  a.referencing_keys.push_back({"lines", "lines_order_id_fkey", "FOREIGN KEY (order_id) REFERENCES orders(id)"});
  auto f = judge(statement({a}));
  ASSERT_EQ(rules_of(f), std::vector<std::string>{"rewrite-column-type"});
  const std::string& h = f[0].hint;
  // In order: the new unique index and NOT NULL proof before the swap; in the swap, the key moved to
  // the new column's index, the sequence handed over before the old column (which owns it) is dropped.
  size_t index = h.find("CREATE UNIQUE INDEX CONCURRENTLY orders_id_new_key ON orders (id_new);");
  size_t check = h.find("ADD CONSTRAINT orders_id_new_not_null CHECK (id_new IS NOT NULL) NOT VALID;");
  size_t drop_fk = h.find("ALTER TABLE lines DROP CONSTRAINT lines_order_id_fkey;");
  size_t key = h.find("DROP CONSTRAINT orders_pkey, ADD CONSTRAINT orders_pkey PRIMARY KEY USING INDEX orders_id_new_key;");
  size_t owned = h.find("ALTER SEQUENCE orders_id_seq OWNED BY orders.id_new;");
  size_t as = h.find("ALTER SEQUENCE orders_id_seq AS bigint;");
  size_t drop = h.find("ALTER TABLE orders DROP COLUMN id;");
  size_t readd = h.find("ALTER TABLE lines ADD CONSTRAINT lines_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders(id) NOT VALID;");
  size_t validate = h.find("ALTER TABLE lines VALIDATE CONSTRAINT lines_order_id_fkey;");
  for (size_t pos : {index, check, drop_fk, key, owned, as, drop, readd, validate}) ASSERT_NE(pos, std::string::npos) << h;
  EXPECT_LT(index, drop_fk);
  EXPECT_LT(check, drop_fk);
  EXPECT_LT(drop_fk, key);
  EXPECT_LT(owned, drop);
  EXPECT_LT(drop, readd);
  EXPECT_LT(readd, validate);
  EXPECT_TRUE(contains(h, "ALTER COLUMN id_new SET DEFAULT nextval('orders_id_seq'::regclass);"));
}

TEST(ColumnType, IndexRebuildHintDropsAndRebuildsConcurrently) {
  Action a = action(Op::AlterColumnType);
  a.column = "code";
  a.old_type = "text";
  a.new_type = "text COLLATE \"C\"";
  a.scan = true;
  a.rebuilt_indexes = {"orders_code_idx"};
  a.rebuilt_index_defs = {"CREATE INDEX orders_code_idx ON public.orders USING btree (code)"};
  auto f = judge(statement({a}));
  ASSERT_EQ(rules_of(f), std::vector<std::string>{"rebuild-index-column-type"});
  EXPECT_TRUE(contains(f[0].hint, "DROP INDEX CONCURRENTLY orders_code_idx;"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders ALTER COLUMN code TYPE text COLLATE \"C\";"));
  EXPECT_TRUE(contains(f[0].hint, "CREATE INDEX CONCURRENTLY orders_code_idx ON public.orders USING btree (code);"));
}

TEST(ColumnType, RevalidatedCheckIsAWarningWithNotValidHint) {
  Action a = action(Op::AlterColumnType);
  a.column = "qty";
  a.old_type = a.new_type = "integer";
  a.scan = true;
  a.revalidated_checks = {"qty_positive"};
  a.revalidated_check_defs = {"CHECK ((qty > 0))"};
  auto f = judge(statement({a}));
  ASSERT_EQ(rules_of(f), std::vector<std::string>{"revalidate-check-column-type"});
  EXPECT_EQ(f[0].severity, Severity::Warning);
  EXPECT_TRUE(contains(f[0].hint, "DROP CONSTRAINT qty_positive, ALTER COLUMN qty TYPE integer, ADD CONSTRAINT "
                                  "qty_positive CHECK ((qty > 0)) NOT VALID;"));
  EXPECT_TRUE(contains(f[0].hint, "VALIDATE CONSTRAINT qty_positive;"));
}

TEST(ColumnType, BinaryCoercibleChangeIsNotFlagged) {
  Action a = action(Op::AlterColumnType);
  a.column = "name";
  a.old_type = "character varying(20)";
  a.new_type = "text";
  EXPECT_TRUE(judge(statement({a})).empty());
}

// --- add_column --------------------------------------------------------------------------------

TEST(AddColumn, EachRewriteCauseHasItsOwnRule) {
  struct Case {
    const char* rule;
    void (*set)(Action&);
  } cases[] = {
      {"add-column-volatile-default", [](Action& a) { a.has_default = a.volatile_default = true; a.default_expr = "random()"; }},
      {"add-column-serial", [](Action& a) { a.serial = a.has_default = a.volatile_default = a.not_null = true; }},
      {"add-column-identity", [](Action& a) { a.identity = true; }},
      {"add-column-generated-stored", [](Action& a) { a.generated_stored = true; a.generation_expr = "(total * 100)"; }},
      {"add-column-domain-constraints", [](Action& a) { a.domain_with_constraints = true; a.base_type = "integer"; }},
  };
  for (const Case& c : cases) {
    Action a = action(Op::AddColumn);
    a.column = "extra";
    a.new_type = "integer";
    c.set(a);
    a.rewrite = a.scan = true;
    auto f = judge(statement({a}));
    ASSERT_EQ(rules_of(f), std::vector<std::string>{c.rule}) << c.rule;
    EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders ADD COLUMN extra")) << c.rule;
  }
}

TEST(AddColumn, VolatileDefaultHintBackfillsWithTheUsersExpression) {
  Action a = action(Op::AddColumn);
  a.column = "token";
  a.new_type = "double precision";
  a.has_default = a.volatile_default = a.rewrite = a.scan = true;
  a.default_expr = "random()";
  auto f = judge(statement({a}));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders ALTER COLUMN token SET DEFAULT random();"));
  EXPECT_TRUE(contains(f[0].hint, "CALL zdm.backfill('orders', 'token = random()', 'token IS NULL');"));
}

TEST(AddColumn, SerialHintCreatesTheSequenceAndTheNotNullSteps) {
  Action a = action(Op::AddColumn);
  a.column = "seq";
  a.new_type = "bigint";
  a.serial = a.has_default = a.volatile_default = a.not_null = a.rewrite = a.scan = true;
  auto f = judge(statement({a}));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(contains(f[0].hint, "CREATE SEQUENCE orders_seq_seq AS bigint;"));
  EXPECT_TRUE(contains(f[0].hint, "CHECK (seq IS NOT NULL) NOT VALID;"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders ALTER COLUMN seq SET NOT NULL;"));
}

TEST(AddColumn, NotNullWithoutDefaultOnlyMattersWhenTheTableHasRows) {
  Action a = action(Op::AddColumn);
  a.column = "region";
  a.new_type = "text";
  a.not_null = a.scan = true;
  EXPECT_EQ(rules_of(judge(statement({a}))), std::vector<std::string>{"add-column-not-null-without-default"});
  a.rel.known_empty = true;
  EXPECT_TRUE(judge(statement({a})).empty());
}

TEST(AddColumn, CatalogOnlyAdditionsAreNotFlagged) {
  Action a = action(Op::AddColumn);
  a.column = "currency";
  a.new_type = "text";
  a.not_null = a.has_default = true;  // NOT NULL DEFAULT 'EUR': stored as the missing value
  EXPECT_TRUE(judge(statement({a})).empty());
  Action nullable = action(Op::AddColumn);
  nullable.column = "note";
  EXPECT_TRUE(judge(statement({nullable})).empty());
}

// --- constraints -------------------------------------------------------------------------------

TEST(Constraints, SetNotNullScanIsFlaggedUnlessACheckProvesIt) {
  Action a = action(Op::SetNotNull);
  a.column = "title";
  a.scan = true;
  auto f = judge(statement({a}));
  ASSERT_EQ(rules_of(f), std::vector<std::string>{"set-not-null-without-check"});
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders ADD CONSTRAINT orders_title_not_null CHECK (title IS NOT NULL) "
                                  "NOT VALID;"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders DROP CONSTRAINT orders_title_not_null;"));
  a.scan = false;
  a.valid_not_null_check = true;
  EXPECT_TRUE(judge(statement({a})).empty());
}

TEST(Constraints, DropNotNullIsNotFlagged) {
  Action a = action(Op::DropNotNull);
  a.column = "title";
  EXPECT_TRUE(judge(statement({a})).empty());
}

TEST(Constraints, CheckWithoutNotValidGetsNotValidThenValidate) {
  Action a = action(Op::AddConstraint);
  a.constraint_type = 'c';
  a.constraint = "score_positive";
  a.constraint_def = "CHECK ((score > 0))";
  a.scan = true;
  auto f = judge(statement({a}));
  ASSERT_EQ(rules_of(f), std::vector<std::string>{"constraint-without-not-valid"});
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders ADD CONSTRAINT score_positive CHECK ((score > 0)) NOT VALID;"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders VALIDATE CONSTRAINT score_positive;"));
}

TEST(Constraints, ForeignKeyFlaggedOnceOnTheReferencingSideAtTheStrongestLock) {
  Action fk = action(Op::AddConstraint, "posts");
  fk.lock = LockMode::ShareRowExclusive;
  fk.constraint_type = 'f';
  fk.constraint = "posts_user_id_fkey";
  fk.constraint_def = "FOREIGN KEY (user_id) REFERENCES users (id)";
  fk.referenced = "users";
  fk.scan = true;
  Action ref = action(Op::AddConstraint, "users");
  ref.lock = LockMode::ShareRowExclusive;
  ref.constraint_type = 'f';
  ref.referenced_side = true;
  ref.scan = true;
  Action nn = action(Op::SetNotNull, "posts");
  nn.column = "body";
  nn.scan = true;
  auto f = judge(statement({fk, ref, nn}));
  ASSERT_EQ(rules_of(f), (std::vector<std::string>{"constraint-without-not-valid", "set-not-null-without-check"}));
  EXPECT_EQ(f[0].relation, "posts");
  EXPECT_EQ(f[0].lock, LockMode::AccessExclusive);  // the statement's strongest, from SET NOT NULL
  EXPECT_TRUE(contains(f[0].detail, "AccessExclusiveLock"));
  EXPECT_TRUE(contains(f[0].detail, "users"));
}

TEST(Constraints, NotValidAndValidateAreNotFlagged) {
  Action a = action(Op::AddConstraint);
  a.constraint_type = 'f';
  a.not_valid = true;
  EXPECT_TRUE(judge(statement({a})).empty());
  Action v = action(Op::ValidateConstraint);
  v.lock = LockMode::ShareUpdateExclusive;
  v.scan = true;
  v.constraint = "k";
  EXPECT_TRUE(judge(statement({v})).empty());
}

TEST(Constraints, PrimaryKeyBuildsIndexHintUsesConcurrentIndexAndUsingIndex) {
  Action a = action(Op::AddConstraint);
  a.constraint_type = 'p';
  a.constraint = a.index = "orders_pkey";
  a.columns = {"id"};
  a.nullable_columns = {"id"};
  a.scan = true;
  auto f = judge(statement({a}));
  ASSERT_EQ(rules_of(f), std::vector<std::string>{"constraint-builds-index"});
  EXPECT_TRUE(contains(f[0].hint, "CHECK (id IS NOT NULL) NOT VALID;"));
  EXPECT_TRUE(contains(f[0].hint, "CREATE UNIQUE INDEX CONCURRENTLY orders_pkey ON orders (id);"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY USING INDEX orders_pkey;"));
}

TEST(Constraints, UsingIndexIsFlaggedOnlyForNullablePrimaryKeyColumns) {
  Action a = action(Op::AddConstraint);
  a.constraint_type = 'p';
  a.using_index = true;
  a.constraint = "tags_pkey";
  a.index = "tags_id_idx";
  a.nullable_columns = {"id"};
  a.scan = true;
  EXPECT_EQ(rules_of(judge(statement({a}))), std::vector<std::string>{"primary-key-nullable-columns"});
  a.nullable_columns.clear();
  a.scan = false;
  EXPECT_TRUE(judge(statement({a})).empty());
  a.constraint_type = 'u';
  EXPECT_TRUE(judge(statement({a})).empty());
}

TEST(Constraints, AttachPartitionHintProvesTheBoundFirst) {
  Action parent = action(Op::AttachPartition, "events");
  parent.lock = LockMode::ShareUpdateExclusive;
  Action part = action(Op::AttachPartition, "events_1");
  part.parent = "events";
  part.scan = true;
  part.constraint_expr = "((id IS NOT NULL) AND (id >= 1) AND (id < 100))";
  part.partition_bound = "FOR VALUES FROM (1) TO (100)";
  auto f = judge(statement({parent, part}));
  ASSERT_EQ(rules_of(f), std::vector<std::string>{"attach-partition-scan"});
  EXPECT_EQ(f[0].relation, "events_1");
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE events_1 ADD CONSTRAINT events_1_bound CHECK (((id IS NOT NULL) AND "
                                  "(id >= 1) AND (id < 100))) NOT VALID;"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE events ATTACH PARTITION events_1 FOR VALUES FROM (1) TO (100);"));
  part.scan = false;
  part.partition_constraint_implied = true;
  EXPECT_TRUE(judge(statement({parent, part})).empty());
}

// --- table_storage -----------------------------------------------------------------------------

TEST(TableStorage, RewritesAreFlaggedAndNoOpsAreNot) {
  struct Case {
    Op op;
    const char* rule;
  } cases[] = {{Op::SetLogged, "rewrite-set-logged"},
               {Op::SetUnlogged, "rewrite-set-unlogged"},
               {Op::SetTablespace, "rewrite-set-tablespace"},
               {Op::SetAccessMethod, "rewrite-set-access-method"}};
  for (const Case& c : cases) {
    Action a = action(c.op, "logs");
    a.new_name = "fast";
    a.rewrite = true;
    auto f = judge(statement({a}));
    ASSERT_EQ(rules_of(f), std::vector<std::string>{c.rule}) << c.rule;
    EXPECT_TRUE(contains(f[0].hint, "(LIKE logs INCLUDING ALL)")) << c.rule;
    a.rewrite = false;  // already logged / same tablespace / same access method
    a.same_access_method = true;
    EXPECT_TRUE(judge(statement({a})).empty()) << c.rule;
  }
}

TEST(TableStorage, TablespaceDetailDoesNotClaimARowRewrite) {
  Action a = action(Op::SetTablespace, "logs");
  a.new_name = "fast";
  a.rewrite = true;
  auto f = judge(statement({a}));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(contains(f[0].detail, "copies every block"));
  EXPECT_FALSE(contains(f[0].detail, "rebuilds its indexes"));
  EXPECT_TRUE(contains(f[0].hint, "TABLESPACE fast;"));
}

// --- whole catalog -----------------------------------------------------------------------------

TEST(AlterRules, EveryRuleIdIsInTheCatalog) {
  for (const char* id : {"rewrite-column-type", "rebuild-index-column-type", "revalidate-check-column-type",
                         "add-column-volatile-default", "add-column-serial", "add-column-identity",
                         "add-column-generated-stored", "add-column-domain-constraints",
                         "add-column-not-null-without-default", "set-not-null-without-check",
                         "constraint-without-not-valid", "constraint-builds-index", "primary-key-nullable-columns",
                         "attach-partition-scan", "rewrite-set-logged", "rewrite-set-unlogged",
                         "rewrite-set-tablespace", "rewrite-set-access-method"})
    EXPECT_NE(find_rule(id), nullptr) << id;
}

TEST(AlterRules, DropColumnIsLeftToTheBreakingRules) {
  Action a = action(Op::DropColumn);
  a.column = "legacy";
  for (const Finding& f : judge(statement({a}))) EXPECT_EQ(f.rule.rfind("breaking-", 0), 0u) << f.rule;
}

// --- partitions and inheritance children ----------------------------------------------------------

TEST(AlterRules, PartitionsAreJudgedOnceOnTheNamedTableWithTheTreesRowsAndSize) {
  Action parent = action(Op::AlterColumnType, "ledger");
  parent.rel.kind = 'p';
  parent.rel.rows = 300;  // ANALYZE on a partitioned table counts its partitions already
  parent.rel.bytes = 0;
  parent.subcommand = 0;
  parent.column = "amount";
  parent.old_type = "integer";
  parent.new_type = "bigint";
  std::vector<Action> actions{parent};
  for (const char* name : {"ledger_1", "ledger_2"}) {
    Action c = action(Op::AlterColumnType, name);
    c.rel.rows = 150;
    c.rel.bytes = 8192;
    c.subcommand = 0;
    c.recursed_from = "ledger";
    c.rewrite = c.scan = true;
    actions.push_back(c);
  }
  auto f = judge(statement(actions));
  ASSERT_EQ(rules_of(f), std::vector<std::string>{"rewrite-column-type"});
  EXPECT_EQ(f[0].relation, "ledger");
  EXPECT_TRUE(contains(f[0].detail, "about 300 rows, 16 kB")) << f[0].detail;
  EXPECT_TRUE(contains(f[0].detail, "2 partitions")) << f[0].detail;
}

TEST(AlterRules, SetNotNullOnPartitionsIsFlaggedWhenAnyPartitionScans) {
  Action parent = action(Op::SetNotNull, "events");
  parent.rel.kind = 'p';
  parent.subcommand = 0;
  parent.column = "kind";
  Action proven = action(Op::SetNotNull, "events_1");
  proven.subcommand = 0;
  proven.recursed_from = "events";
  proven.valid_not_null_check = true;
  Action scanned = proven;
  scanned.rel.name = "events_2";
  scanned.valid_not_null_check = false;
  scanned.scan = true;
  EXPECT_EQ(rules_of(judge(statement({parent, proven, scanned}))),
            std::vector<std::string>{"set-not-null-without-check"});
  EXPECT_TRUE(judge(statement({parent, proven})).empty());
}

TEST(ColumnType, IndexBehindAConstraintGetsTheNewColumnPath) {
  Action a = action(Op::AlterColumnType);
  a.column = "code";
  a.old_type = "text";
  a.new_type = "text COLLATE \"C\"";
  a.scan = true;
  a.rebuilt_indexes = {"orders_code_key"};
  a.rebuilt_index_defs = {""};  // backs a UNIQUE constraint: cannot be dropped on its own
  auto f = judge(statement({a}));
  ASSERT_EQ(rules_of(f), std::vector<std::string>{"rebuild-index-column-type"});
  EXPECT_FALSE(contains(f[0].hint, "DROP INDEX"));
  EXPECT_TRUE(contains(f[0].hint, "ALTER TABLE orders ADD COLUMN code_new text COLLATE \"C\";"));
}
