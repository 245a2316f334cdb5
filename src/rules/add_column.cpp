// Rule family "add_column": not written yet (its owner replaces this file).
#include "rules/families.hpp"

namespace zdm::rules {

void add_add_column_rules(Rules&) {}
void check_add_column(const Statement&, const Action&, Findings&) {}

}  // namespace zdm::rules
