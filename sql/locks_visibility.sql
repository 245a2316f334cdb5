-- zdm.lock_report / lock_tree / lock_preview: who may call them and what each role sees.
-- Visibility follows pg_stat_activity: lock facts (pids, modes, objects, blockers) are visible to every
-- caller, as in pg_locks; another role's query text, state, client and transaction ages only to
-- superusers, members of that role and members of pg_read_all_stats (pg_monitor includes it).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA locks_visibility;
SET search_path = locks_visibility, public;
\set VERBOSITY terse

-- None of the functions is SECURITY DEFINER: they run with the caller's own rights.
SELECT p.proname, p.prosecdef, p.provolatile, p.proisstrict
  FROM pg_proc p WHERE p.pronamespace = 'zdm'::regnamespace AND p.proname LIKE 'lock\_%' ORDER BY 1;

CREATE TABLE lk_vis_t (id int PRIMARY KEY, v int);
INSERT INTO lk_vis_t VALUES (1, 1);
CREATE ROLE lk_vis_owner LOGIN;
CREATE ROLE lk_vis_plain LOGIN;
CREATE ROLE lk_vis_monitor LOGIN IN ROLE pg_monitor;
GRANT USAGE ON SCHEMA locks_visibility TO lk_vis_owner;
GRANT ALL ON lk_vis_t TO lk_vis_owner;

-- Two sessions of lk_vis_owner: one holds ACCESS EXCLUSIVE (and sleeps), one waits for it.
\setenv PGDATABASE :DBNAME
\! psql -X -q -U lk_vis_owner -c "BEGIN; LOCK TABLE locks_visibility.lk_vis_t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300);" >/dev/null 2>&1 &
DO $$ BEGIN
  FOR i IN 1..3000 LOOP
    EXIT WHEN EXISTS (SELECT FROM pg_locks l WHERE l.relation = 'locks_visibility.lk_vis_t'::regclass AND l.mode = 'AccessExclusiveLock' AND l.granted);
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;
\! psql -X -q -U lk_vis_owner -c "SELECT count(*) FROM locks_visibility.lk_vis_t;" >/dev/null 2>&1 &
DO $$ BEGIN
  FOR i IN 1..3000 LOOP
    EXIT WHEN EXISTS (SELECT FROM zdm.lock_report() WHERE usename = 'lk_vis_owner');
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;

CREATE VIEW lk_vis_seen AS
  SELECT current_user AS caller, usename, lock_mode, lock_object,
         cardinality(hard_blockers) AS hard, root_pid IS NOT NULL AS has_root, depth,
         query, client, root_state, root_query, root_xact_age IS NOT NULL AS sees_root_age,
         suggested_action LIKE 'SELECT pg_cancel_backend(%' AS advice_cancel
    FROM zdm.lock_report() WHERE usename = 'lk_vis_owner';
GRANT USAGE ON SCHEMA locks_visibility TO lk_vis_plain, lk_vis_monitor;
GRANT SELECT ON lk_vis_seen TO lk_vis_plain, lk_vis_monitor;
\x on

-- A superuser sees everything.
SELECT * FROM lk_vis_seen;

-- A member of pg_monitor sees everything, too.
SET ROLE lk_vis_monitor;
SELECT * FROM lk_vis_seen;
RESET ROLE;

-- The same role sees its own sessions.
SET ROLE lk_vis_owner;
SELECT * FROM zdm.lock_report() r WHERE false;  -- callable
SELECT count(*) AS own_rows_with_query FROM zdm.lock_report() WHERE usename = 'lk_vis_owner' AND query IS NOT NULL;
RESET ROLE;

-- A plain role sees the lock facts, but not the query text, state, client or ages of another role's
-- sessions; the advice then says the root's state is hidden instead of guessing.
SET ROLE lk_vis_plain;
SELECT * FROM lk_vis_seen;
SELECT suggested_action LIKE '%state is hidden%' AS advice_says_hidden FROM zdm.lock_report() WHERE usename = 'lk_vis_owner';
SELECT count(*) AS tree_lines, bool_and(line LIKE '%<insufficient privilege>%') AS hides_query,
       bool_or(line LIKE '%pg_sleep%') AS shows_query
  FROM zdm.lock_tree(false) AS line WHERE line LIKE '%(lk_vis_owner)%';
SELECT relation, lock_mode, verdict, cardinality(blocked_by) AS blockers,
       blocked_by_detail LIKE '%pg_sleep%' AS shows_query, suggested_lock_timeout
  FROM zdm.lock_preview('ALTER TABLE locks_visibility.lk_vis_t ADD COLUMN x int');
RESET ROLE;
\x off

-- lock_preview takes one statement it can analyse and no lock; NULL in, nothing out.
SELECT * FROM zdm.lock_preview(NULL);
SELECT * FROM zdm.lock_preview('SELECT 1');
SELECT * FROM zdm.lock_preview('LOCK TABLE lk_vis_t; LOCK TABLE lk_vis_t');
SELECT * FROM zdm.lock_preview('LOCK TABLE lk_vis_missing');
SELECT * FROM zdm.lock_preview('ALTER TABLE lk_vis_missing ADD COLUMN x int');
-- A table created in this transaction: no other session can see it, so nothing can block it.
BEGIN;
CREATE TABLE lk_vis_new (id int);
SELECT relation, lock_mode, verdict, blocked_by, blocked_by_detail
  FROM zdm.lock_preview('ALTER TABLE lk_vis_new ADD COLUMN x int');
ROLLBACK;
BEGIN;
SELECT verdict FROM zdm.lock_preview('LOCK TABLE lk_vis_seen IN ACCESS EXCLUSIVE MODE');
SELECT count(*) AS locks_taken_on_the_view FROM pg_locks
  WHERE relation = 'lk_vis_seen'::regclass AND pid = pg_backend_pid();
COMMIT;

-- Clean up: end the two sessions, wait for them to go, drop the roles.
SELECT count(*) AS terminated FROM (
  SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'lk_vis_owner') t;
DO $$ BEGIN
  FOR i IN 1..3000 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity WHERE usename = 'lk_vis_owner');
    PERFORM pg_sleep(0.01);
    PERFORM pg_stat_clear_snapshot();
  END LOOP;
END $$;
DROP SCHEMA locks_visibility CASCADE;
DROP ROLE lk_vis_owner, lk_vis_plain, lk_vis_monitor;
