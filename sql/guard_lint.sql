-- zdm.lint(sql): the guard's findings for a whole migration file, without running it. Statements are
-- numbered and located by line; lint follows BEGIN / COMMIT / ROLLBACK, knows the tables created earlier
-- in the file (never flagged: nobody else can use them yet) and the ACCESS EXCLUSIVE locks earlier
-- statements of the same transaction block still hold.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_lint;
SET search_path = guard_lint, public;
SET zdm.mode = warn;
\set VERBOSITY default

CREATE TABLE customers (id int PRIMARY KEY, email text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 1000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount numeric, note text);
INSERT INTO orders SELECT g, 1 + g % 1000, g, 'n' || g FROM generate_series(1, 2000) g;
ANALYZE customers, orders;

-- A migration file. Each finding names the statement and the line it starts on.
\set migration '-- 0042_shipping.sql\n\nBEGIN;\nALTER TABLE orders ADD COLUMN shipped_at timestamptz;\nCREATE INDEX orders_shipped ON orders (shipped_at);\nCOMMIT;\n\nCREATE TABLE shipments (id int PRIMARY KEY, order_id int);\nALTER TABLE shipments ALTER COLUMN id TYPE bigint;\nCREATE INDEX ON shipments (order_id);\n\n/* a block comment\n   over two lines */\nALTER TABLE orders\n  ALTER COLUMN amount TYPE numeric(12,2);\nCREATE INDEX CONCURRENTLY orders_amount ON orders (amount);\nUPDATE orders SET note = NULL WHERE id = 1;\n'
SELECT statement_no, line, rule, severity, relation
  FROM zdm.lint(E:'migration') ORDER BY statement_no, rule;

-- All columns of one finding.
\x on
SELECT * FROM zdm.lint('ALTER TABLE orders ADD CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)');
\x off

-- Outside a transaction block every statement commits on its own, so no lock is held across
-- statements; inside one, ACCESS EXCLUSIVE lasts until COMMIT (or ROLLBACK), LOCK TABLE included.
SELECT statement_no, line, rule, relation FROM zdm.lint($sql$
ALTER TABLE orders RENAME COLUMN note TO remark;
ALTER TABLE orders ALTER COLUMN customer_id SET STATISTICS 200;
BEGIN;
LOCK TABLE customers;
ALTER TABLE customers ALTER COLUMN email SET STATISTICS 200;
ROLLBACK;
ALTER TABLE customers ALTER COLUMN email SET STATISTICS 300;
$sql$) ORDER BY statement_no, rule;

-- COMMIT AND CHAIN releases the locks and starts the next block at once.
SELECT statement_no, line, rule, relation FROM zdm.lint($sql$
BEGIN;
ALTER TABLE customers ALTER COLUMN email SET STORAGE EXTERNAL;
COMMIT AND CHAIN;
ALTER TABLE customers ALTER COLUMN email SET STATISTICS 100;
LOCK TABLE orders IN ACCESS EXCLUSIVE MODE;
ALTER TABLE customers ALTER COLUMN email SET STATISTICS 200;
COMMIT;
$sql$) ORDER BY statement_no, rule;

-- CREATE INDEX CONCURRENTLY inside a transaction block fails in PostgreSQL.
SELECT statement_no, line, rule FROM zdm.lint('BEGIN; CREATE INDEX CONCURRENTLY ON orders (note); COMMIT;');

-- Tables created earlier in the file (CREATE TABLE, CREATE TABLE AS, SELECT INTO, renamed after)
-- are new: nothing on them is flagged.
SELECT count(*) AS findings FROM zdm.lint($sql$
CREATE TABLE audit (id int, at timestamptz);
ALTER TABLE audit ALTER COLUMN id TYPE bigint;
CREATE TABLE orders_copy AS SELECT * FROM orders;
CREATE INDEX ON orders_copy (customer_id);
SELECT * INTO orders_copy2 FROM orders;
ALTER TABLE orders_copy2 ADD COLUMN token float8 DEFAULT random();
ALTER TABLE audit RENAME TO audit_log;
ALTER TABLE audit_log ADD COLUMN seq bigserial;
$sql$);

-- Inline overrides: "-- zdm:allow rule-id" in a statement (before it, inside it, or after its ';' on the
-- same line) leaves that rule out for that statement only. zdm.allow does not: lint shows what the
-- guard finds, and zdm.allow is a setting of the session that runs the migration.
SELECT statement_no, line, rule FROM zdm.lint($sql$
ALTER TABLE orders ALTER COLUMN amount TYPE numeric(10,2); -- zdm:allow rewrite-column-type
-- zdm:allow index-without-concurrently
CREATE INDEX ON orders (customer_id);
CREATE INDEX ON orders (note);
ALTER TABLE orders ALTER COLUMN id TYPE bigint /* zdm:allow rewrite-column-type */;
ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint;
$sql$) ORDER BY statement_no, rule;
SET zdm.allow = 'index-without-concurrently';
SELECT statement_no, rule FROM zdm.lint('CREATE INDEX ON orders (note)');
RESET zdm.allow;

-- zdm.ignore_below is honoured: relations smaller than it are not judged.
SET zdm.ignore_below = '1MB';
SELECT count(*) AS findings FROM zdm.lint('CREATE INDEX ON orders (note); ALTER TABLE orders ALTER COLUMN id TYPE bigint');
RESET zdm.ignore_below;

-- A statement whose analysis fails (an unknown type, maybe created by an earlier statement lint does
-- not run) is skipped with a NOTICE; the statements after it are still linted.
SELECT statement_no, line, rule FROM zdm.lint($sql$
CREATE TYPE mood AS ENUM ('ok', 'bad');
ALTER TABLE orders ADD COLUMN m mood;
ALTER TABLE orders ALTER COLUMN id TYPE bigint;
$sql$);

-- Relations that do not exist (created by an earlier migration, say) are not flagged and raise no error.
SELECT count(*) AS findings FROM zdm.lint('ALTER TABLE not_there ALTER COLUMN a TYPE bigint');

-- Lint executes nothing and works whatever zdm.mode is.
SET zdm.mode = off;
SELECT statement_no, rule FROM zdm.lint('DROP TABLE orders');
SET zdm.mode = strict;
SELECT statement_no, rule FROM zdm.lint('DROP TABLE orders');
RESET zdm.mode;
SELECT count(*) AS orders_rows FROM orders;

-- The rule catalog behind lint's rule column.
SELECT count(*) > 0 AS has_rules, count(*) = count(DISTINCT id) AS unique_ids,
       bool_and(severity IN ('warning', 'critical')) AS known_severities,
       bool_and(catches <> '' AND safe_pattern <> '') AS documented
  FROM zdm.rules();
SELECT id, severity FROM zdm.rules() WHERE id IN ('rewrite-column-type', 'statement-after-access-exclusive') ORDER BY id;

DROP SCHEMA guard_lint CASCADE;
