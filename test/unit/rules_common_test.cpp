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

TEST(Text, DeriveKeepsQuotingOfTheOriginal) {
  EXPECT_EQ(text::derive("amount", "_new"), "amount_new");
  EXPECT_EQ(text::derive("\"Amount\"", "_new"), "\"Amount_new\"");
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
