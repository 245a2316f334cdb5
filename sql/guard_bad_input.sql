-- zdm.analyze() and zdm.lint() on bad input: a clear error or a correct result, never a crash.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_bad_input;
SET search_path = guard_bad_input, public;
SET zdm.mode = warn;
\set VERBOSITY default

CREATE TABLE orders (id int PRIMARY KEY, note text);
INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 100) g;

-- Empty text, whitespace, comments, empty statements: no statements, no rows.
SELECT count(*) FROM zdm.analyze('');
SELECT count(*) FROM zdm.lint('');
SELECT count(*) FROM zdm.analyze(E'  \n\t  \n');
SELECT count(*) FROM zdm.lint(E'-- only a comment\n/* and /* a nested */ one */\n');
SELECT count(*) FROM zdm.analyze(';;;');
SELECT count(*) FROM zdm.lint(E';\n;\n-- end');

-- NULL: both functions are STRICT, so NULL text is no statement and gives no row.
SELECT count(*) FROM zdm.analyze(NULL);
SELECT count(*) FROM zdm.lint(NULL);

-- Invalid SQL: PostgreSQL's syntax error, with the position inside the text given (LINE / QUERY).
SELECT * FROM zdm.analyze('ALTER TABLE orders ADD COLUMN');
SELECT * FROM zdm.lint(E'ALTER TABLE orders ADD COLUMN a int;\n\nALTER TABLE orders ALTER COLUMN id TYPE;\n');
SELECT * FROM zdm.lint('ALTER TABLE orders ADD COLUMN a text DEFAULT ''unterminated');
SELECT * FROM zdm.analyze('/* unterminated comment');
\set VERBOSITY terse
SELECT * FROM zdm.analyze('SELEC 1');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- An unknown relation: analyze raises 42P01 with a HINT, unless an earlier statement of the same
-- text creates it; lint has nothing to judge and says nothing.
SELECT * FROM zdm.analyze('ALTER TABLE no_such_table ADD COLUMN a int');
SELECT * FROM zdm.analyze(E'ALTER TABLE orders ADD COLUMN a int;\nCREATE INDEX ON public.no_such_table (a)');
SELECT statement_no, relation, lock_mode
  FROM zdm.analyze('CREATE TABLE new_table (a int); ALTER TABLE new_table ADD COLUMN b int');
SELECT count(*) FROM zdm.lint('ALTER TABLE no_such_table ALTER COLUMN a TYPE bigint');

-- Errors inside the analysis: analyze passes PostgreSQL's error on, with the statement's number and line
-- as CONTEXT; lint skips that statement with a NOTICE and goes on.
SELECT * FROM zdm.analyze(E'\n\nALTER TABLE orders ALTER COLUMN note TYPE no_such_type');
SELECT statement_no, rule FROM zdm.lint(E'ALTER TABLE orders ALTER COLUMN note TYPE no_such_type;\nALTER TABLE orders ALTER COLUMN id TYPE bigint');

-- Names PostgreSQL itself refuses reach its own error, whichever of the hook's lookups meets them first.
ALTER TABLE otherdb.public.orders ADD COLUMN x int;
DROP TABLE a.b.c.d;
CREATE INDEX ON otherdb.public.orders (id);

-- Partition statements PostgreSQL refuses because the parent is not partitioned reach its own error,
-- in every mode and through zdm.analyze / zdm.lint, and an index attached to a partitioned index is a
-- catalog change (found by running PostgreSQL's own regression files with zdm loaded: these crashed the
-- backend once).
CREATE TABLE not_parted (id int);
CREATE TABLE loose (id int);
CREATE TABLE parted (id int) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
CREATE INDEX parted_id ON ONLY parted (id);
CREATE INDEX parted_1_id ON parted_1 (id);
CREATE TABLE not_a_partition PARTITION OF not_parted FOR VALUES FROM (0) TO (10);
ALTER TABLE not_parted ATTACH PARTITION loose FOR VALUES FROM (0) TO (10);
ALTER TABLE not_parted ATTACH PARTITION loose DEFAULT;
SELECT statement_no, relation, lock_mode, scan
  FROM zdm.analyze('ALTER TABLE not_parted ATTACH PARTITION loose FOR VALUES FROM (0) TO (10)');
SELECT count(*) AS findings FROM zdm.lint('CREATE TABLE not_a_partition PARTITION OF not_parted FOR VALUES FROM (0) TO (10)');
SET zdm.mode = strict;
ALTER TABLE not_parted ATTACH PARTITION loose FOR VALUES FROM (0) TO (10);
SET zdm.mode = warn;
SELECT statement_no, relation, lock_mode, rewrite, scan
  FROM zdm.analyze('ALTER INDEX parted_id ATTACH PARTITION parted_1_id') ORDER BY relation;
ALTER INDEX parted_id ATTACH PARTITION parted_1_id;
ALTER INDEX parted_id ATTACH PARTITION loose;
SELECT indexrelid::regclass AS index, indisvalid FROM pg_index WHERE indexrelid = 'parted_id'::regclass;

-- 10,000 statements in one call.
SELECT count(*) AS rows, count(DISTINCT statement_no) AS statements, max(statement_no) AS last
  FROM zdm.analyze((SELECT string_agg('ALTER TABLE orders ADD COLUMN c' || g || ' int', '; ')
                      FROM generate_series(1, 10000) g));
SELECT count(*) AS findings, max(statement_no) AS last, max(line) AS last_line
  FROM zdm.lint((SELECT string_agg('ALTER TABLE orders ALTER COLUMN id TYPE bigint;', E'\n')
                   FROM generate_series(1, 10000) g));

-- Still a working session and an untouched table.
SELECT count(*) AS orders_rows FROM orders;
SELECT count(*) AS columns FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attnum > 0;

DROP SCHEMA guard_bad_input CASCADE;
