#include "guard/pure/script_text.hpp"

#include <algorithm>

namespace zdm::guard::script {

namespace {
// The scanner's whitespace (scan.l: space [ \t\n\r\f\v]).
bool sql_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Past the end of the (nested) block comment that starts at `pos`.
size_t block_comment_end(const std::string& s, size_t pos) {
  int depth = 1;
  pos += 2;
  while (pos < s.size() && depth > 0) {
    if (s.compare(pos, 2, "/*") == 0) {
      depth++;
      pos += 2;
    } else if (s.compare(pos, 2, "*/") == 0) {
      depth--;
      pos += 2;
    } else {
      pos++;
    }
  }
  return pos;
}
}  // namespace

size_t skip_space_and_comments(const std::string& s, size_t pos) {
  while (pos < s.size()) {
    if (sql_space(s[pos])) {
      pos++;
    } else if (s.compare(pos, 2, "--") == 0) {
      while (pos < s.size() && s[pos] != '\n') pos++;
    } else if (s.compare(pos, 2, "/*") == 0) {
      pos = block_comment_end(s, pos);
    } else {
      break;
    }
  }
  return std::min(pos, s.size());
}

size_t trailing_comment_end(const std::string& s, size_t after_semicolon) {
  size_t pos = after_semicolon;
  while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\r')) pos++;
  if (s.compare(pos, 2, "--") == 0) {
    while (pos < s.size() && s[pos] != '\n') pos++;
    return pos;
  }
  if (s.compare(pos, 2, "/*") == 0) {
    size_t end = std::min(block_comment_end(s, pos), s.size());
    // Only when the comment is all that follows on the line.
    size_t rest = end;
    while (rest < s.size() && (s[rest] == ' ' || s[rest] == '\t' || s[rest] == '\r')) rest++;
    if (rest >= s.size() || s[rest] == '\n') return end;
  }
  return std::min(after_semicolon, s.size());
}

StatementSpan locate(const std::string& sql, int stmt_location, int stmt_len, size_t previous_own_end) {
  StatementSpan span;
  size_t location = stmt_location < 0 ? 0 : std::min(static_cast<size_t>(stmt_location), sql.size());
  span.body_end = stmt_len > 0 ? std::min(location + static_cast<size_t>(stmt_len), sql.size()) : sql.size();
  span.begin = std::min(std::max(previous_own_end, location), span.body_end);
  span.first_token = std::min(skip_space_and_comments(sql, location), span.body_end);
  span.own_end = span.body_end;
  if (span.body_end < sql.size() && sql[span.body_end] == ';')
    span.own_end = trailing_comment_end(sql, span.body_end + 1);
  return span;
}

int LineCounter::line_at(size_t pos) {
  pos = std::min(pos, s_.size());
  for (; pos_ < pos; pos_++)
    if (s_[pos_] == '\n') line_++;
  return line_;
}

}  // namespace zdm::guard::script
