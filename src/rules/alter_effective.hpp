// Internal to the ALTER TABLE rule families: PostgreSQL carries many subcommands down to every
// partition / inheritance child, each of which the guard records as its own action (recursed_from set,
// its own rewrite / scan). The findings belong to the table the user named, judged on the work of the
// whole tree: effective() folds the children's facts into the named table's action.
#pragma once
#include "common/cpp_only.hpp"

#include <string>

#include "rules/model.hpp"

namespace zdm::rules {

struct Effective {
  Action action;      // the named table's action with the children's rewrite / scan / rows / bytes folded in
  int children = 0;   // partitions / children reached by recursion
};

inline Effective effective(const Statement& st, const Action& a) {
  Effective e{a, 0};
  // A partitioned table's own reltuples already counts its partitions (ANALYZE on the parent): count
  // the tree from the partitions only.
  bool partitioned = a.rel.kind == 'p';
  for (const Action& b : st.actions) {
    if (b.recursed_from.empty() || b.recursed_from != a.rel.name || b.subcommand != a.subcommand || b.op != a.op)
      continue;
    if (e.children++ == 0 && partitioned) {
      e.action.rel.rows = -1;
      e.action.rel.bytes = -1;
    }
    e.action.rewrite = e.action.rewrite || b.rewrite;
    e.action.scan = e.action.scan || b.scan;
    if (b.rel.rows >= 0) e.action.rel.rows = (e.action.rel.rows > 0 ? e.action.rel.rows : 0) + b.rel.rows;
    if (b.rel.bytes >= 0) e.action.rel.bytes = (e.action.rel.bytes > 0 ? e.action.rel.bytes : 0) + b.rel.bytes;
    e.action.rel.known_empty = e.action.rel.known_empty && b.rel.known_empty;
    e.action.valid_not_null_check = e.action.valid_not_null_check && (b.valid_not_null_check || !b.scan);
    if (e.action.rebuilt_indexes.empty()) e.action.rebuilt_indexes = b.rebuilt_indexes;
    if (e.action.revalidated_checks.empty()) {
      e.action.revalidated_checks = b.revalidated_checks;
      e.action.revalidated_check_defs = b.revalidated_check_defs;
    }
  }
  return e;
}

// " Counted over the table and its 3 partitions." for a finding's detail; "" without children.
inline std::string children_note(const Effective& e) {
  if (e.children == 0) return {};
  return " Rows and size are those of the whole tree: PostgreSQL does the same to each of its " +
         std::to_string(e.children) + (e.children == 1 ? " partition" : " partitions") + " (or children).";
}

}  // namespace zdm::rules
