-- zdm.lock_report / lock_tree / lock_preview for a wait the isolation tester cannot hold as a step: a
-- session waiting only for a prepared transaction (the tester counts a wait only when one of its own
-- sessions blocks it). A prepared transaction updated a row in a subtransaction, so it holds the
-- transaction ids of both; a writer of the same row waits for the subtransaction's id, and the report
-- names the prepared transaction holding it by its gid. (The test server runs with
-- max_prepared_transactions = 10.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA locks_objects;
SET search_path = locks_objects, public;
\set VERBOSITY terse

CREATE TABLE lk_obj_t (id int PRIMARY KEY, v int);
INSERT INTO lk_obj_t VALUES (1, 1);
BEGIN;
SAVEPOINT s;
UPDATE lk_obj_t SET v = 2 WHERE id = 1;
PREPARE TRANSACTION 'lk_obj_gid';

-- The writer, in a session of its own, waits until the prepared transaction ends.
\setenv PGDATABASE :DBNAME
\setenv PGAPPNAME lk_obj_writer
\! psql -X -q -c "UPDATE locks_objects.lk_obj_t SET v = 3 WHERE id = 1;" >/dev/null 2>&1 &
DO $$ BEGIN
  FOR i IN 1..3000 LOOP
    EXIT WHEN EXISTS (SELECT FROM zdm.lock_report() WHERE application_name = 'lk_obj_writer');
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;

-- Transaction ids, pids and the database name vary from run to run.
CREATE FUNCTION lk_obj_mask(text) RETURNS text LANGUAGE sql AS $$
  SELECT regexp_replace(regexp_replace($1, '\d+', 'N', 'g'), 'in database \w+', 'in database D') $$;
\x on
SELECT locktype, lock_mode, lk_obj_mask(lock_object) AS lock_object, hard_blockers, soft_blockers,
       root_pid, root_gid, depth, root_state, root_xact_age IS NOT NULL AS has_root_age,
       lk_obj_mask(suggested_action) AS suggested_action,
       hard_blockers = pg_blocking_pids(pid) AS same_as_pg_blocking_pids
  FROM zdm.lock_report() WHERE application_name = 'lk_obj_writer';
SELECT lk_obj_mask(line) AS lock_tree FROM zdm.lock_tree(false) AS line;
-- The prepared transaction holds ROW EXCLUSIVE on the table: a DDL would wait for it.
SELECT relation, lock_mode, verdict, 0 = ANY (blocked_by) AS blocked_by_prepared,
       cardinality(blocked_by) AS blockers, lk_obj_mask(blocked_by_detail) AS blocked_by_detail
  FROM zdm.lock_preview('ALTER TABLE lk_obj_t ADD COLUMN w int');
\x off

-- ROLLBACK PREPARED lets the writer through.
ROLLBACK PREPARED 'lk_obj_gid';
DO $$ BEGIN
  FOR i IN 1..3000 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'lk_obj_writer');
    PERFORM pg_sleep(0.01);
    PERFORM pg_stat_clear_snapshot();
  END LOOP;
END $$;
SELECT v FROM lk_obj_t;
SELECT count(*) AS waiting FROM zdm.lock_report() WHERE application_name = 'lk_obj_writer';

-- Relations no other session can see cannot be held by anyone: a table created in this transaction
-- and a temporary table are clear; a statement the guard knows that locks no existing relation (a
-- plain CREATE TABLE) has no row at all, and one that locks an existing table names only that one.
BEGIN;
CREATE TABLE lk_obj_new (id int);
SELECT relation, lock_mode, verdict, blocked_by_detail FROM zdm.lock_preview('ALTER TABLE lk_obj_new ADD COLUMN x int');
ROLLBACK;
CREATE TEMPORARY TABLE lk_obj_temp (id int);
SELECT lock_mode, verdict, blocked_by_detail FROM zdm.lock_preview('ALTER TABLE lk_obj_temp ADD COLUMN x int');
SELECT count(*) AS rows FROM zdm.lock_preview('CREATE TABLE lk_obj_other (id int)');
SELECT relation, lock_mode, verdict FROM zdm.lock_preview('CREATE TABLE lk_obj_child (id int REFERENCES lk_obj_t)');
DROP TABLE lk_obj_temp;

DROP SCHEMA locks_objects CASCADE;
