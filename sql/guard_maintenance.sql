-- The guard on maintenance statements that rewrite or lock a whole table: CLUSTER, VACUUM FULL,
-- REFRESH MATERIALIZED VIEW without CONCURRENTLY, TRUNCATE. Plain VACUUM and ANALYZE are fine.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_maintenance;
SET search_path = guard_maintenance, public;
SET zdm.mode = warn;
\set VERBOSITY default

CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric);
INSERT INTO orders SELECT g, g % 17, g FROM generate_series(1, 300) g;
CREATE TABLE order_notes (order_id int REFERENCES orders, note text);
INSERT INTO order_notes SELECT g, 'n' || g FROM generate_series(1, 300) g;
CREATE TABLE audit (id int, note text);
INSERT INTO audit SELECT g, 'n' || g FROM generate_series(1, 300) g;
CREATE MATERIALIZED VIEW totals AS SELECT customer_id, sum(total) AS total FROM orders GROUP BY customer_id;
CREATE MATERIALIZED VIEW keyed_totals AS SELECT customer_id, sum(total) AS total FROM orders GROUP BY customer_id;
CREATE UNIQUE INDEX CONCURRENTLY keyed_totals_key ON keyed_totals (customer_id);
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO events SELECT g, date '2025-06-01' + g FROM generate_series(1, 400) g;
ANALYZE orders, order_notes, audit, totals, keyed_totals, events;

-- cluster-table
CLUSTER orders USING orders_pkey;
CLUSTER orders;
-- vacuum-full
VACUUM FULL audit;
VACUUM (FULL, ANALYZE) orders;
-- refresh-matview-without-concurrently: without and with a unique index
REFRESH MATERIALIZED VIEW totals;
REFRESH MATERIALIZED VIEW keyed_totals;
-- truncate-table: one finding per table named; CASCADE also empties the tables that reference them
TRUNCATE audit, orders CASCADE;
-- a partitioned table: one finding, with its partitions' rows and size
TRUNCATE events;
INSERT INTO orders SELECT g, g % 17, g FROM generate_series(1, 300) g;
INSERT INTO audit SELECT g, 'n' || g FROM generate_series(1, 300) g;
ANALYZE orders, audit;

-- strict mode: rejected before any lock, nothing changed
SET zdm.mode = strict;
\set VERBOSITY terse
CREATE TEMP TABLE before AS SELECT relname, relfilenode FROM pg_class
 WHERE relname IN ('orders', 'audit', 'totals') AND relnamespace = 'guard_maintenance'::regnamespace;
CLUSTER orders USING orders_pkey;
\echo :LAST_ERROR_SQLSTATE
VACUUM FULL audit;
\echo :LAST_ERROR_SQLSTATE
REFRESH MATERIALIZED VIEW totals;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE audit;
\echo :LAST_ERROR_SQLSTATE
SELECT b.relname, c.relfilenode = b.relfilenode AS same_relfilenode, (SELECT count(*) FROM audit) AS audit_rows
  FROM before b JOIN pg_class c ON c.relname = b.relname AND c.relnamespace = 'guard_maintenance'::regnamespace
 ORDER BY 1;

-- overrides
SET zdm.allow = 'cluster-table, vacuum-full';
CLUSTER orders USING orders_pkey;
VACUUM FULL audit;
RESET zdm.allow;
REFRESH MATERIALIZED VIEW totals -- zdm:allow refresh-matview-without-concurrently
;
TRUNCATE audit /* zdm:allow truncate-table */;

-- must not flag (strict: any finding would be an error)
VACUUM orders;
VACUUM (ANALYZE) audit;
ANALYZE orders;
VACUUM (FULL false) orders;
REFRESH MATERIALIZED VIEW CONCURRENTLY keyed_totals;
BEGIN;
CREATE TABLE fresh (id int PRIMARY KEY, v text);
INSERT INTO fresh SELECT g, g::text FROM generate_series(1, 300) g;
CLUSTER fresh USING fresh_pkey;
TRUNCATE fresh;
CREATE MATERIALIZED VIEW fresh_view AS SELECT * FROM fresh;
REFRESH MATERIALIZED VIEW fresh_view;
COMMIT;
SET zdm.mode = warn;
\set VERBOSITY default

DROP SCHEMA guard_maintenance CASCADE;
