-- The zdm demo that `make run` plays against a fresh server with zdm preloaded.
\set QUIET on
\pset footer off
\set VERBOSITY default
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;

\echo '-- A table with 100,000 rows.'
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL DEFAULT 0);
INSERT INTO accounts SELECT g, 'owner ' || g, g % 1000 FROM generate_series(1, 100000) g;
ANALYZE accounts;

\echo
\echo '-- 1. zdm.mode = warn (the default): the statement runs, with a WARNING that says what it costs'
\echo '--    and how to do it without downtime. (Rolled back here, to keep the table as it was.)'
\echo 'ALTER TABLE accounts ALTER COLUMN id TYPE bigint;'
BEGIN;
ALTER TABLE accounts ALTER COLUMN id TYPE bigint;
ROLLBACK;

\echo
\echo '-- 2. zdm.mode = strict: the same statement is rejected with SQLSTATE ZD001 before it asks'
\echo '--    for its ACCESS EXCLUSIVE lock, so it never waits in the lock queue ahead of other sessions.'
SET zdm.mode = strict;
\echo 'ALTER TABLE accounts ALTER COLUMN id TYPE bigint;'
\set ON_ERROR_STOP 0
ALTER TABLE accounts ALTER COLUMN id TYPE bigint;
\set ON_ERROR_STOP 1
SELECT format_type(atttypid, atttypmod) AS "accounts.id is still"
  FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'id';

\echo
\echo '-- An override for one statement, when the table is known to be small or the window is agreed:'
\echo 'ALTER TABLE accounts ALTER COLUMN id TYPE bigint; -- zdm:allow rewrite-column-type'
BEGIN;
ALTER TABLE accounts ALTER COLUMN id TYPE bigint -- zdm:allow rewrite-column-type
;
ROLLBACK;
RESET zdm.mode;

\echo
\echo '-- 3. zdm.analyze: the facts of a migration before running it (nothing is executed) ...'
SELECT * FROM zdm.analyze($$
  ALTER TABLE accounts ALTER COLUMN id TYPE bigint;
  ALTER TABLE accounts ADD COLUMN note text;
  CREATE INDEX accounts_owner ON accounts (owner);
$$);
\echo '-- ... and zdm.lint: the findings for the same text.'
SELECT statement_no, line, rule, message FROM zdm.lint($$
  ALTER TABLE accounts ALTER COLUMN id TYPE bigint;
  ALTER TABLE accounts ADD COLUMN note text;
  CREATE INDEX accounts_owner ON accounts (owner);
$$);
