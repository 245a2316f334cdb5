// The rules room's one door: the rule catalog and judge(), a pure function Statement -> Findings.
#pragma once
#include "common/cpp_only.hpp"

#include <string>
#include <string_view>
#include <vector>

#include "rules/model.hpp"

namespace zdm {

struct RuleInfo {
  const char* id;            // stable kebab-case id
  Severity severity;
  const char* catches;       // what it catches, one sentence
  const char* safe_pattern;  // the safe way, one sentence
};

// Every rule zdm knows, in a stable order.
const std::vector<RuleInfo>& rule_catalog();
const RuleInfo* find_rule(std::string_view id);

struct JudgeOptions {
  // Actions on relations smaller than this (bytes, when known) are not judged. 0 judges all.
  int64_t ignore_below_bytes = 0;
};

// All findings for one statement, in action order. Actions on relations created earlier in the same
// transaction (or file, for lint) are never flagged: nobody else can see them yet.
std::vector<Finding> judge(const Statement& statement, const JudgeOptions& options = {});

// Helpers shared by the rule families (rules/text.cpp).
namespace text {
// Derives a new identifier from a (possibly quoted) one: derive("amount", "_new") = amount_new,
// derive("\"Amount\"", "_new") = "Amount_new".
std::string derive(const std::string& ident, const std::string& suffix);
// A SQL string literal: 'it''s'.
std::string literal(const std::string& s);
// Human-readable size: "8192 bytes", "12 MB", "3 GB".
std::string size(int64_t bytes);
// "about 1.2M rows" / "unknown number of rows"
std::string rows(double rows);
// The facts line shared by findings: relation, lock, rewrite/scan, rows and size.
std::string facts(const Action& action, LockMode statement_lock);
}  // namespace text

}  // namespace zdm
