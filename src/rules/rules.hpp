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
// The name of an object a hint creates, name1_name2_label, chosen by statement.names past the names
// in use and quoted as needed: new_name(st, NameKind::Column, oid, "\"Amount\"", "", "new") is
// "Amount_new", or "Amount_new1" when the table has that column already. name1 and name2 are
// identifiers as written (quoted or not; of a qualified name only the last part counts); name2 may
// be "".
std::string new_name(const Statement& statement, NameKind kind, uint32_t owner, const std::string& name1,
                     const std::string& name2, const char* label);
// A name as an identifier, quoted unless it is lower case letters, digits and underscores. Unlike
// PostgreSQL's quote_identifier it knows no keywords: for names that end in "_label" only.
std::string quote(const std::string& name);
// The name an identifier stands for: "Amount" -> Amount, public.orders -> orders, "a""b" -> a"b.
std::string unquote(const std::string& ident);
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
