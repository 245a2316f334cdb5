-- zdm.backfill_start / pause / resume / cancel: the background worker runs the job as the calling
-- role; permissions; who may see and steer whose jobs.
-- A fresh extension, so that the job ids printed below start at 1 whatever ran before.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS zdm;
CREATE EXTENSION zdm;
RESET client_min_messages;
CREATE SCHEMA backfill_worker;
SET search_path = backfill_worker, public;
\set VERBOSITY default

-- wait_job(id): waits until a job is no longer running (shared by the backfill suites).
\i sql/helpers/wait_job.sql

CREATE TABLE items (id int PRIMARY KEY, who text, n int);
INSERT INTO items SELECT g, NULL, g FROM generate_series(1, 4000) g;
CREATE ROLE bf_writer LOGIN;
CREATE ROLE bf_reader LOGIN;
CREATE ROLE bf_other LOGIN;
CREATE ROLE bf_signal LOGIN IN ROLE pg_signal_backend;
GRANT USAGE ON SCHEMA backfill_worker TO bf_writer, bf_reader, bf_other, bf_signal;
GRANT EXECUTE ON FUNCTION wait_job(bigint) TO bf_writer, bf_other, bf_signal;
GRANT SELECT, UPDATE ON items TO bf_writer;
GRANT SELECT ON items TO bf_reader;

-- A caller without UPDATE on the table gets the normal permission error before anything runs.
SET ROLE bf_reader;
CALL zdm.backfill('items', 'who = current_user', 'who IS NULL');
SELECT zdm.backfill_start('items', 'who = current_user', 'who IS NULL');
RESET ROLE;
SELECT count(*) AS jobs FROM zdm.backfill_jobs WHERE relid = 'items'::regclass;

-- The background job runs as the role that started it (current_user inside the set clause), in a
-- worker that commits each batch; zdm.backfill_start returns at once with the job id.
SET ROLE bf_writer;
SELECT zdm.backfill_start('items', 'who = current_user', 'who IS NULL', batch_size => 500,
                          adaptive => false, job_name => 'who') AS job \gset
SELECT wait_job(:job);
SELECT who, count(*) FROM items GROUP BY who;
SELECT name, relation, state, rows_done, batches, last_key, upper_bound, runner, owner, pid, last_error
  FROM zdm.backfill_status WHERE job_id = :job;
RESET ROLE;

-- Other roles neither see nor steer it; a forged change to its row is refused by row-level security.
SET ROLE bf_other;
SELECT count(*) AS visible FROM zdm.backfill_status WHERE job_id = :job;
SELECT zdm.backfill_cancel(:job);
SELECT zdm.backfill_resume(:job);
UPDATE zdm.backfill_jobs SET state = 'running' WHERE id = :job;
RESET ROLE;

-- Pause: a job paused before its worker got to run does nothing (the worker waits for the starting
-- transaction to commit, then finds the job paused). A second job on the table is refused while this
-- one is unfinished. Resume runs it in a new worker; every row is updated exactly once (n counts).
UPDATE items SET who = NULL;
SET ROLE bf_writer;
BEGIN;
SELECT zdm.backfill_start('items', 'who = ''bg'', n = n + 1000000', 'who IS NULL', batch_size => 100,
                          adaptive => false) AS job2 \gset
SELECT zdm.backfill_pause(:job2);
COMMIT;
SELECT wait_job(:job2);
SELECT count(*) FILTER (WHERE who IS NOT NULL) AS changed FROM items;
SELECT zdm.backfill_start('items', 'who = ''other''', 'who IS NULL');
CALL zdm.backfill('items', 'who = ''other''', 'who IS NULL');
SELECT zdm.backfill_pause(:job2);
RESET ROLE;
-- A member of pg_signal_backend sees and steers every job; the resumed job still runs as its owner.
SET ROLE bf_signal;
SELECT state FROM zdm.backfill_status WHERE job_id = :job2;
-- ... and nothing else: a job runs as its owner (also when resumed after a restart), so a change to its
-- clauses by another role would run that role's SQL with the owner's privileges. Nor can it create a
-- job in another role's name.
UPDATE zdm.backfill_jobs SET set_clause = 'who = ''someone else''' WHERE id = :job2;
INSERT INTO zdm.backfill_jobs (relid, relation, set_clause, where_clause, batch_size, adaptive,
                               target_batch_ms, min_batch_size, max_batch_size, sleep_ms, lock_timeout_ms,
                               lock_retries, runner, state, owner)
VALUES ('items'::regclass, 'backfill_worker.items', 'who = ''someone else''', 'true', 100, true, 100, 100,
        100, 0, 1000, 0, 'worker', 'running', 'bf_writer'::regrole);
SELECT zdm.backfill_resume(:job2);
SELECT wait_job(:job2);
RESET ROLE;
SELECT state, rows_done, batches, runner, owner FROM zdm.backfill_status WHERE job_id = :job2;
SELECT count(*) FILTER (WHERE who = 'bg') AS bg, count(*) FILTER (WHERE n > 2000000) AS twice,
       count(*) FILTER (WHERE n < 1000000) AS missed
  FROM items;

-- Cancel: the job stops for good and cannot be resumed.
UPDATE items SET who = NULL;
SET ROLE bf_writer;
BEGIN;
-- (Small batches with a pause between them, so that it is still running when it is cancelled.)
SELECT zdm.backfill_start('items', 'who = ''c''', 'who IS NULL', batch_size => 100, adaptive => false,
                          sleep_ms => 100) AS job3 \gset
COMMIT;
RESET ROLE;
SET ROLE bf_signal;
SELECT zdm.backfill_cancel(:job3);
RESET ROLE;
SELECT wait_job(:job3);
SELECT count(*) FILTER (WHERE who = 'c') = (SELECT rows_done FROM zdm.backfill_jobs WHERE id = :job3)
       AS rows_match_progress
  FROM items;
SELECT zdm.backfill_resume(:job3);

-- backfill_start inside a transaction that rolls back: no job, and its worker exits without work.
BEGIN;
SELECT zdm.backfill_start('items', 'who = ''rolled back''', 'who IS NULL') IS NOT NULL AS started;
ROLLBACK;
SELECT count(*) FILTER (WHERE who = 'rolled back') AS changed FROM items;

-- A job that failed between the two steps of a range (even keys committed, the odd key 4001 fails)
-- resumes with that range's odd keys: every row is updated exactly once (counted by a trigger).
CREATE TABLE halves (id int PRIMARY KEY, v text, touched int NOT NULL DEFAULT 0);
INSERT INTO halves (id) SELECT g FROM generate_series(1, 6000) g;
CREATE FUNCTION halves_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.touched := OLD.touched + 1; RETURN NEW; END $$;
CREATE TRIGGER halves_touch BEFORE UPDATE ON halves FOR EACH ROW EXECUTE FUNCTION halves_touch();
\set VERBOSITY terse
CALL zdm.backfill('halves', 'v = (1 / (id - 4001))::text', 'v IS NULL', batch_size => 1000, adaptive => false);
\set VERBOSITY default
SELECT id AS job, state, split_upper IS NOT NULL AS range_half_done, last_key::int < 4001 AS before_4001,
       split_upper::int >= 4001 AS range_holds_4001
  FROM zdm.backfill_jobs WHERE relid = 'halves'::regclass \gset
SELECT :'state' AS state, :'range_half_done' AS range_half_done, :'before_4001' AS before_4001,
       :'range_holds_4001' AS range_holds_4001;
UPDATE halves SET v = 'by hand', touched = 0 WHERE id = 4001;
SELECT zdm.backfill_resume(:job);
SELECT wait_job(:job);
SELECT count(*) AS rows, count(*) FILTER (WHERE touched = 1) AS updated_once,
       count(*) FILTER (WHERE touched = 1 AND id = 4001) AS by_hand_once, count(*) FILTER (WHERE v IS NULL) AS missed
  FROM halves;

\set VERBOSITY terse
DROP SCHEMA backfill_worker CASCADE;
DELETE FROM zdm.backfill_jobs WHERE owner IN ('bf_writer'::regrole, 'bf_other'::regrole, 'bf_signal'::regrole);
DROP ROLE bf_writer, bf_reader, bf_other, bf_signal;
