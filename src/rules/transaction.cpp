// Rule family "transaction": not written yet (its owner replaces this file).
#include "rules/families.hpp"

namespace zdm::rules {

void add_transaction_rules(Rules&) {}
void check_transaction(const Statement&, Findings&) {}

}  // namespace zdm::rules
