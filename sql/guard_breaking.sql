-- The guard on changes that break clients still running the old code: DROP / RENAME of a column or
-- table, SET SCHEMA, DROP TYPE still used by a column. Enum ADD VALUE and DROP INDEX are fine.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_breaking;
CREATE SCHEMA guard_breaking_archive;
SET search_path = guard_breaking, public;
SET zdm.mode = warn;
\set VERBOSITY default

CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TYPE unused_mood AS ENUM ('meh');
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, note text, feeling mood, obsolete int);
INSERT INTO orders SELECT g, g % 17, 'n' || g, 'happy', g FROM generate_series(1, 300) g;
CREATE TABLE legacy (id int PRIMARY KEY, payload text);
INSERT INTO legacy SELECT g, 'p' || g FROM generate_series(1, 300) g;
CREATE TABLE "Old Stuff" (id int);
INSERT INTO "Old Stuff" SELECT g FROM generate_series(1, 300) g;
CREATE TABLE line_items (id int, order_id int REFERENCES orders);
INSERT INTO line_items SELECT g, g FROM generate_series(1, 300) g;
CREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id);
ANALYZE orders, legacy, "Old Stuff", line_items;

-- breaking-drop-column
ALTER TABLE orders DROP COLUMN note;
-- breaking-rename-column
ALTER TABLE orders RENAME COLUMN customer_id TO client_id;
-- breaking-rename-table
ALTER TABLE legacy RENAME TO legacy_v2;
-- breaking-set-schema
ALTER TABLE legacy_v2 SET SCHEMA guard_breaking_archive;
-- breaking-drop-type-in-use: without CASCADE PostgreSQL waits for the table's lock, then refuses
DROP TYPE mood;
DROP TYPE mood CASCADE;
-- breaking-drop-table (quoted names stay quoted in the hint)
DROP TABLE "Old Stuff";
DROP TABLE guard_breaking_archive.legacy_v2;
-- dropping a table with a foreign key also locks the table it references
DROP TABLE line_items;

-- strict mode: rejected before any lock, nothing changed
SET zdm.mode = strict;
\set VERBOSITY terse
CREATE TYPE mood AS ENUM ('happy', 'sad');
ALTER TABLE orders ADD COLUMN feeling mood;
CREATE TABLE keep (id int, label text);
INSERT INTO keep SELECT g, 'k' || g FROM generate_series(1, 300) g;
ANALYZE keep;
ALTER TABLE orders DROP COLUMN feeling;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE orders RENAME COLUMN client_id TO customer_id;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE keep RENAME TO kept;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE keep SET SCHEMA guard_breaking_archive;
\echo :LAST_ERROR_SQLSTATE
DROP TYPE mood CASCADE;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE keep;
\echo :LAST_ERROR_SQLSTATE
SELECT attname FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT to_regclass('keep') IS NOT NULL AS keep_exists, count(*) AS keep_rows FROM keep;

-- overrides
SET zdm.allow = 'breaking-rename-column';
ALTER TABLE orders RENAME COLUMN client_id TO customer_id;
RESET zdm.allow;
ALTER TABLE keep RENAME TO kept -- zdm:allow breaking-rename-table
;
DROP TYPE mood CASCADE /* zdm:allow breaking-drop-type-in-use */;
SET zdm.allow = 'breaking-drop-column, breaking-drop-table, breaking-set-schema';
ALTER TABLE orders DROP COLUMN obsolete;
ALTER TABLE kept SET SCHEMA guard_breaking_archive;
DROP TABLE guard_breaking_archive.kept;
RESET zdm.allow;

-- must not flag (strict: any finding would be an error)
CREATE TYPE colour AS ENUM ('red');
ALTER TABLE orders ADD COLUMN colour colour;
ALTER TYPE colour ADD VALUE 'green';
ALTER TYPE colour ADD VALUE IF NOT EXISTS 'blue' AFTER 'red';
DROP TYPE unused_mood;
DROP INDEX orders_customer_idx;
ALTER INDEX orders_pkey RENAME TO orders_id_key;
BEGIN;
CREATE TABLE fresh (id int, v text);
INSERT INTO fresh SELECT g, g::text FROM generate_series(1, 300) g;
ALTER TABLE fresh RENAME COLUMN v TO w;
ALTER TABLE fresh DROP COLUMN w;
ALTER TABLE fresh RENAME TO fresher;
ALTER TABLE fresher SET SCHEMA guard_breaking_archive;
DROP TABLE guard_breaking_archive.fresher;
CREATE TYPE fresh_type AS ENUM ('a');
CREATE TABLE fresh2 (t fresh_type);
DROP TYPE fresh_type CASCADE;
COMMIT;
-- a temporary table, even one from an earlier transaction: no other session can use it
CREATE TEMP TABLE scratch (id int, v text);
INSERT INTO scratch SELECT g, g::text FROM generate_series(1, 300) g;
ANALYZE scratch;
ALTER TABLE scratch ALTER COLUMN id TYPE bigint;
ALTER TABLE scratch RENAME COLUMN v TO w;
CREATE INDEX ON scratch (w);
TRUNCATE scratch;
DROP TABLE scratch;
SET zdm.mode = warn;
\set VERBOSITY default

DROP SCHEMA guard_breaking CASCADE;
DROP SCHEMA guard_breaking_archive CASCADE;
