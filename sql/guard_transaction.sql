-- The guard on statements that run while an earlier statement of the same transaction holds ACCESS
-- EXCLUSIVE on an existing table: the lock lasts until COMMIT, so every query on that table also
-- waits for everything that follows.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_transaction;
SET search_path = guard_transaction, public;
SET zdm.mode = warn;
\set VERBOSITY default

CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric);
INSERT INTO orders SELECT g, g % 17, g FROM generate_series(1, 300) g;
CREATE TABLE customers (id int PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 300) g;
ANALYZE orders, customers;

-- statement-after-access-exclusive: a catalog-only statement after the lock (a warning), then one that
-- reads a whole table (critical, with its own facts); the statement that takes the lock is not flagged
BEGIN;
ALTER TABLE orders ADD COLUMN note text;
ALTER TABLE customers ADD COLUMN email text;
CREATE INDEX customers_name_idx ON customers (name) -- zdm:allow index-without-concurrently
;
COMMIT;
-- a second ALTER TABLE of the locked table could have been a subcommand of the first
BEGIN;
ALTER TABLE orders ADD COLUMN shipped boolean;
ALTER TABLE orders ADD COLUMN paid boolean;
COMMIT;
-- a rolled-back savepoint gives its lock back
BEGIN;
SAVEPOINT s;
ALTER TABLE orders ADD COLUMN note2 text;
ROLLBACK TO SAVEPOINT s;
ALTER TABLE customers ADD COLUMN phone text;
COMMIT;

-- strict mode: rejected, and the transaction (with its lock) ends with the error
SET zdm.mode = strict;
\set VERBOSITY terse
BEGIN;
ALTER TABLE orders ADD COLUMN flag boolean;
ALTER TABLE customers ADD COLUMN vip boolean;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) AS new_columns FROM pg_attribute
 WHERE attrelid IN ('orders'::regclass, 'customers'::regclass) AND attname IN ('flag', 'vip');

-- overrides
BEGIN;
ALTER TABLE orders ADD COLUMN flag boolean;
SET LOCAL zdm.allow = 'statement-after-access-exclusive';
ALTER TABLE customers ADD COLUMN vip boolean;
COMMIT;
BEGIN;
ALTER TABLE orders ADD COLUMN flag2 boolean;
ALTER TABLE customers ADD COLUMN vip2 boolean -- zdm:allow statement-after-access-exclusive
;
COMMIT;

-- must not flag (strict: any finding would be an error)
-- each statement in its own transaction
ALTER TABLE orders ADD COLUMN flag3 boolean;
ALTER TABLE customers ADD COLUMN vip3 boolean;
-- the lock was taken on a table created in this transaction
BEGIN;
CREATE TABLE fresh (id int PRIMARY KEY);
ALTER TABLE fresh ADD COLUMN v text;
ALTER TABLE customers ADD COLUMN vip4 boolean;
COMMIT;
-- an earlier statement that took only a weaker lock
CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);
BEGIN;
ALTER TABLE orders ALTER COLUMN total SET STATISTICS 200;
ALTER TABLE customers ADD COLUMN vip5 boolean;
COMMIT;
SET zdm.mode = warn;
\set VERBOSITY default

-- a temporary table's own statements are not judged, except while the transaction holds ACCESS
-- EXCLUSIVE on a shared table: then its rewrite is what everyone waits for (critical, its facts)
CREATE TEMP TABLE scratch (id int, v text);
INSERT INTO scratch SELECT g, g::text FROM generate_series(1, 300) g;
BEGIN;
ALTER TABLE scratch ALTER COLUMN id TYPE bigint;
ALTER TABLE orders ADD COLUMN note6 text;
ALTER TABLE scratch ALTER COLUMN id TYPE numeric;
COMMIT;
-- nor in strict mode: what only this session's temporary tables are touched by cannot block anyone
SET zdm.mode = strict;
CREATE INDEX scratch_v ON scratch (v);
ALTER TABLE scratch ALTER COLUMN v TYPE varchar(10), ADD COLUMN w int NOT NULL DEFAULT 0;
DROP INDEX scratch_v;
CREATE TEMP TABLE scratch2 (id int);
DROP TABLE scratch2, scratch2_nonexistent;
DROP TABLE scratch2;
SET zdm.mode = warn;
-- the hook describes a table no other session can see only briefly (neither measured nor qualified),
-- zdm.analyze in full: its real size and its rewrite, also inside the transaction that created it
SELECT relation, lock_mode, rewrite, bytes = pg_relation_size('scratch') AS real_size
  FROM zdm.analyze('ALTER TABLE scratch ALTER COLUMN id TYPE int');
BEGIN;
CREATE TABLE fresh_t (id int);
INSERT INTO fresh_t SELECT generate_series(1, 300);
SELECT relation, lock_mode, rewrite, bytes = pg_relation_size('fresh_t') AS real_size
  FROM zdm.analyze('ALTER TABLE fresh_t ALTER COLUMN id TYPE bigint');
ROLLBACK;
DROP TABLE scratch;

DROP SCHEMA guard_transaction CASCADE;
