-- Lock-safe DDL: zdm.lock_timeout, zdm.lock_retries and zdm.lock_retry_delay, the session's own
-- lock_timeout (a smaller one wins, and it is back after every outcome), the final 55P03 error, no
-- effect on DML or weak-lock statements, and rule missing-lock-timeout.
-- The blocker is a prepared transaction: it holds its locks with no session attached, so one psql
-- session can show a DDL statement timing out; messages name it by its gid.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA lockwait_settings;
SET search_path = lockwait_settings, public;
SET zdm.mode = warn;

-- The settings and their defaults.
SELECT name, setting, unit, context, short_desc FROM pg_settings
WHERE name IN ('zdm.lock_timeout', 'zdm.lock_retries', 'zdm.lock_retry_delay') ORDER BY name;
SHOW zdm.lock_timeout;
SHOW zdm.lock_retry_delay;
SET zdm.lock_retries = -1;
SET zdm.lock_timeout = -5;

CREATE TABLE accounts (id int PRIMARY KEY, balance int);
INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 10) g;

-- The lock_timeout a statement runs with, shown from inside it by an event trigger (ddl_command_start
-- fires while the statement runs, in lock-safe DDL's attempt): zdm.lock_timeout for a statement with a
-- strong lock, only while it runs; the session's own value for weak-lock statements and temporary
-- tables (nobody else can hold their locks); the session's smaller value when it is smaller.
CREATE FUNCTION show_lock_timeout() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE '% runs with lock_timeout %', tg_tag, current_setting('lock_timeout');
END $$;
CREATE EVENT TRIGGER lockwait_show_lock_timeout ON ddl_command_start
  WHEN TAG IN ('ALTER TABLE', 'CREATE INDEX', 'CREATE TRIGGER', 'CREATE POLICY', 'CREATE TABLE', 'CREATE VIEW')
  EXECUTE FUNCTION show_lock_timeout();
SET zdm.mode = off;  -- the guard's findings (DROP COLUMN) are not this section's subject
SET zdm.lock_timeout = '50ms';
SET lock_timeout = '5s';
ALTER TABLE accounts ADD COLUMN seen int;
ALTER TABLE accounts ADD CONSTRAINT seen_positive CHECK (seen > 0) NOT VALID;
ALTER TABLE accounts VALIDATE CONSTRAINT seen_positive;
CREATE INDEX CONCURRENTLY accounts_seen_idx ON accounts (seen);
CREATE TEMP TABLE scratch (id int);
ALTER TABLE scratch ADD COLUMN note text;
-- other statements that take a strong lock on an existing table: CREATE TRIGGER (SHARE ROW
-- EXCLUSIVE), CREATE POLICY (ACCESS EXCLUSIVE), CREATE TABLE ... REFERENCES (SHARE ROW EXCLUSIVE on
-- the referenced table); and two that do not: CREATE VIEW (ACCESS SHARE), a plain CREATE TABLE
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch();
CREATE POLICY accounts_all ON accounts USING (true);
CREATE TABLE transfers (id int, account_id int REFERENCES accounts);
CREATE VIEW rich AS SELECT id, balance FROM accounts WHERE balance > 50;
CREATE TABLE notes (id int);
SHOW lock_timeout;
SET lock_timeout = '20ms';
ALTER TABLE accounts DROP COLUMN seen;
RESET lock_timeout;
ALTER TABLE accounts ADD COLUMN seen int;
SHOW lock_timeout;
DROP EVENT TRIGGER lockwait_show_lock_timeout;
ALTER TABLE accounts DROP COLUMN seen;
RESET zdm.lock_timeout;
SET zdm.mode = warn;

-- A prepared transaction that read the table holds ACCESS SHARE on it until it is finished.
BEGIN;
SELECT count(*) FROM accounts;
PREPARE TRANSACTION 'lockwait_reader';

SET zdm.lock_timeout = '50ms';
SET zdm.lock_retry_delay = '10ms';
SET zdm.lock_retries = 2;

-- An instant ADD COLUMN needs ACCESS EXCLUSIVE: it times out, is retried twice, then fails with 55P03.
\set VERBOSITY terse
ALTER TABLE accounts ADD COLUMN note text;
\set VERBOSITY default
-- The final error's DETAIL names the blocker, the HINT says what to do.
CREATE FUNCTION show_error(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  state text; message text; detail text; hint text;
BEGIN
  EXECUTE statement;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
                          hint = PG_EXCEPTION_HINT;
  RETURN state || E'\n' || message || E'\n' || detail || E'\n' || hint;
END $$;
SET zdm.lock_retries = 0;
SET client_min_messages = warning;
SELECT show_error('ALTER TABLE accounts ADD COLUMN note text');
RESET client_min_messages;
-- The failed attempts left nothing behind.
SELECT count(*) AS note_columns FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'note';

-- The session's own lock_timeout is back after the failure, whatever zdm applied while it waited.
SHOW lock_timeout;
SET lock_timeout = '5s';
SET zdm.lock_retries = 1;
\set VERBOSITY terse
-- 5s is larger than zdm.lock_timeout: the wait is bounded to 50 ms.
ALTER TABLE accounts ADD COLUMN note text;
SHOW lock_timeout;
-- A smaller lock_timeout set by the session wins.
SET lock_timeout = '20ms';
ALTER TABLE accounts ADD COLUMN note text;
SHOW lock_timeout;
RESET lock_timeout;

-- In full: the NOTICE names the blocker; inside a transaction block it also says that the locks
-- taken by earlier statements (here ACCESS EXCLUSIVE on ledger) are held while it waits.
\set VERBOSITY default
CREATE TABLE ledger (id int);
BEGIN;
SET LOCAL zdm.mode = off;  -- lock-safe DDL does not depend on the guard's mode
ALTER TABLE ledger ADD COLUMN note text;
ALTER TABLE accounts ADD COLUMN note text;
ROLLBACK;
\set VERBOSITY terse

-- zdm.lock_retries can be set to 0 for one transaction.
BEGIN;
SET LOCAL zdm.lock_retries = 0;
ALTER TABLE accounts ADD COLUMN note text;
ROLLBACK;
SHOW zdm.lock_retries;

-- LOCK TABLE is bounded and retried like a DDL; LOCK ... NOWAIT asked to fail at once and does, with
-- PostgreSQL's own error and no retry.
BEGIN;
LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;
ROLLBACK;
BEGIN;
LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE NOWAIT;
ROLLBACK;

-- No effect on SELECT and DML: they take weak locks, which the reader's ACCESS SHARE does not block.
SELECT count(*) FROM accounts;
UPDATE accounts SET balance = balance + 1 WHERE id = 1;
-- zdm.lock_timeout = 0 turns lock-safe DDL off: the session's lock_timeout alone applies, no retry.
SET zdm.lock_timeout = 0;
SET lock_timeout = '20ms';
ALTER TABLE accounts ADD COLUMN note text;
RESET lock_timeout;
SET zdm.lock_timeout = '50ms';
\set VERBOSITY default

ROLLBACK PREPARED 'lockwait_reader';

-- A statement with a weak lock is left alone: VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE. A
-- prepared transaction holding SHARE UPDATE EXCLUSIVE blocks it; with the session's own 20 ms
-- lock_timeout it fails with PostgreSQL's own error, without zdm's retries.
ALTER TABLE accounts ADD CONSTRAINT positive CHECK (balance > 0) NOT VALID;
BEGIN;
LOCK TABLE accounts IN SHARE UPDATE EXCLUSIVE MODE;
PREPARE TRANSACTION 'lockwait_maintenance';
SET lock_timeout = '20ms';
ALTER TABLE accounts VALIDATE CONSTRAINT positive;
-- DML blocked by an EXCLUSIVE lock is not retried either.
ROLLBACK PREPARED 'lockwait_maintenance';
BEGIN;
LOCK TABLE accounts IN EXCLUSIVE MODE;
PREPARE TRANSACTION 'lockwait_exclusive';
UPDATE accounts SET balance = balance + 1 WHERE id = 1;
ROLLBACK PREPARED 'lockwait_exclusive';
RESET lock_timeout;

-- With no blocker left, the statement runs at the first attempt, silently.
ALTER TABLE accounts ADD COLUMN note text;
SHOW lock_timeout;

-- Rule missing-lock-timeout (strict mode): lock_timeout explicitly 0 and a DDL that needs ACCESS
-- EXCLUSIVE on an existing table, with zdm.lock_timeout off.
SET zdm.mode = strict;
SET lock_timeout = 0;
SET zdm.lock_timeout = 0;
ALTER TABLE accounts ADD COLUMN flag boolean;
-- zdm.lock_timeout bounds the wait: no finding.
SET zdm.lock_timeout = '1s';
ALTER TABLE accounts ADD COLUMN flag boolean;
-- lock_timeout never set by the session (the default 0): no finding, zdm.lock_timeout off or not.
RESET lock_timeout;
SET zdm.lock_timeout = 0;
ALTER TABLE accounts ADD COLUMN flag2 boolean;
-- A table created in this transaction is invisible to others: no finding.
BEGIN;
SET LOCAL lock_timeout = 0;
CREATE TABLE fresh (id int);
ALTER TABLE fresh ADD COLUMN note text;
COMMIT;
-- Warn mode: no finding either (the rule is strict-only).
SET zdm.mode = warn;
SET lock_timeout = 0;
ALTER TABLE accounts ADD COLUMN flag3 boolean;
RESET lock_timeout;
RESET zdm.lock_timeout;
RESET zdm.mode;


RESET zdm.lock_retries;
RESET zdm.lock_retry_delay;
DROP SCHEMA lockwait_settings CASCADE;
