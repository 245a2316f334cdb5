// The backfill room's door: batched, resumable UPDATEs (CALL zdm.backfill, zdm.backfill_start and the
// background worker that runs a job as its caller's role).
#pragma once

namespace zdm::backfill {

// Registers the settings of the room. Called once by _PG_init.
void init();

}  // namespace zdm::backfill
