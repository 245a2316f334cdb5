// README.md documents every rule id the code knows (rule ids are public API), so that the catalog and
// the documentation cannot drift apart.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "rules/rules.hpp"

namespace {

std::string readme() {
  std::ifstream in(std::string(ZDM_SOURCE_DIR) + "/README.md");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST(Readme, NamesEveryRuleOfTheCatalogWithItsSeverity) {
  const std::string text = readme();
  ASSERT_FALSE(text.empty()) << "README.md not found under " << ZDM_SOURCE_DIR;
  for (const zdm::RuleInfo& rule : zdm::rule_catalog()) {
    const std::string row = std::string("| `") + rule.id + "` | " + zdm::severity_name(rule.severity) + " |";
    EXPECT_NE(text.find(row), std::string::npos) << "README.md has no rules-table row for " << rule.id;
  }
}
