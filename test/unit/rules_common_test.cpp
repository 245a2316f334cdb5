// Pure helpers shared by the rules: inline overrides, identifier derivation, literals, facts text,
// lock-mode spellings, and the rule catalog's invariants.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "rules/overrides.hpp"
#include "rules/rules.hpp"

using namespace zdm;

TEST(InlineAllows, ReadsRuleIdsFromALineComment) {
  auto ids = inline_allows("ALTER TABLE t ALTER COLUMN id TYPE bigint -- zdm:allow rewrite-column-type");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], "rewrite-column-type");
}

TEST(InlineAllows, ReadsSeveralIdsSeparatedByCommasOrSpaces) {
  auto ids = inline_allows("/* zdm:allow a-rule, Other-Rule third */ ALTER TABLE t DROP COLUMN x");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], "a-rule");
  EXPECT_EQ(ids[1], "other-rule");  // case-insensitive, like rule ids in zdm.allow
  EXPECT_EQ(ids[2], "third");
}

TEST(InlineAllows, IgnoresTheMarkerOutsideAComment) {
  EXPECT_TRUE(inline_allows("SELECT 'zdm:allow rewrite-column-type'").empty());
  EXPECT_TRUE(inline_allows("ALTER TABLE t ALTER COLUMN id TYPE bigint").empty());
}

TEST(InlineAllows, StopsAtTheEndOfTheLine) {
  auto ids = inline_allows("-- zdm:allow one\nALTER TABLE two ADD COLUMN c int");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], "one");
}

TEST(Text, NewNameJoinsThePartsAndQuotesTheWhole) {
  Statement st;  // no chooser: the parts joined as they are
  EXPECT_EQ(text::new_name(st, NameKind::Column, 0, "amount", "", "new"), "amount_new");
  EXPECT_EQ(text::new_name(st, NameKind::Column, 0, "\"Amount\"", "", "new"), "\"Amount_new\"");
  // Quoted parts are joined inside one pair of quotes; of a qualified name only the last part counts.
  EXPECT_EQ(text::new_name(st, NameKind::Function, 0, "app.\"Orders\"", "\"Amount\"", "sync"),
            "\"Orders_Amount_sync\"");
  EXPECT_EQ(text::new_name(st, NameKind::Constraint, 0, "\"a\"\"b\"", "c", "check"), "\"a\"\"b_c_check\"");
}

// A chooser that records what it was asked and numbers the name the way PostgreSQL would.
class RecordingChooser final : public NameChooser {
 public:
  mutable NameRequest last;
  std::string choose(const NameRequest& r) const override {
    last = r;
    return r.name1 + "_" + r.label + "1";
  }
};

TEST(Text, NewNameAsksTheChooserWithUnquotedParts) {
  RecordingChooser chooser;
  Statement st;
  st.names = &chooser;
  EXPECT_EQ(text::new_name(st, NameKind::Relation, 42, "public.\"Orders\"", "", "to_drop"), "Orders_to_drop1");
  EXPECT_EQ(chooser.last.kind, NameKind::Relation);
  EXPECT_EQ(chooser.last.owner, 42u);
  EXPECT_EQ(chooser.last.name1, "Orders");
  EXPECT_EQ(chooser.last.name2, "");
  EXPECT_EQ(chooser.last.label, "to_drop");
}

TEST(Text, UnquoteAndQuote) {
  EXPECT_EQ(text::unquote("orders"), "orders");
  EXPECT_EQ(text::unquote("\"My \"\"Table\"\"\""), "My \"Table\"");
  EXPECT_EQ(text::unquote("\"my.schema\".\"t.x\""), "t.x");
  EXPECT_EQ(text::quote("orders_id_seq"), "orders_id_seq");
  EXPECT_EQ(text::quote("Orders_id_seq"), "\"Orders_id_seq\"");
  EXPECT_EQ(text::quote("1st"), "\"1st\"");
}

TEST(Text, LiteralDoublesQuotes) { EXPECT_EQ(text::literal("it's"), "'it''s'"); }

TEST(Text, SizeAndRows) {
  EXPECT_EQ(text::size(-1), "unknown size");
  EXPECT_EQ(text::size(8192), "8192 bytes");
  EXPECT_EQ(text::size(49152), "48 kB");
  EXPECT_EQ(text::rows(-1), "rows unknown (never analyzed)");
  EXPECT_EQ(text::rows(1000), "about 1000 rows");
}

TEST(LockModes, SpelledAsPgLocksSpellsThem) {
  EXPECT_STREQ(lock_mode_name(LockMode::AccessExclusive), "AccessExclusiveLock");
  EXPECT_STREQ(lock_mode_name(LockMode::ShareUpdateExclusive), "ShareUpdateExclusiveLock");
  EXPECT_STREQ(lock_mode_sql(LockMode::ShareRowExclusive), "SHARE ROW EXCLUSIVE");
  EXPECT_TRUE(blocks_reads(LockMode::AccessExclusive));
  EXPECT_FALSE(blocks_reads(LockMode::Exclusive));
  EXPECT_TRUE(blocks_writes(LockMode::Share));
  EXPECT_FALSE(blocks_writes(LockMode::ShareUpdateExclusive));
}

TEST(RuleCatalog, IdsAreUniqueKebabCaseAndDescribed) {
  std::set<std::string> seen;
  std::regex kebab("^[a-z]+(-[a-z]+)*$");
  for (const RuleInfo& r : rule_catalog()) {
    EXPECT_TRUE(std::regex_match(r.id, kebab)) << r.id;
    EXPECT_TRUE(seen.insert(r.id).second) << "duplicate rule id " << r.id;
    EXPECT_STRNE(r.catches, "") << r.id;
    EXPECT_STRNE(r.safe_pattern, "") << r.id;
    EXPECT_EQ(find_rule(r.id), &r);
  }
  EXPECT_EQ(find_rule("no-such-rule"), nullptr);
}

TEST(Judge, NeverFlagsRelationsCreatedInThisTransaction) {
  Statement st;
  Action a;
  a.op = Op::AlterColumnType;
  a.rel.exists = true;
  a.rel.created_in_transaction = true;
  a.rewrite = true;
  a.lock = LockMode::AccessExclusive;
  st.actions.push_back(a);
  st.strongest_lock = LockMode::AccessExclusive;
  EXPECT_TRUE(judge(st).empty());
  st.actions[0].rel.created_in_transaction = false;
  EXPECT_FALSE(judge(st).empty());
}

TEST(Judge, IgnoreBelowSkipsSmallRelationsOnly) {
  Statement st;
  Action a;
  a.op = Op::AlterColumnType;
  a.rel.exists = true;
  a.rel.bytes = 8192;
  a.rewrite = true;
  st.actions.push_back(a);
  JudgeOptions small;
  small.ignore_below_bytes = 1024 * 1024;
  EXPECT_TRUE(judge(st, small).empty());
  st.actions[0].rel.bytes = 4 * 1024 * 1024;
  EXPECT_FALSE(judge(st, small).empty());
}
