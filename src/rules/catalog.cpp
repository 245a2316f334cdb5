// The catalog of rules: the public list behind zdm.rules(), zdm.allow's check and the README.
#include <string_view>
#include <vector>

#include "rules/rules.hpp"

namespace zdm {

const std::vector<RuleInfo>& rule_catalog() {
  static const std::vector<RuleInfo> rules = {
      {"rewrite-column-type", Severity::Critical,
       "ALTER COLUMN ... TYPE that rewrites the table (and rebuilds its indexes) under ACCESS EXCLUSIVE",
       "add a new column of the new type, keep it in sync with a trigger, backfill in batches, switch "
       "reads, then drop the old column"},
      {"rebuild-index-column-type", Severity::Critical,
       "ALTER COLUMN ... TYPE that keeps the table but rebuilds indexes on the column under ACCESS EXCLUSIVE",
       "build the replacement index CONCURRENTLY on a new column, or change the type in a quiet window"},
  };
  return rules;
}

const RuleInfo* find_rule(std::string_view id) {
  for (const RuleInfo& r : rule_catalog())
    if (id == r.id) return &r;
  return nullptr;
}

}  // namespace zdm
