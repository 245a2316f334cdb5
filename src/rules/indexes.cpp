// Rule family "indexes": not written yet (its owner replaces this file).
#include "rules/families.hpp"

namespace zdm::rules {

void add_index_rules(Rules&) {}
void check_indexes(const Statement&, const Action&, Findings&) {}

}  // namespace zdm::rules
