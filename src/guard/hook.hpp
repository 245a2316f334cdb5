// Internal to the guard room: the hook, the event trigger entry and the report of findings.
#pragma once

#include <string>
#include <vector>

#include "guard/guard.hpp"
#include "rules/model.hpp"

namespace zdm::guard {

void install_hooks();
bool hook_depth_active();
bool event_trigger_should_judge(Node* parsetree);

// Judges one statement and reports its findings (WARNING / NOTICE, or throws the strict-mode
// UserError). Analysis failures are swallowed: PostgreSQL reports its own error for the statement.
void judge_and_report(Node* parsetree, const std::string& text);
// Drops the analysis judge_and_report() kept for reusable_analysis().
void forget_analysis();

// Raises the findings as PostgreSQL messages, honouring zdm.allow and inline overrides.
// In strict mode throws UserError(ZD001) for the first finding that is not allowed.
void report(const std::vector<Finding>& findings, const std::string& statement_text, Mode mode);

// Relations the current transaction holds in ACCESS EXCLUSIVE mode from earlier statements.
const std::vector<std::string>& held_access_exclusive();
void remember_access_exclusive(const Statement& statement);

}  // namespace zdm::guard
