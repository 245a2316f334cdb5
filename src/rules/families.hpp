// Internal to the rules room: one check function per rule family (one file each). Each looks at one
// action of a statement and appends its findings.
#pragma once
#include "common/cpp_only.hpp"

#include <vector>

#include "rules/model.hpp"

namespace zdm::rules {

void check_column_type(const Statement& st, const Action& a, std::vector<Finding>& out);

}  // namespace zdm::rules
