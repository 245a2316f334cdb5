#include <cstdio>
#include <string>

#include "rules/rules.hpp"
#include "rules/statement_text.hpp"

namespace zdm::text {

std::string unquote(const std::string& ident) {
  std::string name = rules::sql::unqualified(ident);
  if (name.size() < 2 || name.front() != '"' || name.back() != '"') return name;
  std::string out;
  for (size_t i = 1; i + 1 < name.size(); i++) {
    out += name[i];
    if (name[i] == '"' && name[i + 1] == '"') i++;
  }
  return out;
}

std::string quote(const std::string& name) {
  bool safe = !name.empty() && (name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z'));
  for (char c : name) safe = safe && (c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
  if (safe) return name;
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string new_name(const Statement& st, NameKind kind, uint32_t owner, const std::string& name1,
                     const std::string& name2, const char* label) {
  NameRequest request;
  request.kind = kind;
  request.owner = owner;
  request.name1 = unquote(name1);
  request.name2 = name2.empty() ? "" : unquote(name2);
  request.label = label;
  if (st.names != nullptr) return st.names->choose(request);
  std::string joined = request.name1;
  if (!request.name2.empty()) joined += "_" + request.name2;
  if (!request.label.empty()) joined += "_" + request.label;
  return quote(joined);
}

std::string literal(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += "'";
  return out;
}

std::string size(int64_t bytes) {
  if (bytes < 0) return "unknown size";
  const char* units[] = {"bytes", "kB", "MB", "GB", "TB"};
  int u = 0;
  double v = static_cast<double>(bytes);
  while (v >= 10240 && u < 4) {
    v /= 1024;
    u++;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f %s", v, units[u]);
  return buf;
}

std::string rows(double rows) {
  if (rows < 0) return "rows unknown (never analyzed)";
  char buf[64];
  std::snprintf(buf, sizeof buf, "about %.0f rows", rows);
  return buf;
}

std::string facts(const Action& a, LockMode statement_lock) {
  LockMode lock = static_cast<int>(statement_lock) > static_cast<int>(a.lock) ? statement_lock : a.lock;
  std::string s = "Relation " + a.rel.name + ": " + rows(a.rel.rows) + ", " + size(a.rel.bytes) + ". ";
  s += "Lock: ";
  s += lock_mode_name(lock);
  s += " (";
  s += blocks_reads(lock) ? "blocks reads and writes" : blocks_writes(lock) ? "blocks writes" : "blocks other DDL";
  s += ")";
  if (a.rewrite)
    s += "; rewrites the table and rebuilds its indexes.";
  else if (a.scan)
    s += "; reads every row while holding the lock.";
  else
    s += ".";
  return s;
}

}  // namespace zdm::text
