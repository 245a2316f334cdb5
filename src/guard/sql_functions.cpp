// The guard's SQL interface: zdm.analyze(sql), zdm.lint(sql), zdm.rules().
//
// analyze and lint read a whole text (a migration file) with raw_parser() and analyse each statement
// with guard::analyze(): the facts come from the catalog as it is now, nothing is executed, and no lock
// stronger than a conditional, at once released ACCESS SHARE is taken (catalog.cpp resolve()). They
// work whatever zdm.mode is: the mode governs the hook, not these functions.
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "guard/guard.hpp"
#include "guard/catalog.hpp"
#include "guard/lint.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
}

namespace zdm::guard {

namespace {

// The tuplestore of a set-returning function (InitMaterializedSRF, as pg_stat_statements does).
class Output {
 public:
  explicit Output(FunctionCallInfo fcinfo) {
    pg::call([&] { InitMaterializedSRF(fcinfo, 0); });
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    store_ = rsinfo->setResult;
    desc_ = rsinfo->setDesc;
    width_ = desc_->natts;
  }

  // One row; call the setters for the columns that are not NULL, then put().
  void text(int column, const std::string& s) {
    const char* data = s.data();
    int len = static_cast<int>(s.size());
    set(column, pg::call([&] { return PointerGetDatum(cstring_to_text_with_len(data, len)); }));
  }
  void text_or_null(int column, const std::string& s) {
    if (!s.empty()) text(column, s);
  }
  void int32(int column, int32_t v) { set(column, Int32GetDatum(v)); }
  void int64(int column, int64_t v) { set(column, Int64GetDatum(v)); }
  void boolean(int column, bool v) { set(column, BoolGetDatum(v)); }

  void put() {
    Datum* v = values_;
    bool* n = nulls_;
    Tuplestorestate* store = store_;
    TupleDesc desc = desc_;
    pg::call([&] { tuplestore_putvalues(store, desc, v, n); });
    for (int i = 0; i < kMaxColumns; i++) {
      values_[i] = 0;
      nulls_[i] = true;
    }
  }

 private:
  static constexpr int kMaxColumns = 16;
  void set(int column, Datum d) {
    if (column < 0 || column >= width_ || column >= kMaxColumns)
      throw std::logic_error("zdm: result column out of range");
    values_[column] = d;
    nulls_[column] = false;
  }
  Tuplestorestate* store_ = nullptr;
  TupleDesc desc_ = nullptr;
  int width_ = 0;
  Datum values_[kMaxColumns] = {};
  bool nulls_[kMaxColumns] = {true, true, true, true, true, true, true, true,
                              true, true, true, true, true, true, true, true};
};

// IF EXISTS forms: PostgreSQL skips a missing relation with a NOTICE, so do we.
bool missing_ok(Node* node) {
  switch (nodeTag(node)) {
    case T_AlterTableStmt: return castNode(AlterTableStmt, node)->missing_ok;
    case T_DropStmt: return castNode(DropStmt, node)->missing_ok;
    case T_RenameStmt: return castNode(RenameStmt, node)->missing_ok;
    case T_AlterObjectSchemaStmt: return castNode(AlterObjectSchemaStmt, node)->missing_ok;
    default: return false;
  }
}

std::string as_message_name(const std::string& name) {
  // PostgreSQL writes relation "name" does not exist; the fact's name is already quoted when it needs it.
  return name.find('"') != std::string::npos ? name : "\"" + name + "\"";
}

// One row of zdm.analyze: a statement's actions on one relation, folded together.
struct RelationRow {
  std::string key;
  std::string name;
  LockMode lock = LockMode::None;
  bool rewrite = false;
  bool scan = false;
  bool exists = false;
  double rows = -1;
  int64_t bytes = -1;
};

std::vector<RelationRow> fold(const std::vector<Action>& actions) {
  std::vector<RelationRow> rows;
  for (const Action& a : actions) {
    std::string key = a.rel.exists && !a.rel.qualified.empty() ? a.rel.qualified : a.rel.name;
    RelationRow* row = nullptr;
    for (RelationRow& r : rows)
      if (r.key == key) row = &r;
    if (row == nullptr) {
      rows.push_back({});
      row = &rows.back();
      row->key = key;
      row->name = a.rel.name;
      row->exists = a.rel.exists;
      row->rows = a.rel.rows;
      row->bytes = a.rel.bytes;
    }
    if (static_cast<int>(a.lock) > static_cast<int>(row->lock)) row->lock = a.lock;
    row->rewrite = row->rewrite || a.rewrite;
    row->scan = row->scan || a.scan;
  }
  return rows;
}

void analyze_text(FunctionCallInfo fcinfo, const std::string& sql) {
  FactsCache cache;  // one catalog for the whole text
  Output out(fcinfo);
  std::vector<script::ParsedStatement> statements = script::parse(sql);
  script::State state;
  for (const script::ParsedStatement& st : statements) {
    pg::call([] { CHECK_FOR_INTERRUPTS(); });
    // Non-utility statements (SELECT, INSERT, UPDATE, DELETE, MERGE) are not reported: they take
    // ACCESS SHARE / ROW SHARE / ROW EXCLUSIVE locks, which block no reader and no writer.
    if (st.optimizable) {
      state.after(st, nullptr);
      continue;
    }
    Statement analysed;
    try {
      analysed = analyze(st.node, st.text, state.context());
    } catch (const pg::PgError& e) {
      script::annotate(e.data(), sql, "zdm.analyze", st);
      throw;
    }
    bool skip_missing = missing_ok(st.node);
    for (const Action& a : analysed.actions) {
      if (a.rel.exists || a.rel.created_in_transaction || a.op == Op::CreateTable || skip_missing) continue;
      // Renamed by an earlier statement of the text: the catalog knows it under its old name only, so
      // it is reported without facts rather than refused.
      if (state.renamed_to(a.rel.name)) continue;
      throw UserError(sqlstate::kUndefinedTable, "relation " + as_message_name(a.rel.name) + " does not exist",
                      "Statement " + std::to_string(st.number) + " at line " + std::to_string(st.line) + " is " +
                          analysed.command + ".",
                      "zdm.analyze reads the catalog as it is now: create the relation first (in the same text "
                      "is enough), or check search_path.");
    }
    for (const RelationRow& r : fold(analysed.actions)) {
      if (!r.exists && skip_missing) continue;
      out.int32(0, st.number);
      out.text(1, analysed.command);
      out.text(2, r.name);
      out.text_or_null(3, lock_mode_name(r.lock));
      out.boolean(4, r.rewrite);
      out.boolean(5, r.scan);
      if (r.exists && r.rows >= 0) out.int64(6, static_cast<int64_t>(std::llround(r.rows)));
      if (r.exists && r.bytes >= 0) out.int64(7, r.bytes);
      out.put();
    }
    state.after(st, &analysed);
  }
}

void lint_text(FunctionCallInfo fcinfo, const std::string& sql) {
  Output out(fcinfo);
  for (const script::LintRow& row : script::lint(sql)) {
    const Finding& f = row.finding;
    out.int32(0, row.statement);
    out.int32(1, row.line);
    out.text(2, f.rule);
    out.text(3, severity_name(f.severity));
    out.text_or_null(4, f.relation);
    out.text(5, f.message);
    out.text_or_null(6, f.detail);
    out.text_or_null(7, f.hint);
    out.put();
  }
}

void rules(FunctionCallInfo fcinfo) {
  Output out(fcinfo);
  for (const RuleInfo& r : rule_catalog()) {
    out.text(0, r.id);
    out.text(1, severity_name(r.severity));
    out.text(2, r.catches);
    out.text(3, r.safe_pattern);
    out.put();
  }
}

}  // namespace

}  // namespace zdm::guard

extern "C" {
PG_FUNCTION_INFO_V1(zdm_analyze);
PG_FUNCTION_INFO_V1(zdm_lint);
PG_FUNCTION_INFO_V1(zdm_rules);
Datum zdm_analyze(PG_FUNCTION_ARGS);
Datum zdm_lint(PG_FUNCTION_ARGS);
Datum zdm_rules(PG_FUNCTION_ARGS);
}

// The SQL declarations are STRICT (NULL in, no rows out); the checks here only guard against a
// declaration that is not.
Datum zdm_analyze(PG_FUNCTION_ARGS) {
  if (PG_ARGISNULL(0))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("zdm.analyze needs SQL text, not NULL")));
  char* sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
  zdm::pg::guarded([&] { zdm::guard::analyze_text(fcinfo, sql); });
  return (Datum)0;
}

Datum zdm_lint(PG_FUNCTION_ARGS) {
  if (PG_ARGISNULL(0))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("zdm.lint needs SQL text, not NULL")));
  char* sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
  zdm::pg::guarded([&] { zdm::guard::lint_text(fcinfo, sql); });
  return (Datum)0;
}

Datum zdm_rules(PG_FUNCTION_ARGS) {
  zdm::pg::guarded([&] { zdm::guard::rules(fcinfo); });
  return (Datum)0;
}
