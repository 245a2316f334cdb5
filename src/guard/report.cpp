// Findings -> PostgreSQL messages. warn: one WARNING per finding. strict: the findings that are not
// allowed are rejected with SQLSTATE ZD001 before the statement requests any lock.
#include <algorithm>
#include <string>
#include <vector>

#include "guard/hook.hpp"
#include "pg/boundary.hpp"
#include "rules/overrides.hpp"

namespace zdm::guard {

namespace {

void notice_allowed(const Finding& f, const char* how) {
  std::string msg = "zdm: rule " + f.rule + " allowed by " + how;
  pg::call([&] {
    ereport(NOTICE, (errmsg_internal("%s", msg.c_str()),
                     errdetail_internal("%s", f.message.c_str())));
  });
}

void warn(const Finding& f) {
  std::string msg = f.rule + ": " + f.message;
  pg::call([&] {
    ereport(WARNING, (errcode(ERRCODE_WARNING), errmsg_internal("%s", msg.c_str()),
                      f.detail.empty() ? 0 : errdetail_internal("%s", f.detail.c_str()),
                      f.hint.empty() ? 0 : errhint("%s", f.hint.c_str())));
  });
}

}  // namespace

void report(const std::vector<Finding>& findings, const std::string& statement_text, Mode mode) {
  std::vector<std::string> inline_ids = inline_allows(statement_text);
  std::vector<const Finding*> rejected;
  for (const Finding& f : findings) {
    if (std::find(inline_ids.begin(), inline_ids.end(), f.rule) != inline_ids.end()) {
      notice_allowed(f, "a zdm:allow comment");
    } else if (allowed_by_setting(f.rule)) {
      notice_allowed(f, "zdm.allow");
    } else if (mode == Mode::Strict) {
      rejected.push_back(&f);
    } else {
      warn(f);
    }
  }
  if (rejected.empty()) return;

  // Strict: every rejected finding but the last as a WARNING, the last as the ERROR, so that each
  // keeps its own detail and hint.
  for (size_t i = 0; i + 1 < rejected.size(); i++) warn(*rejected[i]);
  const Finding& f = *rejected.back();
  std::string detail = f.detail;
  if (!detail.empty()) detail += "\n";
  detail += "zdm.mode is strict: the statement was rejected before it requested any lock.";
  std::string hint = f.hint;
  if (!hint.empty()) hint += "\n";
  hint += "To run it as it is, add the comment \"-- zdm:allow " + f.rule + "\" to the statement or SET zdm.allow = '" +
          f.rule + "'.";
  throw UserError(sqlstate::kStrictViolation, f.rule + ": " + f.message, detail, hint);
}

}  // namespace zdm::guard
