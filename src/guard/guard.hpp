// The guard room's door: settings, the ProcessUtility hook, and the statement analysis that other
// rooms (lock-safe DDL, lock preview) reuse.
#pragma once

#include <string>
#include <vector>

#include "rules/model.hpp"
#include "rules/rules.hpp"
#include "pg/postgres.hpp"

extern "C" {
#include "nodes/parsenodes.h"
}

namespace zdm::guard {

enum class Mode { Off = 0, Warn = 1, Strict = 2 };

// Defines zdm.mode, zdm.allow, zdm.ignore_below and installs the hook. Called once by _PG_init.
void init();

Mode mode();
int64_t ignore_below_bytes();
// Whether zdm.allow lists the rule id.
bool allowed_by_setting(const std::string& rule);

// What the analysis knows beyond the catalog: used by zdm.lint, which reads a whole file.
struct AnalysisContext {
  bool in_transaction_block = false;
  // Relations created earlier in the same text (lint/analyze) and not in the catalog yet,
  // as lower-case "schema.name" or "name".
  std::vector<std::string> created_in_text;
  // Take no lock at all, not even the brief ACCESS SHARE that reads a size or a definition when it is
  // free (zdm.lock_preview: only lock modes matter there). Sizes then come from pg_class.relpages.
  bool take_no_lock = false;
  // The hook's analysis while the transaction holds no ACCESS EXCLUSIVE lock: everything that reads it
  // (the rules, lock-safe DDL) ignores relations no other session can see, so the work that only
  // describes a temporary relation further (what a column type change does to it, the temporary
  // tables a DROP reaches with it) is skipped, and any relation no other session can see (temporary
  // or created in this transaction) is neither measured nor schema-qualified (BriefUnseenScope).
  // zdm.analyze, zdm.lint and previews leave it false.
  bool skip_temporary_detail = false;
};

// Facts about one utility statement (a raw parse tree node). Reads the catalog through syscache and
// the relation cache; takes no lock stronger than ACCESS SHARE, and that one only conditionally.
// May ereport (e.g. an unknown type): call it through pg::call or under a subtransaction.
// `text` is the statement's own text (for inline overrides and messages).
Statement analyze(Node* parsetree, const std::string& text, const AnalysisContext& context);

// Whether analyze() knows the statement's node type: the others lock no existing table that matters
// to a rule, a lock-safe attempt or a preview (analyze() returns no action for them).
bool analyzes(Node* parsetree);

// The analysis the guard made of `parsetree` when it judged it a moment ago in this same command, for
// lock-safe DDL to reuse (one analysis per statement); nullptr when there is none.
const Statement* reusable_analysis(Node* parsetree);

// The strongest lock a statement needs on an existing relation (for lock-safe DDL and previews).
// Returns None for statements that take no table lock worth bounding.
LockMode strongest_lock(const Statement& statement);

}  // namespace zdm::guard
