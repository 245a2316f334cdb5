#include <cstdio>
#include <string>

#include "rules/rules.hpp"

namespace zdm::text {

std::string derive(const std::string& ident, const std::string& suffix) {
  if (ident.size() >= 2 && ident.front() == '"' && ident.back() == '"')
    return ident.substr(0, ident.size() - 1) + suffix + "\"";
  return ident + suffix;
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
