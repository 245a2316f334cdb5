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

-- What a caller sees of lk_vis_owner's two sessions through each function. The functions in a view
-- run as the role that queries the view, so each role below sees with its own rights.
CREATE VIEW lk_vis_seen AS
  SELECT current_user AS caller, usename, lock_mode, lock_object,
         cardinality(hard_blockers) AS hard, root_pid IS NOT NULL AS has_root, depth,
         query, client, root_state, root_query, root_xact_age IS NOT NULL AS sees_root_age,
         suggested_action LIKE 'SELECT pg_cancel_backend(%' AS advice_cancel,
         suggested_action LIKE '%state is hidden%' AS advice_says_hidden
    FROM zdm.lock_report() WHERE usename = 'lk_vis_owner';
CREATE VIEW lk_vis_tree AS
  SELECT current_user AS caller, count(*) AS tree_lines,
         count(*) FILTER (WHERE line LIKE '%<insufficient privilege>%') AS lines_hiding_query,
         count(*) FILTER (WHERE line LIKE '%: BEGIN; LOCK TABLE%' OR line LIKE '%: SELECT count(*)%') AS lines_with_query,
         count(*) FILTER (WHERE line LIKE '% active%') AS lines_with_root_state
    FROM zdm.lock_tree(false) AS line WHERE line LIKE '%(lk_vis_owner)%';
CREATE VIEW lk_vis_preview AS
  SELECT current_user AS caller, relation, lock_mode, verdict, cardinality(blocked_by) AS blockers,
         blocked_by_detail LIKE '%: BEGIN; LOCK TABLE%' AS shows_query, blocked_by_detail LIKE '%(active)%' AS shows_state
    FROM zdm.lock_preview('ALTER TABLE locks_visibility.lk_vis_t ADD COLUMN x int');
GRANT USAGE ON SCHEMA locks_visibility TO lk_vis_plain, lk_vis_monitor;
GRANT SELECT ON lk_vis_seen, lk_vis_tree, lk_vis_preview TO lk_vis_plain, lk_vis_monitor;
\x on

-- A superuser sees everything.
SELECT * FROM lk_vis_seen;
SELECT * FROM lk_vis_tree;
SELECT * FROM lk_vis_preview;

-- A member of pg_monitor sees everything, too.
SET ROLE lk_vis_monitor;
SELECT * FROM lk_vis_seen;
SELECT * FROM lk_vis_tree;
SELECT * FROM lk_vis_preview;
RESET ROLE;

-- The same role sees its own sessions.
SET ROLE lk_vis_owner;
SELECT * FROM zdm.lock_report() r WHERE false;  -- callable
SELECT count(*) AS own_rows_with_query FROM zdm.lock_report() WHERE usename = 'lk_vis_owner' AND query IS NOT NULL;
RESET ROLE;

-- A plain role sees the lock facts, but not the query text, state, client or ages of another role's
-- sessions (in lock_tree: <insufficient privilege>, no state); the advice then says the root's state
-- is hidden instead of guessing.
SET ROLE lk_vis_plain;
SELECT * FROM lk_vis_seen;
SELECT * FROM lk_vis_tree;
SELECT * FROM lk_vis_preview;
RESET ROLE;
\x off

-- lock_preview takes one statement it can analyse; NULL in, nothing out. Errors say what to do.
SELECT * FROM zdm.lock_preview(NULL);
\set VERBOSITY default
SELECT * FROM zdm.lock_preview('SELECT 1');
SELECT * FROM zdm.lock_preview('LOCK TABLE lk_vis_t; LOCK TABLE lk_vis_t');
SELECT * FROM zdm.lock_preview('');
SELECT * FROM zdm.lock_preview('LOCK TABLE lk_vis_missing');
SELECT * FROM zdm.lock_preview('ALTER TABLE lk_vis_missing ADD COLUMN x int');
\set VERBOSITY terse
-- The suggested lock_timeout (and the retry advice of lock_report) is the caller's zdm.lock_timeout,
-- the bound lock-safe DDL puts on a lock wait; with lock-safe DDL off, that setting's default.
SET zdm.lock_timeout = '250ms';
SELECT verdict, suggested_lock_timeout FROM zdm.lock_preview('LOCK TABLE lk_vis_t');
SET zdm.lock_timeout = 0;
SELECT verdict, suggested_lock_timeout FROM zdm.lock_preview('LOCK TABLE lk_vis_t');
RESET zdm.lock_timeout;
SELECT verdict, suggested_lock_timeout FROM zdm.lock_preview('LOCK TABLE lk_vis_t');
-- (That lock_preview takes no lock and never waits is shown by the isolation spec locks_preview.)

-- Clean up: end the session that holds the lock; the waiter then gets it, finishes its SELECT and
-- leaves by itself. (Terminating both races with the waiter's own exit.) Wait for both, drop the roles.
SELECT count(*) AS terminated FROM (
  SELECT pg_terminate_backend(pid) FROM pg_stat_activity
   WHERE usename = 'lk_vis_owner' AND query LIKE 'BEGIN; LOCK TABLE%') t;
DO $$ BEGIN
  FOR i IN 1..3000 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity WHERE usename = 'lk_vis_owner');
    PERFORM pg_sleep(0.01);
    PERFORM pg_stat_clear_snapshot();
  END LOOP;
END $$;
DROP SCHEMA locks_visibility CASCADE;
DROP ROLE lk_vis_owner, lk_vis_plain, lk_vis_monitor;
