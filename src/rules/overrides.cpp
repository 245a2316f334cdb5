#include "rules/overrides.hpp"

#include <cctype>

namespace zdm {

namespace {
bool rule_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}
}  // namespace

std::vector<std::string> inline_allows(std::string_view text) {
  std::vector<std::string> ids;
  constexpr std::string_view kMarker = "zdm:allow";
  size_t pos = 0;
  while ((pos = text.find(kMarker, pos)) != std::string_view::npos) {
    // Only inside a comment: the marker must follow "--" or "/*" on its line.
    size_t line_start = text.rfind('\n', pos);
    line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
    std::string_view before = text.substr(line_start, pos - line_start);
    bool in_comment = before.find("--") != std::string_view::npos || before.find("/*") != std::string_view::npos;
    pos += kMarker.size();
    if (!in_comment) continue;
    // Rule ids separated by commas and/or spaces, up to the end of the line or comment.
    while (pos < text.size() && text[pos] != '\n') {
      while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == ',')) pos++;
      size_t start = pos;
      while (pos < text.size() && rule_char(text[pos])) pos++;
      if (pos == start) break;
      std::string id(text.substr(start, pos - start));
      for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      ids.push_back(std::move(id));
    }
  }
  return ids;
}

}  // namespace zdm
