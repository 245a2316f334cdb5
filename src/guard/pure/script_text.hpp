// Pure text helpers for reading a whole SQL text (zdm.analyze / zdm.lint): where a statement's first
// token is, which comments belong to it, on which line it starts. No PostgreSQL headers: the positions
// come from raw_parser's RawStmt (stmt_location, stmt_len), the rest is plain string work.
#pragma once
#include "common/cpp_only.hpp"

#include <cstddef>
#include <string>

namespace zdm::guard::script {

// Skips whitespace and comments from `pos` ("--" to the end of the line, "/* */" nested), as the
// scanner reads them (scan.l). Returns the position of the next token, or s.size().
size_t skip_space_and_comments(const std::string& s, size_t pos);

// Where a statement's own text ends, given the position just after its ';': a comment that is all
// that follows on the same line ("ALTER ...; -- zdm:allow rule") belongs to the statement.
size_t trailing_comment_end(const std::string& s, size_t after_semicolon);

// One statement's spans in the text, from raw_parser's location and length (0: to the end).
struct StatementSpan {
  size_t begin = 0;        // its text starts here: after the previous statement's own text
  size_t first_token = 0;  // its first token (after leading comments)
  size_t body_end = 0;     // where its ';' is (or the end of the text)
  size_t own_end = 0;      // body_end, or past its ';' and a comment on the same line
};
StatementSpan locate(const std::string& sql, int stmt_location, int stmt_len, size_t previous_own_end);

// 1-based line numbers of increasing positions, counted incrementally.
class LineCounter {
 public:
  explicit LineCounter(const std::string& s) : s_(s) {}
  int line_at(size_t pos);

 private:
  const std::string& s_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace zdm::guard::script
