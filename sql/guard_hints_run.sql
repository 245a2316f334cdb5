-- Every hint whose SQL is complete is run here as it is, statement by statement (\gexec echoes each),
-- in strict mode: it works on populated tables, the guard lets each of its steps through (a contract
-- step carries its own zdm:allow, a swap transaction its SET LOCAL zdm.allow), and the table ends up as
-- the statement the guard rejected would have left it. Not run: the hints that need the user's input
-- (<value>, <columns that identify a row>), an external tool (pg_repack for CLUSTER and VACUUM FULL) or
-- a copy of the data (SET LOGGED / UNLOGGED / TABLESPACE / ACCESS METHOD). rewrite-column-type,
-- add-column-serial, set-not-null-without-check and domain-constraint-scan are run by guard_hint_names
-- and guard_types.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_hints_run;
CREATE SCHEMA guard_hints_run_archive;
SET search_path = guard_hints_run, public;
\i sql/helpers/hint_steps.sql

CREATE TABLE customers (id int PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 100) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, status varchar(10), code varchar(10) CHECK (code <> ''),
                     note text, qty int NOT NULL);
INSERT INTO orders SELECT g, g % 100 + 1, 'new', 'c' || g, 'n' || g, g FROM generate_series(1, 300) g;
CREATE INDEX orders_status ON orders (status);
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TYPE mood AS ENUM ('ok', 'bad');
CREATE TABLE feelings (id int PRIMARY KEY, m mood);
INSERT INTO feelings SELECT g, CASE WHEN g % 2 = 0 THEN 'ok' ELSE 'bad' END::mood FROM generate_series(1, 40) g;
CREATE TABLE keyless (a int, b int);
INSERT INTO keyless SELECT g, g FROM generate_series(1, 50) g;
CREATE UNIQUE INDEX keyless_a ON keyless (a);
CREATE TABLE events (id int NOT NULL, kind text) PARTITION BY RANGE (id);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (100);
CREATE TABLE events_other PARTITION OF events DEFAULT;
INSERT INTO events SELECT g, 'k' FROM generate_series(1, 99) g;
INSERT INTO events SELECT g, 'k' FROM generate_series(200, 299) g;
CREATE TABLE events_2 (id int NOT NULL, kind text);
INSERT INTO events_2 SELECT g, 'k' FROM generate_series(100, 199) g;
CREATE TABLE legacy (id int PRIMARY KEY);
INSERT INTO legacy SELECT generate_series(1, 30);
CREATE TABLE moving (id int PRIMARY KEY);
INSERT INTO moving SELECT generate_series(1, 30);
CREATE TABLE old_stuff (id int);
INSERT INTO old_stuff SELECT generate_series(1, 30);
CREATE TABLE scratch (id int);
INSERT INTO scratch SELECT generate_series(1, 30);
ANALYZE;

SET zdm.mode = strict;
SET client_min_messages = warning;

-- rebuild-index-column-type
SELECT hint_steps('ALTER TABLE orders ALTER COLUMN status TYPE text COLLATE "C"', 'rebuild-index-column-type') \gexec
SELECT format_type(atttypid, atttypmod), attcollation::regcollation FROM pg_attribute
 WHERE attrelid = 'orders'::regclass AND attname = 'status';
SELECT indexrelid::regclass, indisvalid FROM pg_index WHERE indexrelid = 'orders_status'::regclass;

-- revalidate-check-column-type
SELECT hint_steps('ALTER TABLE orders ALTER COLUMN code TYPE varchar(20)', 'revalidate-check-column-type') \gexec
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'code';
SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint
 WHERE conrelid = 'orders'::regclass AND contype = 'c' ORDER BY 1;

-- add-column-volatile-default
SELECT hint_steps('ALTER TABLE orders ADD COLUMN token float8 DEFAULT random()', 'add-column-volatile-default') \gexec
SELECT count(*) AS rows, count(token) AS filled, count(DISTINCT token) > 1 AS varied,
       pg_get_expr(d.adbin, d.adrelid) AS default_for_new_rows
  FROM orders, pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
 WHERE d.adrelid = 'orders'::regclass AND a.attname = 'token'
 GROUP BY d.adbin, d.adrelid;

-- add-column-identity (the numbering handed over to an identity of the kind asked for, starting after
-- the values the backfill gave)
SELECT hint_steps('ALTER TABLE orders ADD COLUMN num int GENERATED ALWAYS AS IDENTITY', 'add-column-identity') \gexec
SELECT attidentity, attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'num';
SELECT count(*) AS rows, count(DISTINCT num) AS distinct_numbers FROM orders;
INSERT INTO orders (id, qty) VALUES (1000, 1) RETURNING num > 300 AS numbered_after_the_rest;

-- add-column-generated-stored (a trigger keeps it up to date)
SELECT hint_steps('ALTER TABLE orders ADD COLUMN double_qty int GENERATED ALWAYS AS (qty * 2) STORED',
                  'add-column-generated-stored') \gexec
UPDATE orders SET qty = 7 WHERE id = 1;
SELECT count(*) FILTER (WHERE double_qty = qty * 2) AS computed, count(*) AS rows FROM orders;

-- add-column-domain-constraints
SELECT hint_steps('ALTER TABLE orders ADD COLUMN p positive', 'add-column-domain-constraints') \gexec
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'p';
SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint
 WHERE conrelid = 'orders'::regclass AND contype = 'c' AND conname LIKE 'orders\_p\_%';

-- constraint-without-not-valid
SELECT hint_steps('ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)',
                  'constraint-without-not-valid') \gexec
SELECT conname, convalidated FROM pg_constraint WHERE conname = 'orders_customer_fk';

-- constraint-builds-index
SELECT hint_steps('ALTER TABLE orders ADD CONSTRAINT orders_id_note_key UNIQUE (id, note)', 'constraint-builds-index') \gexec
SELECT conname, contype, conindid::regclass FROM pg_constraint WHERE conname = 'orders_id_note_key';

-- primary-key-nullable-columns
SELECT hint_steps('ALTER TABLE keyless ADD CONSTRAINT keyless_pkey PRIMARY KEY USING INDEX keyless_a',
                  'primary-key-nullable-columns') \gexec
SELECT conname, contype, conindid::regclass FROM pg_constraint WHERE conrelid = 'keyless'::regclass;
SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = 'keyless'::regclass AND attname = 'a';

-- attach-partition-scan: the attached table and the default partition are both read; each of the two
-- findings hands back the same recipe, which prepares both, so that the attach neither scans nor builds
SELECT count(*) AS findings, count(DISTINCT substr(hint, strpos(hint, E'\n'))) AS recipes
  FROM zdm.lint('ALTER TABLE events ATTACH PARTITION events_2 FOR VALUES FROM (100) TO (200)')
 WHERE rule = 'attach-partition-scan';
SELECT hint_steps('ALTER TABLE events ATTACH PARTITION events_2 FOR VALUES FROM (100) TO (200)',
                  'attach-partition-scan') \gexec
SELECT relname, relispartition FROM pg_class WHERE relname LIKE 'events\_%' ORDER BY 1;
SELECT count(*) AS bound_checks_left FROM pg_constraint WHERE conname LIKE 'events%bound%';

-- index-without-concurrently, reindex-without-concurrently
SELECT hint_steps('CREATE INDEX orders_note ON orders (note)', 'index-without-concurrently') \gexec
SELECT hint_steps('REINDEX INDEX orders_note', 'reindex-without-concurrently') \gexec
SELECT indexrelid::regclass, indisvalid FROM pg_index WHERE indexrelid = 'orders_note'::regclass;

-- breaking-rename-column: the whole expand/contract, contract included
SELECT hint_steps('ALTER TABLE orders RENAME COLUMN note TO remark', 'breaking-rename-column') \gexec
SELECT count(*) FILTER (WHERE remark = 'n' || id) AS copied, count(*) AS rows FROM orders WHERE id <= 300;
SELECT count(*) AS note_columns FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'note' AND NOT attisdropped;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND tgname LIKE '%remark%';

-- breaking-drop-column
SELECT hint_steps('ALTER TABLE orders DROP COLUMN remark', 'breaking-drop-column') \gexec
SELECT count(*) AS remark_columns FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'remark' AND NOT attisdropped;

-- breaking-drop-type-in-use
SELECT hint_steps('DROP TYPE mood', 'breaking-drop-type-in-use') \gexec
SELECT count(*) AS mood_types FROM pg_type WHERE typname = 'mood' AND typnamespace = 'guard_hints_run'::regnamespace;
SELECT m_new, count(*) FROM feelings GROUP BY 1 ORDER BY 1;

-- breaking-rename-table (the view under the old name, dropped at the end)
SELECT hint_steps('ALTER TABLE legacy RENAME TO legacy_v2', 'breaking-rename-table') \gexec
SELECT count(*) AS rows FROM legacy_v2;
SELECT to_regclass('legacy') AS old_name;

-- breaking-set-schema
SELECT hint_steps('ALTER TABLE moving SET SCHEMA guard_hints_run_archive', 'breaking-set-schema') \gexec
SELECT count(*) AS rows FROM guard_hints_run_archive.moving;
SELECT to_regclass('guard_hints_run.moving') AS old_name;

-- breaking-drop-table (parked under another name, then dropped)
SELECT hint_steps('DROP TABLE old_stuff', 'breaking-drop-table') \gexec
SELECT to_regclass('old_stuff') AS old_name, to_regclass('old_stuff_to_drop') AS parked_name;

-- truncate-table: both alternatives, the bounded TRUNCATE, then the batched DELETE (nothing left to
-- delete by then)
SELECT hint_steps('TRUNCATE scratch', 'truncate-table') \gexec
SELECT count(*) AS rows_left FROM scratch;

RESET client_min_messages;
RESET zdm.mode;
DROP SCHEMA guard_hints_run, guard_hints_run_archive CASCADE;
