// Internal to the guard room: one analyser per statement family. Each appends Actions to the
// Statement; all may throw pg::PgError.
#pragma once

#include <string>
#include <vector>

#include "guard/catalog.hpp"
#include "guard/guard.hpp"

namespace zdm::guard {

void analyze_alter_table(AlterTableStmt* stmt, const AnalysisContext& context, Statement& out);
void analyze_other(Node* node, const AnalysisContext& context, Statement& out);
// CREATE TABLE / TRIGGER / POLICY / RULE / STATISTICS / VIEW / MATERIALIZED VIEW / TABLE AS, COMMENT,
// LOCK, ALTER DOMAIN: statements that lock existing tables while they add or check something.
void analyze_object_statement(Node* node, const AnalysisContext& context, Statement& out);
// DROP TRIGGER / RULE / POLICY: the table the object belongs to.
void analyze_drop_table_object(DropStmt* stmt, const AnalysisContext& context, Statement& out);

// ALTER COLUMN ... TYPE: the column's key constraint, the foreign keys on it, its default, its owned
// sequence, identity and NOT NULL (column_role.cpp), for the expand/contract swap.
void fill_column_role(Oid relid, AttrNumber attnum, Action& a);

// A new partition's bound against the parent's default partition (partbounds.c
// check_default_partition_contents): whether the default's constraints prove that none of its rows
// falls in the new bound, which PostgreSQL otherwise checks by scanning it.
struct DefaultPartitionCheck {
  bool ok = false;              // the bound could be computed (the parent's lock was free)
  Oid default_part = InvalidOid;
  bool implied = true;
  std::string bound;            // FOR VALUES ..., as PostgreSQL deparses it
  std::string constraint;       // the default partition's new constraint, over its columns
};
DefaultPartitionCheck default_partition_check(Oid parentid, PartitionBoundSpec* bound);

// Shared by the analysers (statements.cpp).
bool has_storage(char kind);
// The relation's indexes, partitions and inheritance children (all levels, without it).
std::vector<Oid> index_oids(Oid relid);
std::vector<Oid> children(Oid relid);
// The action on a relation PostgreSQL reaches from the named one (a child, an index), with the
// named action's op; the named relation's action carries the finding.
Action reached(const Action& named, Oid relid, LockMode lock);
// A partitioned table's facts take its partitions' rows and bytes.
void fold_partitions(Action& parent, const std::vector<Action>& parts);
// The tables, materialized views and views a view's or materialized view's query names directly.
std::vector<Oid> query_relations(Oid view);
// The relations a query naming `named` reads: those, their inheritance children and partitions, and
// through every view among them what the view reads.
std::vector<Oid> read_relations(const std::vector<Oid>& named);

// The lock mode from PostgreSQL's LOCKMODE number.
inline LockMode to_lock_mode(int lockmode) { return static_cast<LockMode>(lockmode); }

}  // namespace zdm::guard
