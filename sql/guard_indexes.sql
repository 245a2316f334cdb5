-- The guard on index builds: CREATE INDEX and REINDEX without CONCURRENTLY block writes (REINDEX also
-- reads, through the ACCESS EXCLUSIVE lock on each index); CONCURRENTLY inside a transaction block is
-- rejected by PostgreSQL anyway.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_indexes;
SET search_path = guard_indexes, public;
SET zdm.mode = warn;
\set VERBOSITY default

CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric);
INSERT INTO orders SELECT g, g % 17, g FROM generate_series(1, 300) g;
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO events SELECT g, date '2025-06-01' + g FROM generate_series(1, 400) g;
ANALYZE orders, events;

-- index-without-concurrently: the hint is the user's own statement with CONCURRENTLY
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE UNIQUE INDEX IF NOT EXISTS orders_total_key
  ON orders USING btree (total DESC) WHERE total > 0; -- a comment
CREATE INDEX ON orders (lower(total::text));
-- a partitioned table: PostgreSQL 15 cannot build it concurrently, so the hint goes per partition
CREATE INDEX events_at_idx ON events (at);
-- ... and the hint's first step, ON ONLY the partitioned table, builds nothing (an INVALID index in
-- the catalog): not flagged. ON ONLY a plain table still builds the index: flagged.
CREATE INDEX events_id_idx ON ONLY events (id);
SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_id_idx'::regclass;
CREATE INDEX orders_id_total_idx ON ONLY orders (id, total);
DROP INDEX events_id_idx, orders_id_total_idx;
-- reindex-without-concurrently
REINDEX INDEX orders_customer_idx;
REINDEX TABLE orders;
-- concurrently-in-transaction (PostgreSQL then rejects the statement itself)
BEGIN;
CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);
ROLLBACK;
BEGIN;
REINDEX INDEX CONCURRENTLY orders_pkey;
ROLLBACK;

-- strict mode: rejected before any lock, nothing built
SET zdm.mode = strict;
\set VERBOSITY terse
CREATE INDEX orders_id_total_idx ON orders (id, total);
\echo :LAST_ERROR_SQLSTATE
REINDEX TABLE orders;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) AS indexes FROM pg_index WHERE indrelid = 'orders'::regclass;

-- overrides
SET zdm.allow = 'index-without-concurrently';
CREATE INDEX orders_id_total_idx ON orders (id, total);
RESET zdm.allow;
REINDEX INDEX orders_id_total_idx -- zdm:allow reindex-without-concurrently
;
BEGIN;
CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total) /* zdm:allow concurrently-in-transaction */;
ROLLBACK;

-- must not flag (strict: any finding would be an error)
CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);
REINDEX INDEX CONCURRENTLY orders_total_idx;
REINDEX TABLE CONCURRENTLY orders;
DROP INDEX orders_total_idx;
DROP INDEX CONCURRENTLY orders_id_total_idx;
BEGIN;
CREATE TABLE fresh (id int, v text);
INSERT INTO fresh SELECT g, g::text FROM generate_series(1, 300) g;
CREATE INDEX fresh_v_idx ON fresh (v);
REINDEX TABLE fresh;
COMMIT;
SET zdm.mode = warn;
\set VERBOSITY default

DROP SCHEMA guard_indexes CASCADE;
