// zdm.mode, zdm.allow, zdm.ignore_below: the guard's settings (PGC_USERSET, so they can be set per
// session, role, database or in postgresql.conf).
#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "guard/guard.hpp"
#include "guard/hook.hpp"

extern "C" {
#include "utils/guc.h"
}

namespace zdm::guard {

namespace {

int mode_setting = static_cast<int>(Mode::Warn);
char* allow_setting = nullptr;
int ignore_below_kb = 0;

// zdm.allow parsed once, in its check hook (as pgaudit does): a malloc'd block of NUL-separated
// rule ids ending with an empty string. Owned by the GUC machinery as the setting's "extra".
const char* allow_list = nullptr;

const struct config_enum_entry mode_options[] = {
    {"off", static_cast<int>(Mode::Off), false},
    {"warn", static_cast<int>(Mode::Warn), false},
    {"strict", static_cast<int>(Mode::Strict), false},
    {nullptr, 0, false},
};

bool known_rule(const char* id, size_t len) noexcept {
  try {
    return find_rule(std::string_view(id, len)) != nullptr;
  } catch (...) {
    return false;
  }
}

bool check_allow(char** newval, void** extra, GucSource) {
  const char* s = *newval ? *newval : "";
  size_t n = std::strlen(s);
  char* block = static_cast<char*>(std::malloc(n + 2));
  if (block == nullptr) return false;
  char* out = block;
  const char* p = s;
  while (*p) {
    while (*p && (std::isspace(static_cast<unsigned char>(*p)) || *p == ',')) p++;
    const char* start = p;
    while (*p && *p != ',' && !std::isspace(static_cast<unsigned char>(*p))) p++;
    size_t len = static_cast<size_t>(p - start);
    if (len == 0) continue;
    if (!known_rule(start, len)) {
      GUC_check_errdetail("\"%.*s\" is not a zdm rule id.", static_cast<int>(len), start);
      GUC_check_errhint("SELECT id FROM zdm.rules() lists the rule ids.");
      std::free(block);
      return false;
    }
    for (size_t i = 0; i < len; i++) *out++ = static_cast<char>(std::tolower(static_cast<unsigned char>(start[i])));
    *out++ = '\0';
  }
  *out = '\0';
  *extra = block;
  return true;
}

void assign_allow(const char*, void* extra) { allow_list = static_cast<const char*>(extra); }

}  // namespace

Mode mode() { return static_cast<Mode>(mode_setting); }

int64_t ignore_below_bytes() { return static_cast<int64_t>(ignore_below_kb) * 1024; }

bool allowed_by_setting(const std::string& rule) {
  if (allow_list == nullptr) return false;
  for (const char* p = allow_list; *p; p += std::strlen(p) + 1)
    if (rule == p) return true;
  return false;
}

void init() {
  DefineCustomEnumVariable(
      "zdm.mode", "How the zdm guard treats risky DDL: off, warn or strict.",
      "warn raises a WARNING for each finding and lets the statement run; strict raises an ERROR "
      "before the statement requests any lock; off judges nothing.",
      &mode_setting, static_cast<int>(Mode::Warn), mode_options, PGC_USERSET, 0, nullptr, nullptr,
      nullptr);
  DefineCustomStringVariable(
      "zdm.allow", "Comma-separated zdm rule ids to allow (reported as a NOTICE instead of judged).",
      "For one statement, a comment '-- zdm:allow rule-id' in its text does the same.", &allow_setting,
      "", PGC_USERSET, GUC_LIST_INPUT, check_allow, assign_allow, nullptr);
  DefineCustomIntVariable(
      "zdm.ignore_below", "Relations smaller than this are not judged.",
      "0 (the default) judges every relation whatever its size today: migrations are tried on small "
      "databases and run on big ones.",
      &ignore_below_kb, 0, 0, INT_MAX, PGC_USERSET, GUC_UNIT_KB, nullptr, nullptr, nullptr);
  install_hooks();
}

}  // namespace zdm::guard
