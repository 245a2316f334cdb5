// Inline overrides: a comment "-- zdm:allow rule-id[, rule-id ...]" (or "/* zdm:allow ... */") in
// a statement's text allows those rules for that statement.
#pragma once
#include "common/cpp_only.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace zdm {

std::vector<std::string> inline_allows(std::string_view statement_text);

}  // namespace zdm
