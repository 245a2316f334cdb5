#include "rules/alter_effective.hpp"
#include "rules/families.hpp"
#include "rules/rules.hpp"

namespace zdm {

std::vector<Finding> judge(const Statement& st, const JudgeOptions& options) {
  std::vector<Finding> out;
  for (const Action& a : st.actions) {
    // Nobody else can see a relation created earlier in this transaction (or file), nor a temporary
    // one: no risk.
    if (!a.rel.visible_to_others()) continue;
    if (options.ignore_below_bytes > 0) {
      // A partitioned table has no storage of its own: weigh the whole tree the statement reaches.
      int64_t bytes = a.rel.kind == 'p' ? rules::effective(st, a).action.rel.bytes : a.rel.bytes;
      if (bytes >= 0 && bytes < options.ignore_below_bytes) continue;
    }
    rules::check_column_type(st, a, out);
    rules::check_add_column(st, a, out);
    rules::check_constraints(st, a, out);
    rules::check_table_storage(st, a, out);
    rules::check_indexes(st, a, out);
    rules::check_maintenance(st, a, out);
    rules::check_breaking(st, a, out);
  }
  rules::check_transaction(st, out);
  rules::check_lock_timeout(st, out);
  return out;
}

}  // namespace zdm
