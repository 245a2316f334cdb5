// Keeps a backfill's dead row versions from doubling the table: after a batch's row versions are dead
// to every snapshot, their heap pages are pruned and their free space recorded in the free space map,
// so that the next batches' new row versions go there instead of onto new pages at the table's end.
#pragma once

#include <cstdint>
#include <vector>

#include "pg/postgres.hpp"

namespace zdm::backfill {

// Prunes the given heap blocks of relation `relid` (heap_page_prune_opt, as any reader would) and
// records their free space in the free space map, as VACUUM's heap pass does (vacuumlazy.c:
// lazy_scan_heap → RecordPageWithFreeSpace, FreeSpaceMapVacuumRange). Never waits: a table whose
// lock is not free at once, or a page pinned by someone else, is left alone. Must run in a
// transaction whose snapshot was taken after the rows' deleting transaction committed.
void reclaim_blocks(Oid relid, std::vector<uint32_t> blocks);

}  // namespace zdm::backfill
