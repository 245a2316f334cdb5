// Reading a whole SQL text: statements, their lines, and what each earlier statement did. Shared by
// zdm.analyze() and zdm.lint() (sql_functions.cpp); zdm.lint()'s walk is here too.
#include "guard/lint.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "guard/analyze_internal.hpp"
#include "guard/catalog.hpp"
#include "pg/boundary.hpp"
#include "rules/overrides.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_inherits.h"
#include "parser/parser.h"
#include "utils/resowner.h"
}

namespace zdm::guard::script {

namespace {

bool optimizable(Node* node) {
  switch (nodeTag(node)) {
    case T_SelectStmt:
      return castNode(SelectStmt, node)->intoClause == nullptr;  // SELECT INTO is CREATE TABLE AS
    case T_InsertStmt:
    case T_UpdateStmt:
    case T_DeleteStmt:
    case T_MergeStmt:
      return true;
    default:
      return false;
  }
}

std::string lower(const char* s) {
  std::string out(s ? s : "");
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string key_of(const RangeVar* rv) {
  std::string name = lower(rv->relname);
  return rv->schemaname ? lower(rv->schemaname) + "." + name : name;
}

}  // namespace

std::vector<ParsedStatement> parse(const std::string& sql) {
  const char* source = sql.c_str();
  List* raw = nullptr;
  try {
    raw = pg::call([&] { return raw_parser(source, RAW_PARSE_DEFAULT); });
  } catch (const pg::PgError& e) {
    // raw_parser's positions count from the start of `sql`, not of the query that called us.
    ErrorData* edata = e.data();
    if (edata->cursorpos > 0 && edata->internalquery == nullptr) {
      edata->internalpos = edata->cursorpos;
      edata->cursorpos = 0;
      edata->internalquery = pg::call([&] { return pstrdup(source); });
    }
    throw;
  }

  std::vector<ParsedStatement> out;
  out.reserve(static_cast<size_t>(list_length(raw)));
  LineCounter lines(sql);
  size_t own_end = 0;  // where the previous statement's own text ended
  ListCell* lc;
  foreach (lc, raw) {
    auto* rs = lfirst_node(RawStmt, lc);
    StatementSpan span = locate(sql, rs->stmt_location, rs->stmt_len, own_end);
    ParsedStatement st;
    st.number = static_cast<int>(out.size()) + 1;
    st.node = rs->stmt;
    st.optimizable = optimizable(rs->stmt);
    st.line = lines.line_at(span.first_token);
    st.text = sql.substr(span.begin, span.body_end - span.begin);
    st.own_text = sql.substr(span.begin, span.own_end - span.begin);
    own_end = span.own_end;
    out.push_back(std::move(st));
  }
  return out;
}

void annotate(ErrorData* edata, const std::string& sql, const char* function, const ParsedStatement& st) {
  if (edata->cursorpos > 0 && edata->internalquery == nullptr) {
    edata->internalpos = edata->cursorpos;
    edata->cursorpos = 0;
    const char* source = sql.c_str();
    edata->internalquery = pg::call([&] { return pstrdup(source); });
  }
  std::string line = std::string(function) + ", statement " + std::to_string(st.number) + " at line " +
                     std::to_string(st.line);
  const char* previous = edata->context;
  if (previous != nullptr && previous[0] != '\0') line = std::string(previous) + "\n" + line;
  const char* l = line.c_str();
  edata->context = pg::call([&] { return pstrdup(l); });
}

void State::created(const RangeVar* rv) {
  if (rv == nullptr || rv->relname == nullptr) return;
  std::string key = key_of(rv);
  auto& names = context_.created_in_text;
  if (std::find(names.begin(), names.end(), key) == names.end()) names.push_back(std::move(key));
}

void State::hold(const std::string& relation) {
  if (!context_.in_transaction_block) return;  // outside a block the lock ends with the statement
  if (std::find(held_.begin(), held_.end(), relation) == held_.end()) held_.push_back(relation);
}

void State::end_block(bool rollback) {
  // A rolled-back block created nothing.
  if (rollback && created_at_begin_ <= context_.created_in_text.size())
    context_.created_in_text.resize(created_at_begin_);
  held_.clear();
}

void State::after(const ParsedStatement& st, const Statement* analysed) {
  Node* node = st.node;
  switch (nodeTag(node)) {
    case T_TransactionStmt: {
      auto* ts = castNode(TransactionStmt, node);
      switch (ts->kind) {
        case TRANS_STMT_BEGIN:
        case TRANS_STMT_START:
          if (!context_.in_transaction_block) created_at_begin_ = context_.created_in_text.size();
          context_.in_transaction_block = true;
          break;
        case TRANS_STMT_COMMIT:
        case TRANS_STMT_ROLLBACK:
        case TRANS_STMT_PREPARE:
          if (!context_.in_transaction_block) break;  // PostgreSQL warns: no transaction in progress
          end_block(ts->kind == TRANS_STMT_ROLLBACK);
          // COMMIT AND CHAIN / ROLLBACK AND CHAIN start the next block at once.
          context_.in_transaction_block = ts->chain && ts->kind != TRANS_STMT_PREPARE;
          created_at_begin_ = context_.created_in_text.size();
          break;
        default:
          break;  // savepoints: what a ROLLBACK TO undoes is not tracked
      }
      return;
    }
    case T_CreateStmt:
      created(castNode(CreateStmt, node)->relation);
      break;
    case T_CreateForeignTableStmt:
      created(reinterpret_cast<CreateStmt*>(node)->relation);
      break;
    case T_CreateTableAsStmt: {
      auto* ctas = castNode(CreateTableAsStmt, node);
      if (ctas->into != nullptr) created(ctas->into->rel);
      break;
    }
    case T_SelectStmt: {
      auto* sel = castNode(SelectStmt, node);
      if (sel->intoClause != nullptr) created(sel->intoClause->rel);
      break;
    }
    case T_RenameStmt: {
      // A table created in the text keeps being new under its new name.
      auto* rs = castNode(RenameStmt, node);
      if (rs->relation != nullptr && rs->subname == nullptr && rs->newname != nullptr &&
          (rs->renameType == OBJECT_TABLE || rs->renameType == OBJECT_MATVIEW ||
           rs->renameType == OBJECT_FOREIGN_TABLE)) {
        const auto& names = context_.created_in_text;
        std::string old_key = key_of(rs->relation);
        std::string old_name = lower(rs->relation->relname);
        if (std::find(names.begin(), names.end(), old_key) != names.end() ||
            std::find(names.begin(), names.end(), old_name) != names.end()) {
          RangeVar renamed = *rs->relation;
          renamed.relname = rs->newname;
          created(&renamed);
        } else {
          // An existing relation under a new name: later statements may use it (see renamed_to).
          std::string name = rs->relation->schemaname ? quote_ident(rs->relation->schemaname) + "." : std::string();
          renamed_.push_back(name + quote_ident(rs->newname));
        }
      }
      break;
    }
    default:
      break;
  }
  if (analysed == nullptr) return;
  // As the hook's remember_access_exclusive: the lock is held until the block ends.
  for (const Action& a : analysed->actions)
    if (a.lock == LockMode::AccessExclusive && a.rel.visible_to_others()) hold(a.rel.name);
}

bool State::renamed_to(const std::string& relation) const {
  return std::find(renamed_.begin(), renamed_.end(), relation) != renamed_.end();
}

bool must_propagate(const ErrorData* edata) {
  int code = edata->sqlerrcode;
  int error_class = ERRCODE_TO_CATEGORY(code);
  return code == ERRCODE_QUERY_CANCELED || error_class == ERRCODE_TO_CATEGORY(ERRCODE_ADMIN_SHUTDOWN) ||
         error_class == ERRCODE_TO_CATEGORY(ERRCODE_INSUFFICIENT_RESOURCES) ||
         error_class == ERRCODE_TO_CATEGORY(ERRCODE_PROGRAM_LIMIT_EXCEEDED) ||
         error_class == ERRCODE_TO_CATEGORY(ERRCODE_INTERNAL_ERROR) || edata->elevel > ERROR;
}

namespace {

// Analyses the statements of a text one after another inside an internal subtransaction (as
// hook.cpp judge_and_report does for one): an error about a statement (an unknown type, a column
// created by an earlier statement that never ran) rolls the subtransaction back, is reported as a
// NOTICE, and the statement is skipped; the next statement opens a new one. One subtransaction serves
// every statement until an error, and each statement's palloc'd memory is freed once it is judged.
// (Analysis only reads the catalog: sharing the subtransaction changes nothing but the cost.)
// If an exception leaves lint() with the subtransaction open, the ERROR it becomes aborts it.
class Analyser {
 public:
  Analyser() : caller_context_(CurrentMemoryContext), caller_owner_(CurrentResourceOwner) {
    scratch_ = pg::call([] {
      return AllocSetContextCreate(CurrentMemoryContext, "zdm lint statement", ALLOCSET_DEFAULT_SIZES);
    });
  }

  bool analyse(const ParsedStatement& st, const State& state, Statement& out) {
    if (!open_) {
      pg::call([] { BeginInternalSubTransaction(nullptr); });
      MemoryContextSwitchTo(caller_context_);
      open_ = true;
    }
    MemoryContextSwitchTo(scratch_);
    ErrorData* error = nullptr;
    try {
      out = analyze(st.node, st.text, state.context());
    } catch (const pg::PgError& e) {
      error = e.data();
    } catch (...) {
      MemoryContextSwitchTo(caller_context_);
      throw;
    }
    MemoryContextSwitchTo(caller_context_);
    if (error == nullptr) return true;
    if (must_propagate(error)) throw pg::PgError(error);
    std::string msg = "zdm.lint: statement " + std::to_string(st.number) + " at line " + std::to_string(st.line) +
                      " not judged: " + (error->message ? error->message : "error");
    std::string detail = error->detail ? error->detail : "";
    pg::call([] { RollbackAndReleaseCurrentSubTransaction(); });
    MemoryContextSwitchTo(caller_context_);
    CurrentResourceOwner = caller_owner_;
    open_ = false;
    const char* m = msg.c_str();
    const char* d = detail.empty() ? nullptr : detail.c_str();
    pg::call([&] { ereport(NOTICE, (errmsg_internal("%s", m), d ? errdetail_internal("%s", d) : 0)); });
    return false;
  }

  // After each statement: its analysis' memory is no longer needed.
  void forget() { MemoryContextReset(scratch_); }

  void finish() {
    if (open_) {
      pg::call([] { ReleaseCurrentSubTransaction(); });
      MemoryContextSwitchTo(caller_context_);
      CurrentResourceOwner = caller_owner_;
      open_ = false;
    }
    MemoryContextDelete(scratch_);
  }

 private:
  MemoryContext caller_context_;
  ResourceOwner caller_owner_;
  MemoryContext scratch_ = nullptr;
  bool open_ = false;
};

}  // namespace

bool judged(Node* node) {
  switch (nodeTag(node)) {
    case T_TransactionStmt:
    case T_VariableSetStmt:
    case T_VariableShowStmt:
      return false;
    default:
      return true;
  }
}

std::vector<LintRow> lint(const std::string& sql) {
  FactsCache cache;  // one catalog for the whole text
  std::vector<ParsedStatement> statements = parse(sql);
  JudgeOptions options;
  options.ignore_below_bytes = ignore_below_bytes();
  State state;
  std::vector<LintRow> rows;
  Analyser analyser;
  for (const ParsedStatement& st : statements) {
    pg::call([] { CHECK_FOR_INTERRUPTS(); });
    // Plain SELECT / INSERT / UPDATE / DELETE / MERGE take no lock that blocks readers; the guard
    // judges utility statements only, and so does lint. Transaction control and SET / SHOW touch no
    // relation (COMMIT is what ends a held lock, not a statement run under it).
    if (st.optimizable || !judged(st.node)) {
      state.after(st, nullptr);
      continue;
    }
    Statement analysed;
    bool ok = analyser.analyse(st, state, analysed);
    analyser.forget();
    if (!ok) {
      state.after(st, nullptr);
      continue;
    }
    analysed.number = st.number;
    analysed.line = st.line;
    analysed.held_access_exclusive = state.held_access_exclusive();
    std::vector<Finding> findings = judge(analysed, options);
    std::vector<std::string> allowed = inline_allows(st.own_text);
    for (Finding& f : findings) {
      if (std::find(allowed.begin(), allowed.end(), f.rule) != allowed.end()) continue;
      rows.push_back({st.number, st.line, std::move(f)});
    }
    state.after(st, &analysed);
  }
  analyser.finish();
  return rows;
}

}  // namespace zdm::guard::script
