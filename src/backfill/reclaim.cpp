#include <algorithm>
#include <vector>

#include "pg/boundary.hpp"
#include "backfill/reclaim.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_class_d.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/lmgr.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

namespace zdm::backfill {

void reclaim_blocks(Oid relid, std::vector<uint32_t> blocks) {
  if (blocks.empty()) return;
  std::sort(blocks.begin(), blocks.end());
  blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
  const uint32_t* b = blocks.data();
  const size_t n = blocks.size();
  // Plain C from here on: nothing with a destructor lives in this frame while PostgreSQL runs.
  pg::call([&] {
    // Horizons for pruning come from this backend's latest snapshot (GlobalVisTestFor): take one
    // now, after the batch whose dead versions we reclaim has committed.
    (void)GetLatestSnapshot();
    if (!ConditionalLockRelationOid(relid, AccessShareLock)) return;
    Relation rel = try_relation_open(relid, NoLock);
    if (rel == nullptr) {
      UnlockRelationOid(relid, AccessShareLock);
      return;
    }
    if (rel->rd_rel->relkind == RELKIND_RELATION && rel->rd_tableam == GetHeapamTableAmRoutine()) {
      BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
      BlockNumber lo = InvalidBlockNumber, hi = 0;
      for (size_t i = 0; i < n; ++i) {
        BlockNumber blk = b[i];
        if (blk >= nblocks) break;  // sorted: the rest is past the end too (truncated meanwhile)
        CHECK_FOR_INTERRUPTS();
        Buffer buf = ReadBuffer(rel, blk);
        heap_page_prune_opt(rel, buf);
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        Size space = PageGetHeapFreeSpace(BufferGetPage(buf));
        UnlockReleaseBuffer(buf);
        RecordPageWithFreeSpace(rel, blk, space);
        if (lo == InvalidBlockNumber) lo = blk;
        hi = blk;
      }
      // The upper levels of the map, so that a search from its root finds these pages.
      if (lo != InvalidBlockNumber) FreeSpaceMapVacuumRange(rel, lo, hi + 1);
    }
    relation_close(rel, NoLock);  // the lock is released at the end of the transaction
  });
}

}  // namespace zdm::backfill
