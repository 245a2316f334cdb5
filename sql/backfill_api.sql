-- zdm.backfill: CALL interface, batches, progress row, rerun, errors with nothing changed.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA backfill_api;
SET search_path = backfill_api, public;
\set VERBOSITY default

CREATE TABLE orders (id bigint PRIMARY KEY, region text, amount int);
INSERT INTO orders SELECT g, NULL, g % 7 FROM generate_series(1, 5000) g;

-- Every row matching the where clause is updated, in committed batches walked by the primary key.
-- Fixed batch size, at most 1000 rows per batch: the first two batches read their boundary through the
-- index; once the key proves dense, each range of 2000 keys takes two batches, its even keys then its
-- odd keys (whose updates are then HOT): 1000 + 1000 + 2 x 1000 + 2 x 500 = 6 batches.
CALL zdm.backfill('orders', 'region = ''us''', 'region IS NULL', batch_size => 1000, adaptive => false,
                  job_name => 'fill region');
SELECT count(*) FILTER (WHERE region = 'us') AS us, count(*) AS total FROM orders;
SELECT job_id > 0 AS has_id, name, relation, state, rows_done, batches, current_batch_size, last_key,
       upper_bound, runner, owner, pid, finished_at IS NOT NULL AS finished, eta, last_error
  FROM zdm.backfill_status WHERE relation = 'backfill_api.orders';

-- Rerunning a finished backfill is cheap and changes nothing when the where clause excludes the rows
-- already done: it walks the key range again (index only) and updates 0 rows.
CALL zdm.backfill('orders', 'region = ''us''', 'region IS NULL', batch_size => 1000, adaptive => false);
SELECT rows_done, batches, state FROM zdm.backfill_status
 WHERE relation = 'backfill_api.orders' ORDER BY job_id DESC LIMIT 1;

-- Only rows in range that match the where clause are touched.
UPDATE orders SET region = NULL WHERE id % 10 = 0;
CALL zdm.backfill('orders', 'region = ''eu''', 'region IS NULL AND amount > 3', batch_size => 700,
                  adaptive => false);
SELECT region, count(*) FROM orders GROUP BY region ORDER BY region NULLS LAST;

-- Adaptive batches stay within [min_batch_size, max_batch_size].
UPDATE orders SET region = NULL;
-- (How many batches it takes depends on how long each took: the NOTICE is not shown.)
SET client_min_messages = warning;
CALL zdm.backfill('orders', 'region = ''ap''', 'region IS NULL', batch_size => 200,
                  min_batch_size => 100, max_batch_size => 400);
RESET client_min_messages;
SELECT count(*) FILTER (WHERE region = 'ap') AS ap,
       (SELECT current_batch_size BETWEEN 100 AND 400 FROM zdm.backfill_status
         WHERE relation = 'backfill_api.orders' ORDER BY job_id DESC LIMIT 1) AS bounded,
       (SELECT batches >= 5000 / 400 FROM zdm.backfill_status
         WHERE relation = 'backfill_api.orders' ORDER BY job_id DESC LIMIT 1) AS batched
  FROM orders;

-- Progress as NOTICEs: at most once per zdm.backfill_notice_interval (10 s by default; 0: after every
-- batch), and once at the end.
UPDATE orders SET region = NULL WHERE id <= 2000;
SET zdm.backfill_notice_interval = 0;
CALL zdm.backfill('orders', 'region = ''pr''', 'region IS NULL', batch_size => 2000, adaptive => false);
RESET zdm.backfill_notice_interval;

-- A text key (any unique NOT NULL btree key works), and an empty table (done at once).
CREATE TABLE codes (code text NOT NULL UNIQUE, label text);
INSERT INTO codes SELECT 'c' || g, NULL FROM generate_series(1, 300) g;
CALL zdm.backfill('codes', 'label = upper(code)', 'label IS NULL', batch_size => 128, adaptive => false);
SELECT count(*) FROM codes WHERE label = upper(code);
SELECT rows_done, batches, last_key, upper_bound FROM zdm.backfill_status WHERE relation = 'backfill_api.codes';
CREATE TABLE empty_t (id int PRIMARY KEY, v int);
CALL zdm.backfill('empty_t', 'v = 1', 'v IS NULL');

-- A table without a usable key is walked by ctid ranges (blocks); the upper bound is its size in blocks.
CREATE TABLE heap_only (a int, b text);
INSERT INTO heap_only SELECT g, NULL FROM generate_series(1, 3000) g;
ANALYZE heap_only;
CALL zdm.backfill('heap_only', 'b = a::text', 'b IS NULL', batch_size => 500, adaptive => false);
SELECT count(*) FILTER (WHERE b = a::text) AS filled, count(*) AS total FROM heap_only;
SELECT state, rows_done, batches > 1 AS batched, last_key = upper_bound AS walked_to_end
  FROM zdm.backfill_status WHERE relation = 'backfill_api.heap_only';

-- Dead row versions: the old versions of each batch are pruned once no snapshot needs them (after the
-- next batch) and their space is recorded in the free space map, so that later batches reuse it.
-- Updating every row leaves the table within 1.3x its size; one UPDATE of the same table doubles it.
-- The odd keys' updates are HOT (the even keys' pruned versions left room on their pages), and add no
-- index entry; under the one UPDATE none is (every page is full).
CREATE TABLE wide (id int PRIMARY KEY, region text, payload text);
INSERT INTO wide SELECT g, NULL, md5(g::text) FROM generate_series(1, 20000) g;
CREATE TABLE wide_update (LIKE wide INCLUDING ALL);
INSERT INTO wide_update SELECT * FROM wide;
VACUUM ANALYZE wide, wide_update;
SELECT pg_table_size('wide') AS size_before \gset
CALL zdm.backfill('wide', 'region = ''us''', 'region IS NULL', batch_size => 1000, adaptive => false);
UPDATE wide_update SET region = 'us' WHERE region IS NULL;
SELECT pg_table_size('wide') <= 1.3 * :size_before AS backfill_within_1_3x,
       pg_table_size('wide_update') >= 1.9 * :size_before AS update_doubles,
       (SELECT count(*) FROM wide WHERE region = 'us') AS filled;
SELECT pg_stat_force_next_flush();
SELECT relname, n_tup_upd, n_tup_hot_upd > 0.15 * n_tup_upd AS many_hot, n_tup_hot_upd = 0 AS no_hot
  FROM pg_stat_user_tables WHERE relname IN ('wide', 'wide_update') ORDER BY relname;

-- Progress is also visible in the job table, one row per job, written with each batch.
SELECT count(*) AS jobs, count(*) FILTER (WHERE state = 'done') AS done
  FROM zdm.backfill_jobs WHERE relid = 'orders'::regclass;

\set VERBOSITY default
-- Errors: each clear, and nothing changed (no job row is created).
SELECT count(*) AS jobs_before FROM zdm.backfill_jobs \gset
BEGIN;
CALL zdm.backfill('orders', 'region = ''x''', 'true');
ROLLBACK;
CALL zdm.backfill('no_such_table', 'region = ''x''', 'true');
CREATE VIEW orders_v AS SELECT * FROM orders;
CALL zdm.backfill('orders_v', 'region = ''x''', 'true');
CREATE TABLE parted (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
CALL zdm.backfill('parted', 'v = 1', 'v IS NULL');
CALL zdm.backfill('orders', 'region = ''x''; DROP TABLE orders', 'true');
CALL zdm.backfill('orders', 'region = ''x''', 'true; DROP TABLE orders');
CALL zdm.backfill('orders', 'region = ''x''', 'true) OR (true');
CALL zdm.backfill('orders', 'region = ''x'' FROM codes', 'true');
CALL zdm.backfill('orders', 'region = ''x''', 'true RETURNING *');
CALL zdm.backfill('orders', 'no_such_column = 1', 'true');
CALL zdm.backfill('orders', 'region = ''x''', 'no_such_column IS NULL');
CALL zdm.backfill('orders', 'region = ''x''', 'region');
CALL zdm.backfill('orders', 'id = id + 1', 'true');
CALL zdm.backfill('orders', 'region = ''x''', 'true', batch_size => 0);
CALL zdm.backfill('orders', 'region = ''x''', 'true', batch_size => -5);
CALL zdm.backfill('orders', 'region = ''x''', 'true', min_batch_size => 0);
CALL zdm.backfill('orders', 'region = ''x''', 'true', sleep_ms => -1);
CALL zdm.backfill('orders', 'region = ''x''', 'true', lock_timeout => '-1 s');
CALL zdm.backfill('orders', 'region = ''x''', 'true', lock_timeout => '0');
CALL zdm.backfill('orders', 'region = ''x''', 'true', lock_retries => -1);
CALL zdm.backfill('orders', 'region = ''x''', 'true', max_replica_lag => '-5 min');
CALL zdm.backfill('orders', 'region = ''x''', 'true', target_batch_ms => 0);
CALL zdm.backfill('orders', 'region = ''x''', 'true', min_batch_size => 10, max_batch_size => 5);
CALL zdm.backfill(NULL, 'region = ''x''', 'true');
CALL zdm.backfill('orders', NULL, 'true');
CALL zdm.backfill('orders', 'region = ''x''', NULL);
CALL zdm.backfill('orders', 'region = ''x''', 'true', batch_size => NULL);
-- From a function the CALL is atomic (it cannot commit): refused the same way as in a transaction block.
CREATE FUNCTION run_backfill() RETURNS void LANGUAGE plpgsql AS
  $$ BEGIN CALL zdm.backfill('orders', 'region = ''x''', 'true'); END $$;
SELECT run_backfill();
SELECT count(*) FILTER (WHERE region = 'x') AS changed FROM orders;
SELECT count(*) - :jobs_before AS new_jobs FROM zdm.backfill_jobs;

-- A partitioned table: the query of the HINT above lists one CALL per leaf partition (each an ordinary
-- table with its own key and rows); psql's \gexec runs them.
INSERT INTO parted SELECT g, NULL FROM generate_series(0, 99) g;
CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (100) TO (200) PARTITION BY RANGE (id);
CREATE TABLE parted_2a PARTITION OF parted_2 FOR VALUES FROM (100) TO (150);
CREATE TABLE parted_2b PARTITION OF parted_2 FOR VALUES FROM (150) TO (200);
INSERT INTO parted SELECT g, NULL FROM generate_series(100, 199) g;
SELECT format('CALL zdm.backfill(%L, %L, %L)', relid, 'v = 1', 'v IS NULL')
  FROM pg_partition_tree('backfill_api.parted') WHERE isleaf \gexec
SELECT tableoid::regclass AS partition, count(*) FILTER (WHERE v = 1) AS filled, count(*) AS total
  FROM parted GROUP BY 1 ORDER BY 1;

-- A failing batch (here: a division by zero at id 2500) rolls back only that batch; the job fails
-- with the error and its progress row says how far it got (two batches of 1000 committed). Once the
-- cause is fixed, a rerun with the same where clause finishes the rest and leaves done rows alone.
UPDATE orders SET region = NULL;
CALL zdm.backfill('orders', 'region = (100 / (id - 2500))::text', 'region IS NULL', batch_size => 1000,
                  adaptive => false);
SELECT state, rows_done, batches, last_key, last_error FROM zdm.backfill_status
 WHERE relation = 'backfill_api.orders' ORDER BY job_id DESC LIMIT 1;
SELECT count(*) FILTER (WHERE region IS NOT NULL) AS updated, max(id) FILTER (WHERE region IS NOT NULL) AS up_to
  FROM orders;
UPDATE orders SET region = 'fixed by hand' WHERE id = 2500;
CALL zdm.backfill('orders', 'region = (100 / (id - 2500))::text', 'region IS NULL', batch_size => 1000,
                  adaptive => false);
SELECT count(*) FILTER (WHERE region IS NULL) AS left_over FROM orders;

-- A job left 'running' by a process that died (here: a pid no process has) shows it in
-- process_alive; zdm.backfill_resume(id) continues it.
UPDATE zdm.backfill_jobs SET state = 'running', pid = 2147483647 WHERE id = (SELECT max(id) FROM zdm.backfill_jobs);
SELECT state, pid, process_alive FROM zdm.backfill_status WHERE job_id = (SELECT max(id) FROM zdm.backfill_jobs);

-- One job per table: a job that stopped unfinished blocks a new one until resumed or cancelled.
UPDATE zdm.backfill_jobs SET state = 'paused' WHERE id = (SELECT max(id) FROM zdm.backfill_jobs);
CALL zdm.backfill('orders', 'region = ''y''', 'region IS NULL');
SELECT zdm.backfill_cancel(max(id)) FROM zdm.backfill_jobs;
SELECT zdm.backfill_cancel(max(id)) FROM zdm.backfill_jobs;
SELECT zdm.backfill_resume(max(id)) FROM zdm.backfill_jobs;
SELECT zdm.backfill_pause(max(id)) FROM zdm.backfill_jobs;
SELECT zdm.backfill_pause(-1);

-- An integer key with dense runs, a sparse run and the type's extremes: the walk computes a dense
-- run's boundaries and reads the others through the index; each row is updated exactly once (counted
-- by a trigger), none missed, and no batch is larger than batch_size.
CREATE TABLE gaps (id int PRIMARY KEY, v int, touched int NOT NULL DEFAULT 0);
INSERT INTO gaps (id) SELECT g FROM generate_series(1, 20000) g;
INSERT INTO gaps (id) SELECT 100000 + g * 997 FROM generate_series(1, 3000) g;
INSERT INTO gaps (id) SELECT 5000000 + g FROM generate_series(1, 20000) g;
INSERT INTO gaps (id) VALUES (-2147483648), (2147483647);
CREATE FUNCTION gaps_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.touched := OLD.touched + 1; RETURN NEW; END $$;
CREATE TRIGGER gaps_touch BEFORE UPDATE ON gaps FOR EACH ROW EXECUTE FUNCTION gaps_touch();
CREATE TABLE gaps_batches (rows bigint);
CREATE FUNCTION gaps_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO gaps_batches SELECT count(*) FROM changed; RETURN NULL; END $$;
CREATE TRIGGER gaps_batch AFTER UPDATE ON gaps REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION gaps_batch();
-- (After a range's odd keys the walk may take the next ranges in one step each, when the two steps
-- gained nothing in time: how many batches it takes depends on timing, so the NOTICE is not shown.)
SET client_min_messages = warning;
CALL zdm.backfill('gaps', 'v = 1', 'v IS NULL', batch_size => 1000, adaptive => false);
RESET client_min_messages;
SELECT count(*) AS rows, count(*) FILTER (WHERE touched = 1) AS updated_once,
       count(*) FILTER (WHERE v IS NULL) AS missed FROM gaps;
SELECT max(rows) AS largest_batch, sum(rows) AS rows FROM gaps_batches;
SELECT state, rows_done, last_key FROM zdm.backfill_status
 WHERE relation = 'backfill_api.gaps' ORDER BY job_id DESC LIMIT 1;

\set VERBOSITY terse
DROP SCHEMA backfill_api CASCADE;
