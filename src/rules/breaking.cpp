// Rule family "breaking": not written yet (its owner replaces this file).
#include "rules/families.hpp"

namespace zdm::rules {

void add_breaking_rules(Rules&) {}
void check_breaking(const Statement&, const Action&, Findings&) {}

}  // namespace zdm::rules
