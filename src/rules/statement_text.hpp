// Internal to the rules room: the user's statement text, made ready to hand back in a hint.
#pragma once
#include "common/cpp_only.hpp"

#include <cctype>
#include <string>

namespace zdm::rules::sql {

// The statement without comments (-- and /* */, outside quotes), runs of white space as one space,
// no trailing semicolon: one line of runnable SQL.
inline std::string clean(const std::string& text) {
  std::string out;
  size_t i = 0, n = text.size();
  auto space = [&] {
    if (!out.empty() && out.back() != ' ') out += ' ';
  };
  while (i < n) {
    char c = text[i];
    if (c == '-' && i + 1 < n && text[i + 1] == '-') {
      while (i < n && text[i] != '\n') i++;
      space();
    } else if (c == '/' && i + 1 < n && text[i + 1] == '*') {
      int depth = 0;
      do {
        if (text[i] == '/' && i + 1 < n && text[i + 1] == '*') depth++, i += 2;
        else if (text[i] == '*' && i + 1 < n && text[i + 1] == '/') depth--, i += 2;
        else i++;
      } while (i < n && depth > 0);
      space();
    } else if (c == '\'' || c == '"') {
      size_t j = i + 1;
      while (j < n && !(text[j] == c && !(j + 1 < n && text[j + 1] == c))) j += text[j] == c ? 2 : 1;
      out.append(text, i, j + 1 - i);
      i = j + 1;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      space();
      i++;
    } else {
      out += c;
      i++;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  size_t start = out.find_first_not_of(' ');
  return start == std::string::npos ? std::string() : out.substr(start);
}

// Whether `s` at `pos` holds the keyword `kw` (case-insensitive) followed by a word boundary.
inline bool keyword_at(const std::string& s, size_t pos, const char* kw) {
  size_t i = 0;
  for (; kw[i]; i++) {
    if (pos + i >= s.size()) return false;
    if (std::toupper(static_cast<unsigned char>(s[pos + i])) != kw[i]) return false;
  }
  size_t end = pos + i;
  return end >= s.size() || !(std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_');
}

// Inserts "CONCURRENTLY " after the leading keywords `first` [`optional`] `second` of a cleaned
// statement ("CREATE [UNIQUE] INDEX", "REINDEX [(options)] INDEX"); "" when the text does not start so.
inline std::string with_concurrently(const std::string& cleaned, const char* first, const char* optional,
                                     const char* second) {
  size_t pos = 0;
  if (!keyword_at(cleaned, pos, first)) return {};
  pos += std::char_traits<char>::length(first) + 1;
  if (optional && keyword_at(cleaned, pos, optional)) pos += std::char_traits<char>::length(optional) + 1;
  if (!keyword_at(cleaned, pos, second)) return {};
  pos += std::char_traits<char>::length(second);
  return cleaned.substr(0, pos) + " CONCURRENTLY" + cleaned.substr(pos);
}

// The last identifier of a possibly qualified, possibly quoted name: public.orders -> orders.
inline std::string unqualified(const std::string& name) {
  bool quoted = false;
  size_t dot = std::string::npos;
  for (size_t i = 0; i < name.size(); i++) {
    if (name[i] == '"') quoted = !quoted;
    else if (name[i] == '.' && !quoted) dot = i;
  }
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

// The schema part with its dot ("public."), or "" for an unqualified name.
inline std::string schema_prefix(const std::string& name) {
  std::string last = unqualified(name);
  return name.substr(0, name.size() - last.size());
}

}  // namespace zdm::rules::sql
