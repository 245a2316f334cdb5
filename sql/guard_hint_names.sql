-- The objects a hint creates (a new column, its trigger function, a CHECK, an index, a sequence, a
-- parked table) get names nobody uses yet, chosen as PostgreSQL chooses names of its own
-- (ChooseRelationName, ChooseConstraintName): name1_name2_label, truncated to fit NAMEDATALEN, then
-- label1, label2, ... past a name in use; quoted as needed. Each hint below is then run as it is,
-- statement by statement (\gexec echoes each), in strict mode: it works, and the guard lets every step
-- through.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_hint_names;
SET search_path = guard_hint_names, public;
SET zdm.mode = warn;
-- The hints' steps run with NOTICEs off (a backfill's job number depends on the tests run before).

\i sql/helpers/hint_steps.sql

-- A quoted table and column; the first names the hint would take are in use already: a column
-- "Amount_new", a function "Orders_Amount_sync"() and a constraint "Orders_Amount_new_not_null".
CREATE TABLE "Orders" (id int PRIMARY KEY, "Amount" int NOT NULL, "Amount_new" text);
INSERT INTO "Orders" SELECT g, g * 10, 'kept' FROM generate_series(1, 50) g;
CREATE FUNCTION "Orders_Amount_sync"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TABLE other_orders (id int, CONSTRAINT "Orders_Amount_new_not_null" CHECK (id > 0),
                           CONSTRAINT items_sku_not_null CHECK (id IS NOT NULL));
SET zdm.mode = strict;
SET client_min_messages = warning;
SELECT hint_steps('ALTER TABLE "Orders" ALTER COLUMN "Amount" TYPE bigint', 'rewrite-column-type') \gexec
RESET zdm.mode;
RESET client_min_messages;
-- "Amount" is bigint and NOT NULL, its values and the other column are kept, nothing is left over.
SELECT format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
 WHERE attrelid = '"Orders"'::regclass AND attname = 'Amount';
SELECT count(*), sum("Amount"), min("Amount_new") FROM "Orders";
SELECT conname FROM pg_constraint WHERE conrelid = '"Orders"'::regclass ORDER BY 1;
SELECT proname FROM pg_proc WHERE pronamespace = 'guard_hint_names'::regnamespace AND proname LIKE 'Orders%' ORDER BY 1;

-- SET NOT NULL: the constraint name is chosen past one used by another table of the schema
-- (PostgreSQL keeps CHECK names it chooses unique in the schema).
CREATE TABLE items (id int, sku text);
INSERT INTO items SELECT g, 'sku' || g FROM generate_series(1, 50) g;
SET zdm.mode = strict;
SET client_min_messages = warning;
SELECT hint_steps('ALTER TABLE items ALTER COLUMN sku SET NOT NULL', 'set-not-null-without-check') \gexec
RESET zdm.mode;
RESET client_min_messages;
SELECT attnotnull FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'sku';

-- ADD COLUMN serial: the sequence's name is chosen past a relation of that name.
CREATE SEQUENCE items_line_seq;
SET zdm.mode = strict;
SET client_min_messages = warning;
SELECT hint_steps('ALTER TABLE items ADD COLUMN line bigserial', 'add-column-serial') \gexec
RESET zdm.mode;
RESET client_min_messages;
SELECT count(*), count(DISTINCT line), min(line) > 0 AS numbered FROM items;
SELECT pg_get_serial_sequence('items', 'line');

-- A column name of 63 bytes: the new column's name is truncated to fit, never back to the old one.
CREATE TABLE wide (id int, abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefgh int);
INSERT INTO wide SELECT g, g FROM generate_series(1, 20) g;
SET zdm.mode = strict;
SET client_min_messages = warning;
SELECT hint_steps('ALTER TABLE wide ALTER COLUMN abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefgh TYPE bigint',
                  'rewrite-column-type') \gexec
RESET zdm.mode;
RESET client_min_messages;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'wide'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT sum(abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefgh) FROM wide;

-- ALTER DOMAIN ... ADD CHECK without a name: the hint validates the constraint by the name PostgreSQL
-- gives it (pos_check is taken, so pos_check1). Validation itself still scans (the guard says so), so
-- this one runs with the guard off.
CREATE DOMAIN pos AS int CONSTRAINT pos_check CHECK (VALUE > 0);
CREATE TABLE stock (id int, qty pos);
INSERT INTO stock SELECT g, g FROM generate_series(1, 20) g;
SET zdm.mode = off;
SET client_min_messages = warning;
SELECT hint_steps('ALTER DOMAIN pos ADD CHECK (VALUE < 1000)', 'domain-constraint-scan') \gexec
RESET zdm.mode;
RESET client_min_messages;
SELECT conname, convalidated FROM pg_constraint WHERE contypid = 'pos'::regtype ORDER BY 1;

-- DROP TABLE: the parked name is chosen past a table of that name.
CREATE TABLE items_to_drop (id int);
SELECT hint_steps('DROP TABLE items', 'breaking-drop-table');

DROP SCHEMA guard_hint_names CASCADE;
