// Internal to the rules room: one file per rule family. Each family lists its rules for the catalog
// (add_*_rules) and checks one action of a statement at a time (check_*), appending findings.
#pragma once
#include "common/cpp_only.hpp"

#include <vector>

#include "rules/model.hpp"
#include "rules/rules.hpp"

namespace zdm::rules {

using Rules = std::vector<RuleInfo>;
using Findings = std::vector<Finding>;

// column_type.cpp: ALTER COLUMN ... TYPE
void add_column_type_rules(Rules& r);
void check_column_type(const Statement& st, const Action& a, Findings& out);
// add_column.cpp: ADD COLUMN with volatile default, serial, identity, stored generated, domain, NOT NULL
void add_add_column_rules(Rules& r);
void check_add_column(const Statement& st, const Action& a, Findings& out);
// constraints.cpp: SET NOT NULL, CHECK / FOREIGN KEY / UNIQUE / PRIMARY KEY, ATTACH PARTITION
void add_constraint_rules(Rules& r);
void check_constraints(const Statement& st, const Action& a, Findings& out);
// table_storage.cpp: SET LOGGED / UNLOGGED, SET TABLESPACE, SET ACCESS METHOD
void add_table_storage_rules(Rules& r);
void check_table_storage(const Statement& st, const Action& a, Findings& out);
// indexes.cpp: CREATE INDEX / REINDEX without CONCURRENTLY, CONCURRENTLY in a transaction block
void add_index_rules(Rules& r);
void check_indexes(const Statement& st, const Action& a, Findings& out);
// maintenance.cpp: CLUSTER, VACUUM FULL, REFRESH MATERIALIZED VIEW, TRUNCATE
void add_maintenance_rules(Rules& r);
void check_maintenance(const Statement& st, const Action& a, Findings& out);
// breaking.cpp: DROP / RENAME column or table, SET SCHEMA, DROP TYPE in use
void add_breaking_rules(Rules& r);
void check_breaking(const Statement& st, const Action& a, Findings& out);
// transaction.cpp: statements run while an earlier one's ACCESS EXCLUSIVE lock is held
// (statement-level: called once per statement, not per action)
void add_transaction_rules(Rules& r);
void check_transaction(const Statement& st, Findings& out);
// lock_timeout.cpp: DDL that needs ACCESS EXCLUSIVE with lock_timeout explicitly 0 (lock-safe DDL)
void add_lock_timeout_rules(Rules& r);
void check_lock_timeout(const Statement& st, Findings& out);

}  // namespace zdm::rules
