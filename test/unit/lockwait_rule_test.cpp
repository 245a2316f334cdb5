// Rule missing-lock-timeout: SET lock_timeout = 0 and then DDL that needs ACCESS EXCLUSIVE on an
// existing table, in strict mode, with nothing bounding the wait.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rules/rules.hpp"

using namespace zdm;

namespace {

Statement add_column_statement() {
  Statement st;
  st.command = "ALTER TABLE";
  st.text = "ALTER TABLE accounts ADD COLUMN note text";
  Action a;
  a.op = Op::AddColumn;
  a.command = "ALTER TABLE";
  a.rel.name = "accounts";
  a.rel.qualified = "public.accounts";
  a.rel.exists = true;
  a.lock = LockMode::AccessExclusive;
  a.column = "note";
  a.new_type = "text";
  st.actions.push_back(a);
  st.strongest_lock = LockMode::AccessExclusive;
  st.strict_mode = true;
  st.session_lock_timeout_ms = 0;
  st.lock_timeout_explicit_zero = true;
  st.zdm_lock_timeout_ms = 0;
  st.lock_wait_bounded = false;
  return st;
}

std::vector<Finding> lock_timeout_findings(const Statement& st) {
  std::vector<Finding> out;
  for (const Finding& f : judge(st))
    if (f.rule == "missing-lock-timeout") out.push_back(f);
  return out;
}

}  // namespace

TEST(MissingLockTimeout, InCatalog) {
  const RuleInfo* rule = find_rule("missing-lock-timeout");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->severity, Severity::Critical);
}

TEST(MissingLockTimeout, ExplicitZeroWithoutZdmTimeoutIsAFinding) {
  auto findings = lock_timeout_findings(add_column_statement());
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].relation, "accounts");
  EXPECT_EQ(findings[0].lock, LockMode::AccessExclusive);
  EXPECT_NE(findings[0].message.find("ALTER TABLE"), std::string::npos);
  EXPECT_NE(findings[0].detail.find("zdm.lock_timeout is 0"), std::string::npos);
  EXPECT_NE(findings[0].hint.find("SET zdm.lock_timeout"), std::string::npos);
}

TEST(MissingLockTimeout, ZdmTimeoutCoversIt) {
  Statement st = add_column_statement();
  st.zdm_lock_timeout_ms = 1000;
  st.lock_wait_bounded = true;
  EXPECT_TRUE(lock_timeout_findings(st).empty());
}

TEST(MissingLockTimeout, ZdmTimeoutSetButNotApplied) {
  // The first statement of a session that loaded zdm through the event trigger: not bounded.
  Statement st = add_column_statement();
  st.zdm_lock_timeout_ms = 1000;
  st.lock_wait_bounded = false;
  auto findings = lock_timeout_findings(st);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_NE(findings[0].detail.find("does not apply"), std::string::npos);
}

TEST(MissingLockTimeout, OnlyInStrictMode) {
  Statement st = add_column_statement();
  st.strict_mode = false;
  EXPECT_TRUE(lock_timeout_findings(st).empty());
}

TEST(MissingLockTimeout, DefaultZeroIsNotExplicit) {
  Statement st = add_column_statement();
  st.lock_timeout_explicit_zero = false;
  EXPECT_TRUE(lock_timeout_findings(st).empty());
}

TEST(MissingLockTimeout, WeakerLockIsNotAFinding) {
  Statement st = add_column_statement();
  st.actions[0].op = Op::ValidateConstraint;
  st.actions[0].lock = LockMode::ShareUpdateExclusive;
  st.strongest_lock = LockMode::ShareUpdateExclusive;
  EXPECT_TRUE(lock_timeout_findings(st).empty());
}

TEST(MissingLockTimeout, TableCreatedInThisTransactionIsNotAFinding) {
  Statement st = add_column_statement();
  st.actions[0].rel.created_in_transaction = true;
  EXPECT_TRUE(lock_timeout_findings(st).empty());
}

TEST(MissingLockTimeout, LintStatementsKnowNothingAndAreNotFlagged) {
  Statement st;  // zdm.lint: the session facts keep their defaults
  st.command = "ALTER TABLE";
  Action a;
  a.op = Op::AddColumn;
  a.rel.name = "accounts";
  a.rel.exists = true;
  a.lock = LockMode::AccessExclusive;
  st.actions.push_back(a);
  EXPECT_TRUE(lock_timeout_findings(st).empty());
}
