-- The guard on ALTER COLUMN ... TYPE: what rewrites, what only rebuilds indexes or re-checks
-- constraints, and what PostgreSQL does in place (binary-coercible changes).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_types;
SET search_path = guard_types, public;
SET zdm.mode = warn;
\set VERBOSITY default

CREATE TABLE accounts (id int, name varchar(20), balance numeric(10,2), net cidr,
                       seen timestamp, seen_idx timestamp, seen_ny timestamp, label text, code text,
                       qty int CONSTRAINT qty_positive CHECK (qty > 0), cents int);
INSERT INTO accounts SELECT g, 'name ' || g, g, '10.0.0.0/8', '2020-01-01', '2020-01-01', '2020-01-01', 'l', 'c', g, g * 100
  FROM generate_series(1, 300) g;
CREATE INDEX CONCURRENTLY accounts_seen_idx_idx ON accounts (seen_idx);
CREATE INDEX CONCURRENTLY accounts_code_idx ON accounts (code);
ANALYZE accounts;

-- rewrite-column-type: integer -> bigint rewrites every row
ALTER TABLE accounts ALTER COLUMN id TYPE bigint;

-- with USING, the hint computes the new column from the user's expression
ALTER TABLE accounts ALTER COLUMN cents TYPE numeric(12,2) USING cents / 100.0;

-- strict mode rejects it before any lock; the column keeps its type
SET zdm.mode = strict;
ALTER TABLE accounts ALTER COLUMN balance TYPE float8;
\echo :LAST_ERROR_SQLSTATE
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'accounts'::regclass AND attname = 'balance';
-- overrides: zdm.allow, then an inline comment
SET zdm.allow = 'rewrite-column-type';
ALTER TABLE accounts ALTER COLUMN balance TYPE float8;
RESET zdm.allow;
ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(12,2) -- zdm:allow rewrite-column-type
;
SET zdm.mode = warn;

-- rebuild-index-column-type: a collation change keeps the rows but rebuilds the index on the column
ALTER TABLE accounts ALTER COLUMN code TYPE text COLLATE "C";
SET zdm.mode = strict;
\set VERBOSITY terse
ALTER TABLE accounts ALTER COLUMN code TYPE text COLLATE "POSIX";
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE accounts ALTER COLUMN code TYPE text COLLATE "POSIX" -- zdm:allow rebuild-index-column-type
;
SET zdm.mode = warn;

-- an index behind a constraint cannot be dropped on its own: the hint takes the new-column path
CREATE TABLE codes (code text CONSTRAINT codes_code_key UNIQUE);
INSERT INTO codes SELECT 'c' || g FROM generate_series(1, 300) g;
ANALYZE codes;
\set VERBOSITY default
ALTER TABLE codes ALTER COLUMN code TYPE text COLLATE "C";
\set VERBOSITY terse

-- timestamp -> timestamptz depends on TimeZone: in UTC no rewrite (only the index is rebuilt) ...
SET TimeZone = 'UTC';
ALTER TABLE accounts ALTER COLUMN seen_idx TYPE timestamptz;
ALTER TABLE accounts ALTER COLUMN seen TYPE timestamptz;   -- no index: nothing to say
-- ... elsewhere every value changes: a rewrite
SET TimeZone = 'America/New_York';
ALTER TABLE accounts ALTER COLUMN seen_ny TYPE timestamptz;
ALTER TABLE accounts ALTER COLUMN seen TYPE timestamp;
RESET TimeZone;
\set VERBOSITY default

-- revalidate-check-column-type: no rewrite, but the column's CHECK is validated again
ALTER TABLE accounts ALTER COLUMN qty TYPE int;
SET zdm.mode = strict;
\set VERBOSITY terse
ALTER TABLE accounts ALTER COLUMN qty TYPE int;
\echo :LAST_ERROR_SQLSTATE
SET zdm.allow = 'revalidate-check-column-type';
ALTER TABLE accounts ALTER COLUMN qty TYPE int;
RESET zdm.allow;

-- must not flag (strict mode: any finding would be an error): binary-coercible changes
ALTER TABLE accounts ALTER COLUMN name TYPE varchar(40);
ALTER TABLE accounts ALTER COLUMN name TYPE text;
ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(14,2);
ALTER TABLE accounts ALTER COLUMN net TYPE inet;
ALTER TABLE accounts ALTER COLUMN label TYPE text COLLATE "C";   -- no index depends on it
-- a table created in this transaction is nobody else's yet
BEGIN;
CREATE TABLE fresh (id int);
ALTER TABLE fresh ALTER COLUMN id TYPE bigint;
COMMIT;
SET zdm.mode = warn;
\set VERBOSITY default

SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'accounts'::regclass AND attnum > 0 ORDER BY attnum;

-- a partitioned table: PostgreSQL rewrites every partition; the finding names the table the user
-- named, with the rows and size of the whole tree
CREATE TABLE ledger (id int, amount int) PARTITION BY RANGE (id);
CREATE TABLE ledger_1 PARTITION OF ledger FOR VALUES FROM (0) TO (150);
CREATE TABLE ledger_2 PARTITION OF ledger FOR VALUES FROM (150) TO (300);
INSERT INTO ledger SELECT g, g FROM generate_series(0, 299) g;
ANALYZE ledger;
ALTER TABLE ledger ALTER COLUMN amount TYPE bigint;
SET zdm.mode = strict;
\set VERBOSITY terse
ALTER TABLE ledger ALTER COLUMN id TYPE bigint;
\echo :LAST_ERROR_SQLSTATE
SET zdm.mode = warn;
\set VERBOSITY default

-- The expand/contract hint for a serial PRIMARY KEY that foreign keys (its own table's and another's)
-- reference: run as written, in strict mode, it gives the table what ALTER COLUMN would have, a bigint
-- key with its sequence, default and foreign keys, without a rewrite under ACCESS EXCLUSIVE.
CREATE TABLE members (id serial PRIMARY KEY, owner text NOT NULL, parent int REFERENCES members);
INSERT INTO members (owner, parent) SELECT 'o' || g, NULLIF(g - 1, 0) FROM generate_series(1, 300) g;
CREATE TABLE invoices (id int, member_id int REFERENCES members);
INSERT INTO invoices SELECT g, g FROM generate_series(1, 200) g;
ANALYZE members, invoices;
SELECT rule FROM zdm.lint('ALTER TABLE members ALTER COLUMN id TYPE bigint');
\getenv abs_builddir PG_ABS_BUILDDIR
\set hint_file :abs_builddir '/results/guard_types_hint.sql'
\pset tuples_only on
\pset format unaligned
\o :hint_file
SELECT regexp_replace(hint, '^[^\n]*\n', '') FROM zdm.lint('ALTER TABLE members ALTER COLUMN id TYPE bigint');
\o
\pset tuples_only off
\pset format aligned
SET zdm.mode = strict;
SET client_min_messages = warning;  -- the backfill's and the allowed rules' NOTICEs
\set ON_ERROR_STOP 1
\i :hint_file
\set ON_ERROR_STOP 0
RESET client_min_messages;
SET zdm.mode = warn;
SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
 WHERE attrelid = 'members'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attname;
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint
 WHERE conrelid IN ('members'::regclass, 'invoices'::regclass) ORDER BY 1::text, 2;
SELECT format_type(seqtypid, NULL) AS sequence_type, pg_get_serial_sequence('members', 'id') AS sequence
  FROM pg_sequence WHERE seqrelid = pg_get_serial_sequence('members', 'id')::regclass;
INSERT INTO members (owner) VALUES ('new') RETURNING id;
SELECT count(*) AS members, count(*) FILTER (WHERE id = parent + 1) AS chained FROM members;

SET zdm.mode = off;  -- clean-up is not what these tests judge
DROP SCHEMA guard_types CASCADE;
