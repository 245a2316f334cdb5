// The catalog of rules: the public list behind zdm.rules(), zdm.allow's check and the README.
// Each family file lists its own rules.
#include <string_view>
#include <vector>

#include "rules/families.hpp"

namespace zdm {

const std::vector<RuleInfo>& rule_catalog() {
  static const std::vector<RuleInfo> rules = [] {
    std::vector<RuleInfo> r;
    rules::add_column_type_rules(r);
    rules::add_add_column_rules(r);
    rules::add_constraint_rules(r);
    rules::add_table_storage_rules(r);
    rules::add_index_rules(r);
    rules::add_maintenance_rules(r);
    rules::add_breaking_rules(r);
    rules::add_transaction_rules(r);
    rules::add_lock_timeout_rules(r);
    return r;
  }();
  return rules;
}

const RuleInfo* find_rule(std::string_view id) {
  for (const RuleInfo& r : rule_catalog())
    if (id == r.id) return &r;
  return nullptr;
}

}  // namespace zdm
