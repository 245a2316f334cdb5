// Internal to the guard room: reading a whole SQL text (a migration file) the way zdm.analyze() and
// zdm.lint() do: split it into statements, number them, find their lines, and carry what earlier
// statements of the text did (transaction blocks, tables created, ACCESS EXCLUSIVE locks held).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "guard/pure/script_text.hpp"  // pure: before any PostgreSQL header
#include "guard/guard.hpp"

namespace zdm::guard::script {

struct ParsedStatement {
  int number = 0;        // 1-based among the statements of the text (empty statements do not count)
  int line = 1;          // 1-based line of its first token
  Node* node = nullptr;  // raw parse tree
  std::string text;      // the comments before it and the statement, without its ';' (as the hook sees it)
  std::string own_text;  // text, and a comment after its ';' on the same line: where inline overrides count
  bool optimizable = false;  // SELECT / INSERT / UPDATE / DELETE / MERGE (not SELECT INTO)
};

// raw_parser() over the whole text. A syntax error is re-raised with the position as an internal
// position into the text (as PL/pgSQL does for EXECUTE), so the client points at the right place.
std::vector<ParsedStatement> parse(const std::string& sql);

// A PostgreSQL error raised while analysing one statement of the text, re-pointed at the text and
// given a CONTEXT line naming the statement.
void annotate(ErrorData* edata, const std::string& sql, const char* function, const ParsedStatement& st);

// What the statements before the current one did, as far as the text shows.
class State {
 public:
  // The context for analysing the next statement.
  const AnalysisContext& context() const { return context_; }
  // Relations locked ACCESS EXCLUSIVE by earlier statements of the current transaction block.
  const std::vector<std::string>& held_access_exclusive() const { return held_; }

  // Records the statement's effects: BEGIN / COMMIT / ROLLBACK, relations it creates or renames,
  // and (when `analysed` is given) the ACCESS EXCLUSIVE locks it keeps until the block ends.
  void after(const ParsedStatement& st, const Statement* analysed);
  // LOCK TABLE ... IN ACCESS EXCLUSIVE MODE inside a block: held until the block ends.
  void hold(const std::string& relation);
  // Whether an earlier statement renamed an existing relation to this name (as analyze names it:
  // quoted where needed, schema-qualified as written). The catalog still has the old name.
  bool renamed_to(const std::string& relation) const;

 private:
  void created(const RangeVar* rv);
  void end_block(bool rollback);

  AnalysisContext context_;
  std::vector<std::string> held_;
  std::vector<std::string> renamed_;
  size_t created_at_begin_ = 0;  // created_in_text size when the current block began
};


// Whether an error hit while analysing a statement must reach the caller: cancel, shutdown, out of
// resources, internal errors. The others (an unknown type, say) are about the statement itself.
bool must_propagate(const ErrorData* edata);

// One finding of zdm.lint().
struct LintRow {
  int statement = 0;
  int line = 1;
  Finding finding;
};

// Lints a whole text: every utility statement analysed (in a subtransaction of its own) and judged
// with what earlier statements did; findings allowed by an inline "-- zdm:allow" comment left out.
std::vector<LintRow> lint(const std::string& sql);

}  // namespace zdm::guard::script
