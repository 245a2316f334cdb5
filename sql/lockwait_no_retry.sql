-- Lock-safe DDL for statements that cannot run in a transaction block (VACUUM, CREATE INDEX
-- CONCURRENTLY, REINDEX ... CONCURRENTLY, REINDEX SCHEMA, DROP INDEX CONCURRENTLY, DETACH PARTITION
-- ... CONCURRENTLY, CLUSTER and REINDEX of a partitioned table): they get the bounded lock_timeout for
-- the whole statement, but no retry. A lock timeout fails them with PostgreSQL's own 55P03, with zdm's
-- DETAIL (what bounded the wait) and HINT (how to retry, and what a concurrent build may have left
-- behind). The session's lock_timeout is back afterwards in every outcome, and a smaller one set by
-- the session wins. ANALYZE alone is a weak-lock statement and is left alone.
-- The blockers are prepared transactions: they hold their locks with no session attached, so one psql
-- session can show a statement timing out.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA lockwait_no_retry;
SET search_path = lockwait_no_retry, public;
SET zdm.mode = off;  -- lock-safe DDL does not depend on the guard's mode; its findings are not shown here
SET zdm.lock_timeout = '50ms';
SET zdm.lock_retries = 3;

-- autovacuum off: an autovacuum worker's SHARE UPDATE EXCLUSIVE would be a blocker of its own.
CREATE TABLE accounts (id int PRIMARY KEY, email text) WITH (autovacuum_enabled = false);
INSERT INTO accounts SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 10) g;

-- A reader (ACCESS SHARE) blocks VACUUM FULL (ACCESS EXCLUSIVE): one attempt of 50 ms, no NOTICE, no
-- retry, then PostgreSQL's own error with zdm's DETAIL and HINT.
BEGIN;
SELECT count(*) FROM accounts;
PREPARE TRANSACTION 'lockwait_reader';
VACUUM FULL accounts;
SHOW lock_timeout;
-- Plain VACUUM and CREATE INDEX CONCURRENTLY need SHARE UPDATE EXCLUSIVE, which the reader does not
-- block, and CREATE INDEX CONCURRENTLY waits only for writers: they run.
VACUUM accounts;
CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);
-- DROP INDEX CONCURRENTLY waits for every transaction that uses the table, the reader too (index.c:
-- index_drop). Timed out after marking the index INVALID, it is finished by running it again.
DROP INDEX CONCURRENTLY accounts_email_idx;
SELECT indexrelid::regclass AS index, indisvalid FROM pg_index WHERE indrelid = 'accounts'::regclass ORDER BY 1;
ROLLBACK PREPARED 'lockwait_reader';
DROP INDEX CONCURRENTLY accounts_email_idx;

-- A session that holds SHARE UPDATE EXCLUSIVE (as a running VACUUM, ANALYZE or CREATE INDEX
-- CONCURRENTLY does) blocks all of them. The session's own lock_timeout of 5 s is larger than
-- zdm.lock_timeout: its 50 ms bound the wait, and 5 s is back afterwards.
BEGIN;
LOCK TABLE accounts IN SHARE UPDATE EXCLUSIVE MODE;
PREPARE TRANSACTION 'lockwait_maintenance';
SET lock_timeout = '5s';
VACUUM accounts;
SHOW lock_timeout;
CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);
REINDEX TABLE CONCURRENTLY accounts;
ALTER TABLE accounts ADD COLUMN region int;  -- for comparison: a statement with retries
SHOW lock_timeout;
-- ANALYZE alone takes SHARE UPDATE EXCLUSIVE like plain VACUUM, but it can run in a transaction block
-- and is a weak-lock statement: lock-safe DDL leaves it alone (here the session's own 20 ms applies,
-- with PostgreSQL's plain error).
SET lock_timeout = '20ms';
ANALYZE accounts;
-- A smaller lock_timeout set by the session wins; the DETAIL says so.
CREATE INDEX CONCURRENTLY ON accounts (email);
SHOW lock_timeout;
RESET lock_timeout;
ROLLBACK PREPARED 'lockwait_maintenance';

-- CREATE INDEX CONCURRENTLY waits, after creating the (still INVALID) index, for the transactions that
-- write the table (indexcmds.c: DefineIndex, WaitForLockers). A lock timeout there leaves the INVALID
-- index behind; the HINT names it, with the statement that drops it.
BEGIN;
UPDATE accounts SET email = email WHERE id = 1;
PREPARE TRANSACTION 'lockwait_writer';
CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);
SELECT indexrelid::regclass AS index, indisvalid FROM pg_index WHERE indrelid = 'accounts'::regclass ORDER BY 1;
-- REINDEX SCHEMA needs SHARE on each table, which the writer's ROW EXCLUSIVE blocks.
REINDEX SCHEMA lockwait_no_retry;
ROLLBACK PREPARED 'lockwait_writer';
DROP INDEX CONCURRENTLY IF EXISTS lockwait_no_retry.accounts_email_idx;
SELECT indexrelid::regclass AS index, indisvalid FROM pg_index WHERE indrelid = 'accounts'::regclass ORDER BY 1;

-- DETACH PARTITION ... CONCURRENTLY: bounded as well.
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')
  WITH (autovacuum_enabled = false);
BEGIN;
LOCK TABLE events_2024 IN SHARE UPDATE EXCLUSIVE MODE;
PREPARE TRANSACTION 'lockwait_partition';
ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY;
ROLLBACK PREPARED 'lockwait_partition';

-- CLUSTER of a partitioned table and REINDEX INDEX / TABLE of a partitioned index or table handle each
-- partition in a transaction of their own (cluster.c, indexcmds.c ReindexPartitions): like the forms
-- above, they are bounded for the whole statement and not retried (a retry's subtransaction would make
-- PostgreSQL refuse them). A reader of a partition blocks CLUSTER (ACCESS EXCLUSIVE on each).
CREATE TABLE metrics (id int, v int) PARTITION BY RANGE (id);
CREATE TABLE metrics_1 PARTITION OF metrics FOR VALUES FROM (0) TO (100) WITH (autovacuum_enabled = false);
INSERT INTO metrics SELECT g, g FROM generate_series(1, 50) g;
CREATE INDEX metrics_id ON metrics (id);
BEGIN;
SELECT count(*) FROM metrics_1;
PREPARE TRANSACTION 'lockwait_partition_reader';
CLUSTER metrics USING metrics_id;
ROLLBACK PREPARED 'lockwait_partition_reader';
SELECT relfilenode AS before FROM pg_class WHERE relname = 'metrics_1' \gset
CLUSTER metrics USING metrics_id;
REINDEX INDEX metrics_id;
REINDEX TABLE metrics;
SELECT relfilenode <> :before AS clustered FROM pg_class WHERE relname = 'metrics_1';

-- With no blocker, everything runs, and the session's lock_timeout is unchanged.
SET lock_timeout = '5s';
VACUUM FULL accounts;
CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);
REINDEX INDEX CONCURRENTLY accounts_email_idx;
ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY;
SHOW lock_timeout;
RESET lock_timeout;

-- zdm.lock_timeout = 0 turns it off: the session's lock_timeout alone, PostgreSQL's plain error.
BEGIN;
SELECT count(*) FROM accounts;
PREPARE TRANSACTION 'lockwait_reader';
SET zdm.lock_timeout = 0;
SET lock_timeout = '20ms';
VACUUM FULL accounts;
RESET lock_timeout;

-- Rule missing-lock-timeout (strict mode) knows that zdm.lock_timeout bounds VACUUM FULL: after an
-- explicit SET lock_timeout = 0 it is a finding only while zdm.lock_timeout is 0.
SET zdm.mode = strict;
SET zdm.allow = 'vacuum-full';
SET lock_timeout = 0;
\set VERBOSITY terse
VACUUM FULL accounts;
SET zdm.lock_timeout = '50ms';
VACUUM FULL accounts;
\set VERBOSITY default
RESET lock_timeout;
RESET zdm.allow;
SET zdm.mode = off;
ROLLBACK PREPARED 'lockwait_reader';

RESET zdm.lock_timeout;
RESET zdm.lock_retries;
RESET zdm.mode;
DROP SCHEMA lockwait_no_retry CASCADE;
