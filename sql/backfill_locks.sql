-- zdm.backfill and locks held by other transactions: a row locked past lock_timeout is skipped (the walk
-- waits for it once) and retried after the walk; one that stays locked through lock_retries retries
-- fails the job, naming the holder; so does a table lock that blocks every batch. The job keeps its
-- progress and skipped rows, and zdm.backfill_resume finishes it once the lock is gone.
-- The locks are held by prepared transactions, so that one session can hold them and the holder's name
-- is stable; a session holding them is named by pid and query (isolation spec backfill_row_lock).
-- A fresh extension, so that the job ids printed below start at 1 whatever ran before.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS zdm;
CREATE EXTENSION zdm;
RESET client_min_messages;
CREATE SCHEMA backfill_locks;
SET search_path = backfill_locks, public;
\set VERBOSITY default

-- wait_job(id): waits until a job is no longer running (shared by the backfill suites).
\i sql/helpers/wait_job.sql

-- n counts the backfill's updates of each row.
CREATE TABLE accounts (id int PRIMARY KEY, flag text, n int NOT NULL DEFAULT 0);
INSERT INTO accounts (id) SELECT g FROM generate_series(1, 100) g;

-- 1. A row that stays locked: the batch (40, 50] waits lock_timeout for row 42, then does its other
--    rows with SKIP LOCKED and the walk goes on; after the walk row 42 is retried, and after
--    lock_retries retries the job fails. Its progress row keeps the skipped key.
BEGIN;
SELECT id FROM accounts WHERE id = 42 FOR UPDATE;
PREPARE TRANSACTION 'bf_holds_row_42';
CALL zdm.backfill('accounts', 'flag = ''done'', n = n + 1', 'flag IS NULL', batch_size => 10,
                  adaptive => false, lock_timeout => '20ms', lock_retries => 1);
SELECT state, rows_done, batches, last_key, deferred, last_error FROM zdm.backfill_jobs WHERE id = 1;
SELECT string_agg(id::text, ', ') AS not_done FROM accounts WHERE flag IS NULL;
-- Once the lock is gone, resuming does the skipped row and ends the job.
COMMIT PREPARED 'bf_holds_row_42';
SELECT zdm.backfill_resume(1);
SELECT wait_job(1);
SELECT state, rows_done, deferred, last_error FROM zdm.backfill_jobs WHERE id = 1;
SELECT count(*) FILTER (WHERE n = 1) AS once, count(*) FILTER (WHERE n <> 1) AS not_once FROM accounts;

-- 2. A table lock that blocks every batch (SHARE conflicts with UPDATE's ROW EXCLUSIVE). A backfill that
--    meets it at its start fails after lock_retries retries, naming the holder, and creates no job.
UPDATE accounts SET flag = NULL, n = 0;
BEGIN;
LOCK TABLE accounts IN SHARE MODE;
PREPARE TRANSACTION 'bf_holds_table';
CALL zdm.backfill('accounts', 'flag = ''done'', n = n + 1', 'flag IS NULL', batch_size => 10,
                  adaptive => false, lock_timeout => '20ms', lock_retries => 2);
SELECT count(*) AS new_jobs FROM zdm.backfill_jobs WHERE id > 1;
COMMIT PREPARED 'bf_holds_table';
--    A job that meets it later (here a paused job, resumed while the lock is held): skipping locked rows
--    does not help, so the batch is retried lock_retries times with a backoff, then the job fails.
BEGIN;
SELECT zdm.backfill_start('accounts', 'flag = ''done'', n = n + 1', 'flag IS NULL', batch_size => 10,
                          adaptive => false, lock_timeout => '20ms', lock_retries => 2) AS job \gset
SELECT zdm.backfill_pause(:job);
COMMIT;
BEGIN;
LOCK TABLE accounts IN SHARE MODE;
PREPARE TRANSACTION 'bf_holds_table';
SELECT zdm.backfill_resume(:job);
SELECT wait_job(:job);
SELECT state, rows_done, batches, last_key, deferred, last_error FROM zdm.backfill_jobs WHERE id = :job;
COMMIT PREPARED 'bf_holds_table';
SELECT zdm.backfill_resume(:job);
SELECT wait_job(:job);
SELECT state, rows_done, batches, last_error FROM zdm.backfill_jobs WHERE id = :job;
SELECT count(*) FILTER (WHERE n = 1) AS once, count(*) FILTER (WHERE n <> 1) AS not_once FROM accounts;

-- 3. A table without a key is walked by blocks: a locked row's block is skipped, and retried.
CREATE TABLE heap_only (a int, b text);
INSERT INTO heap_only SELECT g, NULL FROM generate_series(1, 3000) g;
ANALYZE heap_only;
SELECT (ctid::text::point)[0]::int AS block_of_1500 FROM heap_only WHERE a = 1500;
BEGIN;
SELECT a FROM heap_only WHERE a = 1500 FOR UPDATE;
PREPARE TRANSACTION 'bf_holds_heap_row';
CALL zdm.backfill('heap_only', 'b = a::text', 'b IS NULL', batch_size => 500, adaptive => false,
                  lock_timeout => '20ms', lock_retries => 0);
SELECT state, deferred, (SELECT count(*) FROM heap_only WHERE b IS NULL) AS not_done
  FROM zdm.backfill_jobs WHERE id = 3;
COMMIT PREPARED 'bf_holds_heap_row';
SELECT zdm.backfill_resume(3);
SELECT wait_job(3);
SELECT state, deferred, (SELECT count(*) FROM heap_only WHERE b IS NULL) AS not_done
  FROM zdm.backfill_jobs WHERE id = 3;

\set VERBOSITY terse
DROP SCHEMA backfill_locks CASCADE;
DELETE FROM zdm.backfill_jobs;
