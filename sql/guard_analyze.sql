-- zdm.analyze(sql): for each statement of a text and each relation it touches, the strongest lock,
-- whether the table is rewritten or every row read, and its estimated rows and size. It executes
-- nothing, takes no lock that lasts, and works whatever zdm.mode is.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_analyze;
SET search_path = guard_analyze, public;
SET zdm.mode = warn;
\set VERBOSITY default

CREATE TABLE customers (id int PRIMARY KEY, email text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 1000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount numeric, note text);
INSERT INTO orders SELECT g, 1 + g % 1000, g, 'n' || g FROM generate_series(1, 2000) g;
CREATE TABLE "Mixed Case" (id int);
CREATE TABLE events (id int NOT NULL, kind text) PARTITION BY RANGE (id);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (1000);
CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (1000) TO (2000);
INSERT INTO events SELECT g, 'k' FROM generate_series(0, 1999) g;
ANALYZE customers, orders, events;

-- One row per statement and relation; the columns.
SELECT * FROM zdm.analyze('ALTER TABLE orders ADD COLUMN flag boolean DEFAULT false');
SELECT * FROM zdm.analyze('ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12,2)');
SELECT * FROM zdm.analyze('CREATE INDEX ON orders (customer_id)');

-- A statement's actions on one relation fold into one row: the strongest lock, rewrite OR scan.
SELECT statement_no, command, relation, lock_mode, rewrite, scan
  FROM zdm.analyze('ALTER TABLE orders ALTER COLUMN note SET STATISTICS 100, ADD COLUMN x float8 DEFAULT random(),
                    ADD CONSTRAINT amount_positive CHECK (amount > 0) NOT VALID');

-- Several relations: a FOREIGN KEY locks the referenced table too; partitions are listed one by one.
SELECT statement_no, relation, lock_mode, rewrite, scan
  FROM zdm.analyze('ALTER TABLE orders ADD CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)');
SELECT statement_no, relation, lock_mode, rewrite, scan
  FROM zdm.analyze('ALTER TABLE events ADD COLUMN payload int DEFAULT random()::int');

-- A whole text: statements are numbered in order (empty statements do not count); statements with no
-- relation (SET, CREATE FUNCTION) give no row.
SELECT statement_no, command, relation, lock_mode, rewrite, scan
  FROM zdm.analyze($sql$
    SET lock_timeout = '2s';;
    ALTER TABLE orders ADD COLUMN shipped_at timestamptz;
    CREATE FUNCTION one() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
    ALTER TABLE "Mixed Case" ADD COLUMN name text;
    ALTER TABLE guard_analyze.customers ALTER COLUMN email SET NOT NULL
  $sql$);

-- SELECT, INSERT, UPDATE, DELETE and MERGE are not reported: their locks (ACCESS SHARE, ROW SHARE,
-- ROW EXCLUSIVE) block no reader and no writer. Utility statements around them are.
SELECT statement_no, command, relation, lock_mode
  FROM zdm.analyze($sql$
    UPDATE orders SET note = 'x' WHERE id = 1;
    SELECT count(*) FROM orders;
    DELETE FROM orders WHERE id < 0;
    ALTER TABLE customers ADD COLUMN phone text
  $sql$);

-- LOCK TABLE: the mode it asks for, on the table and (unless ONLY) its partitions.
SELECT statement_no, relation, lock_mode FROM zdm.analyze('LOCK TABLE orders IN SHARE MODE; LOCK TABLE events');
SELECT statement_no, relation, lock_mode FROM zdm.analyze('LOCK TABLE ONLY events IN ACCESS SHARE MODE');

-- Tables created earlier in the same text are known: no error, no size yet (NULL).
SELECT statement_no, command, relation, lock_mode, rewrite, scan, estimated_rows, bytes
  FROM zdm.analyze($sql$
    CREATE TABLE invoices (id int, total numeric);
    ALTER TABLE invoices ADD COLUMN paid boolean NOT NULL DEFAULT false;
    CREATE TABLE archive AS SELECT * FROM orders;
    CREATE INDEX ON archive (id);
    SELECT * INTO later FROM orders;
    ALTER TABLE later ADD COLUMN y int
  $sql$);

-- A table renamed earlier in the text is still found under its new name (without facts: the catalog
-- knows it under its old name only).
SELECT statement_no, relation, lock_mode, estimated_rows
  FROM zdm.analyze('ALTER TABLE customers RENAME TO clients; ALTER TABLE clients ADD COLUMN vip boolean');

-- IF EXISTS on a relation that does not exist: skipped, as PostgreSQL skips it.
SELECT * FROM zdm.analyze('ALTER TABLE IF EXISTS no_such_table ADD COLUMN a int');

-- Executes nothing: the table is still there and unchanged.
SELECT count(*) FROM zdm.analyze('DROP TABLE orders; ALTER TABLE customers DROP COLUMN email');
SELECT count(*) AS orders_rows FROM orders;
SELECT count(*) AS email_column FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attname = 'email';

-- Takes no lock that outlives the call (the size is read under an ACCESS SHARE lock taken only if
-- free at once, and released at once).
BEGIN;
SELECT count(*) FROM zdm.analyze('ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12,2)');
SELECT count(*) AS locks_on_orders FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation = 'guard_analyze.orders'::regclass;
COMMIT;

-- Works whatever zdm.mode is: strict mode rejects statements, not their analysis; off judges nothing
-- but analyze still answers.
SET zdm.mode = strict;
SELECT statement_no, relation, lock_mode, rewrite FROM zdm.analyze('ALTER TABLE orders ALTER COLUMN id TYPE bigint');
SET zdm.mode = off;
SELECT statement_no, relation, lock_mode, rewrite FROM zdm.analyze('ALTER TABLE orders ALTER COLUMN id TYPE bigint');
RESET zdm.mode;

-- A PostgreSQL error in the analysis (here an unknown type) names the statement and its line.
SELECT * FROM zdm.analyze(E'ALTER TABLE orders ADD COLUMN a int;\nALTER TABLE orders ADD COLUMN b no_such_type');

DROP SCHEMA guard_analyze CASCADE;
