-- The truth test: zdm.analyze() against what PostgreSQL really does.
--
-- Each statement below runs for real on populated tables, inside a subtransaction that is rolled back,
-- while the harness watches, per relation that existed before the statement:
--   lock    the strongest lock the statement took (pg_locks, this backend, modes not held before it);
--   rewrite the relation's relfilenode changed;
--   scan    rows were read: pg_stat_xact_user_tables.seq_tup_read or idx_tup_fetch went up. (Not
--           seq_scan: rebuilding the indexes of TRUNCATE's new, empty heap counts a sequential scan
--           that reads no row; CLUSTER reads the rows through the index.)
-- zdm.analyze() of the same statement (run before it, on the same catalog) must say the same for every
-- relation: the tables the statement touches, and any index zdm.analyze names. Locks on indexes zdm
-- does not name, on catalogs and on relations the statement creates are not compared (no other
-- session can see a relation before the statement commits).
-- The output is the list of disagreements (ideally none) and the number of statements checked.
--
-- Left out, because PostgreSQL refuses to run them inside a transaction block: CREATE INDEX
-- CONCURRENTLY, DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, ALTER TABLE ... DETACH PARTITION
-- CONCURRENTLY, VACUUM (FULL). Left out by design: SELECT / INSERT / UPDATE / DELETE, which
-- zdm.analyze does not report (see README.md, "The guard from SQL").
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_truth;
CREATE SCHEMA guard_truth_other;
SET search_path = guard_truth, public;
-- The harness runs the statements with the guard off; zdm.analyze works whatever the mode.
SET zdm.mode = off;

-- The tables: a few thousand rows each, indexes, foreign keys, CHECK constraints, partitions with a
-- default partition, a materialized view, an enum and domains. autovacuum off: nothing else touches them.
CREATE TYPE mood AS ENUM ('new', 'paid', 'shipped');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN plainint AS int;

CREATE TABLE customers (
  id int PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name varchar(100),
  created_at timestamptz NOT NULL DEFAULT '2026-01-01'
) WITH (autovacuum_enabled = false);
INSERT INTO customers (id, email, name) SELECT g, 'c' || g || '@example.com', 'name ' || g FROM generate_series(1, 3000) g;
CREATE INDEX customers_name_idx ON customers (name);  -- kept or rebuilt by column type changes

CREATE TABLE orders (
  id int PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers (id),
  amount numeric CONSTRAINT amount_non_negative CHECK (amount >= 0),
  status mood NOT NULL DEFAULT 'new',
  note text,
  CONSTRAINT amount_present CHECK (amount IS NOT NULL)
) WITH (autovacuum_enabled = false);
INSERT INTO orders SELECT g, 1 + g % 3000, g % 500, 'paid', 'note ' || g FROM generate_series(1, 5000) g;
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE INDEX orders_amount_idx ON orders (amount);
ALTER TABLE orders ADD CONSTRAINT note_short CHECK (length(note) < 100) NOT VALID;

CREATE TABLE items (
  id int,
  order_id int,
  qty posint,
  price int,
  label plainint
) WITH (autovacuum_enabled = false);
INSERT INTO items SELECT g, 1 + g % 5000, 1 + g % 7, g % 90, g FROM generate_series(1, 4000) g;
CREATE UNIQUE INDEX items_id_key ON items (id);
ALTER TABLE items ADD CONSTRAINT items_order_fk FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;

CREATE TABLE events (id int NOT NULL, kind text, payload int) PARTITION BY RANGE (id);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (2000) WITH (autovacuum_enabled = false);
CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (2000) TO (4000) WITH (autovacuum_enabled = false);
CREATE TABLE events_default PARTITION OF events DEFAULT WITH (autovacuum_enabled = false);
INSERT INTO events SELECT g, 'k' || g % 5, g FROM generate_series(0, 3999) g;
INSERT INTO events SELECT g, 'late', g FROM generate_series(10000, 10099) g;
-- Tables to attach: one whose CHECK constraint proves the bound, one that must be scanned.
CREATE TABLE events_3 (id int NOT NULL, kind text, payload int) WITH (autovacuum_enabled = false);
INSERT INTO events_3 SELECT g, 'k', g FROM generate_series(4000, 4999) g;
CREATE TABLE events_4 (id int NOT NULL, kind text, payload int,
                       CONSTRAINT events_4_bound CHECK (id >= 5000 AND id < 6000)) WITH (autovacuum_enabled = false);
INSERT INTO events_4 SELECT g, 'k', g FROM generate_series(5000, 5999) g;

CREATE TABLE ledger (id int PRIMARY KEY, amount int) WITH (autovacuum_enabled = false);
INSERT INTO ledger SELECT g, g FROM generate_series(1, 2000) g;
CREATE UNLOGGED TABLE scratch (id int, body text) WITH (autovacuum_enabled = false);
INSERT INTO scratch SELECT g, repeat('x', 20) FROM generate_series(1, 2000) g;

CREATE TABLE sales (region int, amount int) WITH (autovacuum_enabled = false);
INSERT INTO sales SELECT g % 50, g FROM generate_series(1, 3000) g;
CREATE MATERIALIZED VIEW sales_totals AS SELECT region, sum(amount) AS total FROM sales GROUP BY region;
CREATE UNIQUE INDEX sales_totals_region ON sales_totals (region);
CREATE TABLE audit (id int) WITH (autovacuum_enabled = false);
CREATE FUNCTION audit_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION audit_trigger();
CREATE TABLE vehicles (id int, name text) WITH (autovacuum_enabled = false);
CREATE TABLE cars (wheels int) INHERITS (vehicles) WITH (autovacuum_enabled = false);
INSERT INTO vehicles SELECT g, 'v' || g FROM generate_series(1, 1000) g;
INSERT INTO cars SELECT g, 'car' || g, 4 FROM generate_series(1, 1000) g;
ALTER TABLE vehicles ADD CONSTRAINT name_present CHECK (name IS NOT NULL) NOT VALID;
-- A view, a policy and a rule to drop, alter and read through; a partitioned table whose default
-- partition proves by a CHECK that it holds no row of a new low bound; a domain constraint to validate.
CREATE VIEW big_sales AS SELECT * FROM sales WHERE amount > 100;
CREATE POLICY orders_own ON orders USING (true);
CREATE RULE audit_quiet AS ON UPDATE TO audit DO INSTEAD NOTHING;
CREATE TABLE metrics (id int NOT NULL, v int) PARTITION BY RANGE (id);
CREATE TABLE metrics_default PARTITION OF metrics (CONSTRAINT metrics_default_high CHECK (id >= 10000)) DEFAULT
  WITH (autovacuum_enabled = false);
INSERT INTO metrics SELECT g, g FROM generate_series(10000, 10999) g;
CREATE VIEW metric_values AS SELECT id, v FROM metrics;
ALTER DOMAIN posint ADD CONSTRAINT posint_limit CHECK (VALUE < 100000) NOT VALID;
-- A partitioned index built ON ONLY the parent, and a partition's index not yet attached to it.
CREATE TABLE readings (id int NOT NULL, v int) PARTITION BY RANGE (id);
CREATE TABLE readings_1 PARTITION OF readings FOR VALUES FROM (0) TO (1000) WITH (autovacuum_enabled = false);
INSERT INTO readings SELECT g, g FROM generate_series(0, 999) g;
CREATE INDEX readings_v_idx ON ONLY readings (v);
CREATE INDEX readings_1_v_idx ON readings_1 (v);
ANALYZE;

-- The statements, in groups. Each one must succeed on the tables above.
CREATE TABLE statements (n serial PRIMARY KEY, sql text NOT NULL);
INSERT INTO statements (sql) VALUES
  -- ADD COLUMN
  ('ALTER TABLE orders ADD COLUMN c1 int'),
  ('ALTER TABLE orders ADD COLUMN c2 int DEFAULT 0'),
  ('ALTER TABLE orders ADD COLUMN c3 int NOT NULL DEFAULT 0'),
  ('ALTER TABLE orders ADD COLUMN c4 float8 DEFAULT random()'),
  ('ALTER TABLE orders ADD COLUMN c5 timestamptz DEFAULT now()'),
  ('ALTER TABLE orders ADD COLUMN c6 bigserial'),
  ('ALTER TABLE orders ADD COLUMN c7 int GENERATED ALWAYS AS IDENTITY'),
  ('ALTER TABLE orders ADD COLUMN c8 numeric GENERATED ALWAYS AS (amount * 2) STORED'),
  ('ALTER TABLE orders ADD COLUMN c9 posint'),
  ('ALTER TABLE orders ADD COLUMN c10 plainint DEFAULT 5'),
  ('ALTER TABLE orders ADD COLUMN c11 int REFERENCES customers (id)'),
  ('ALTER TABLE orders ADD COLUMN c12 int, ADD COLUMN c13 int DEFAULT (random() * 10)::int'),
  ('ALTER TABLE events ADD COLUMN extra int'),
  ('ALTER TABLE events ADD COLUMN extra int DEFAULT random()::int'),
  ('ALTER TABLE orders ADD COLUMN c14 int CHECK (c14 > 0)'),
  ('ALTER TABLE items ADD COLUMN total int GENERATED ALWAYS AS (price * 2) STORED'),
  ('ALTER TABLE vehicles ADD COLUMN color text'),
  ('ALTER TABLE vehicles ADD COLUMN serial_no bigserial'),
  -- DROP / RENAME COLUMN, defaults, NOT NULL
  ('ALTER TABLE orders DROP COLUMN note'),
  ('ALTER TABLE orders DROP COLUMN customer_id'),
  ('ALTER TABLE ONLY vehicles ALTER COLUMN name SET DEFAULT ''x'''),
  ('ALTER TABLE items ALTER COLUMN qty SET NOT NULL'),
  ('ALTER TABLE orders RENAME COLUMN note TO remark'),
  ('ALTER TABLE orders ALTER COLUMN amount SET DEFAULT 0'),
  ('ALTER TABLE orders ALTER COLUMN status DROP DEFAULT'),
  ('ALTER TABLE orders ALTER COLUMN note SET NOT NULL'),
  ('ALTER TABLE orders ALTER COLUMN amount SET NOT NULL'),
  ('ALTER TABLE orders ALTER COLUMN status DROP NOT NULL'),
  ('ALTER TABLE events ALTER COLUMN kind SET NOT NULL'),
  ('ALTER TABLE events_1 ALTER COLUMN kind SET NOT NULL'),
  -- column types
  ('ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12,2)'),
  ('ALTER TABLE orders ALTER COLUMN note TYPE varchar(200)'),
  ('ALTER TABLE customers ALTER COLUMN name TYPE text'),
  ('ALTER TABLE customers ALTER COLUMN name TYPE varchar(200)'),
  ('ALTER TABLE customers ALTER COLUMN name TYPE varchar(50)'),
  ('ALTER TABLE orders ALTER COLUMN id TYPE bigint'),
  ('ALTER TABLE customers ALTER COLUMN id TYPE bigint'),
  ('ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint'),
  ('ALTER TABLE orders ALTER COLUMN status TYPE text USING status::text'),
  ('ALTER TABLE orders ALTER COLUMN amount TYPE numeric USING amount + 0'),
  ('ALTER TABLE items ALTER COLUMN qty TYPE int'),
  ('ALTER TABLE items ALTER COLUMN price TYPE posint USING price + 1'),
  ('ALTER TABLE items ALTER COLUMN label TYPE int'),
  ('ALTER TABLE items ALTER COLUMN price TYPE bigint'),
  ('ALTER TABLE events ALTER COLUMN payload TYPE bigint'),
  ('ALTER TABLE ledger ALTER COLUMN amount TYPE int'),
  ('ALTER TABLE orders ALTER COLUMN note TYPE text'),
  ('ALTER TABLE customers ALTER COLUMN email TYPE text COLLATE "C"'),
  ('ALTER TABLE customers ALTER COLUMN email TYPE varchar(300)'),
  ('ALTER TABLE vehicles ALTER COLUMN name TYPE varchar(50)'),
  -- an index attached to a partitioned index: catalog only
  ('ALTER INDEX readings_v_idx ATTACH PARTITION readings_1_v_idx'),
  -- a CHECK dropped by the same statement is not re-validated; the one kept is
  ('ALTER TABLE orders DROP CONSTRAINT amount_non_negative, ALTER COLUMN amount TYPE numeric, ADD CONSTRAINT amount_non_negative CHECK (amount >= 0) NOT VALID'),
  ('ALTER TABLE orders DROP CONSTRAINT amount_non_negative, DROP CONSTRAINT amount_present, ALTER COLUMN amount TYPE numeric, ADD CONSTRAINT amount_non_negative CHECK (amount >= 0) NOT VALID'),
  -- constraints
  ('ALTER TABLE orders ADD CONSTRAINT amount_small CHECK (amount < 1000)'),
  ('ALTER TABLE orders ADD CONSTRAINT amount_small CHECK (amount < 1000) NOT VALID'),
  ('ALTER TABLE orders VALIDATE CONSTRAINT note_short'),
  ('ALTER TABLE orders VALIDATE CONSTRAINT amount_non_negative'),
  ('ALTER TABLE items ADD CONSTRAINT items_order_fk2 FOREIGN KEY (order_id) REFERENCES orders (id)'),
  ('ALTER TABLE items ADD CONSTRAINT items_order_fk2 FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID'),
  ('ALTER TABLE items VALIDATE CONSTRAINT items_order_fk'),
  ('ALTER TABLE items ADD PRIMARY KEY (id)'),
  ('ALTER TABLE items ADD CONSTRAINT items_id_unique UNIQUE USING INDEX items_id_key'),
  ('ALTER TABLE orders ADD CONSTRAINT orders_id_note UNIQUE (id, note)'),
  ('ALTER TABLE orders ADD CONSTRAINT orders_no_twins EXCLUDE USING btree (id WITH =)'),
  ('ALTER TABLE orders DROP CONSTRAINT amount_non_negative'),
  ('ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey'),
  ('ALTER TABLE orders RENAME CONSTRAINT note_short TO note_brief'),
  ('ALTER TABLE events ADD CONSTRAINT events_id_positive CHECK (id >= 0)'),
  ('ALTER TABLE events ADD CONSTRAINT events_id_positive CHECK (id >= 0) NOT VALID'),
  ('ALTER TABLE vehicles VALIDATE CONSTRAINT name_present'),
  ('ALTER TABLE vehicles ADD CONSTRAINT name_length CHECK (length(name) < 60)'),
  ('ALTER TABLE customers ADD CONSTRAINT email_once UNIQUE (email) DEFERRABLE'),
  -- partitions
  ('ALTER TABLE events ATTACH PARTITION events_3 FOR VALUES FROM (4000) TO (5000)'),
  ('ALTER TABLE events ATTACH PARTITION events_4 FOR VALUES FROM (5000) TO (6000)'),
  ('ALTER TABLE events DETACH PARTITION events_2'),
  ('ALTER TABLE events DETACH PARTITION events_default'),
  ('CREATE TABLE events_5 PARTITION OF events FOR VALUES FROM (6000) TO (7000)'),
  -- storage and other table options
  ('ALTER TABLE orders SET (fillfactor = 70)'),
  ('ALTER TABLE orders ALTER COLUMN note SET STATISTICS 500'),
  ('ALTER TABLE orders ALTER COLUMN note SET STORAGE EXTERNAL'),
  ('ALTER TABLE orders ALTER COLUMN note SET COMPRESSION pglz'),
  ('ALTER TABLE orders CLUSTER ON orders_pkey'),
  ('ALTER TABLE orders SET WITHOUT CLUSTER'),
  ('ALTER TABLE orders DISABLE TRIGGER orders_audit'),
  ('ALTER TABLE orders REPLICA IDENTITY FULL'),
  ('ALTER TABLE orders ENABLE ROW LEVEL SECURITY'),
  ('ALTER TABLE orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY'),
  ('ALTER TABLE ledger SET UNLOGGED'),
  ('ALTER TABLE scratch SET LOGGED'),
  ('ALTER TABLE ledger SET TABLESPACE pg_default'),
  ('ALTER TABLE ledger SET ACCESS METHOD heap'),
  ('ALTER TABLE ledger OWNER TO CURRENT_USER'),
  ('ALTER TABLE ledger RENAME TO ledger_old'),
  ('ALTER TABLE ledger SET SCHEMA guard_truth_other'),
  -- indexes
  ('CREATE INDEX ON orders (status)'),
  ('CREATE UNIQUE INDEX ON customers (email, id)'),
  ('CREATE INDEX ON orders (note) WHERE amount > 100'),
  ('CREATE INDEX ON events (kind)'),
  ('DROP INDEX orders_amount_idx'),
  ('ALTER INDEX orders_amount_idx RENAME TO orders_amount_index'),
  ('ALTER INDEX orders_amount_idx SET (fillfactor = 80)'),
  ('REINDEX INDEX orders_customer_idx'),
  ('REINDEX TABLE orders'),
  ('CLUSTER orders USING orders_pkey'),
  ('CLUSTER ledger USING ledger_pkey'),
  -- whole tables
  ('TRUNCATE items'),
  ('TRUNCATE customers CASCADE'),
  ('DROP TABLE items'),
  ('DROP TABLE orders CASCADE'),
  ('DROP MATERIALIZED VIEW sales_totals'),
  ('DROP TABLE events'),
  ('DROP TABLE events_1'),
  ('DROP TABLE vehicles CASCADE'),
  ('ALTER TABLE events_1 RENAME TO events_one'),
  ('ALTER MATERIALIZED VIEW sales_totals RENAME TO sales_sum'),
  ('ALTER TABLE sales SET (autovacuum_enabled = true)'),
  ('REFRESH MATERIALIZED VIEW sales_totals'),
  ('REFRESH MATERIALIZED VIEW CONCURRENTLY sales_totals'),
  ('ANALYZE orders'),
  ('LOCK TABLE orders IN SHARE MODE'),
  ('LOCK TABLE events'),
  ('LOCK TABLE ONLY events IN ACCESS SHARE MODE'),
  -- other DDL on existing tables
  ('CREATE TABLE invoices (id int PRIMARY KEY, order_id int REFERENCES orders (id))'),
  ('CREATE TRIGGER items_audit AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION audit_trigger()'),
  ('DROP TRIGGER orders_audit ON orders'),
  ('CREATE POLICY own_orders ON orders USING (customer_id = 1)'),
  ('CREATE STATISTICS orders_stats ON customer_id, amount FROM orders'),
  ('COMMENT ON TABLE orders IS ''orders of customers'''),
  ('CREATE TABLE orders_copy AS SELECT * FROM orders'),
  ('CREATE MATERIALIZED VIEW sales_by_amount AS SELECT amount, count(*) FROM sales GROUP BY amount'),
  ('CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 400'),
  ('CREATE RULE audit_nothing AS ON INSERT TO audit DO INSTEAD NOTHING'),
  ('GRANT SELECT ON orders TO PUBLIC'),
  ('ALTER TABLE orders ALTER CONSTRAINT orders_customer_id_fkey DEFERRABLE'),
  ('ALTER TABLE orders ALTER COLUMN amount SET (n_distinct = 10)'),
  ('ALTER TABLE orders FORCE ROW LEVEL SECURITY'),
  ('ALTER TABLE cars NO INHERIT vehicles'),
  -- new tables that lock existing ones: parents, default partitions, referenced and LIKE tables
  ('CREATE TABLE metrics_1 PARTITION OF metrics FOR VALUES FROM (0) TO (1000)'),
  ('CREATE TABLE vans (doors int) INHERITS (vehicles)'),
  ('CREATE TABLE orders_like (LIKE orders INCLUDING ALL)'),
  ('CREATE TABLE ledger_refs (id int, ledger_id int, FOREIGN KEY (ledger_id) REFERENCES ledger)'),
  -- triggers, policies, rules, comments
  ('CREATE TRIGGER events_audit AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION audit_trigger()'),
  ('CREATE TRIGGER orders_stmt AFTER UPDATE ON orders FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger()'),
  ('ALTER POLICY orders_own ON orders USING (amount > 0)'),
  ('DROP POLICY orders_own ON orders'),
  ('DROP RULE audit_quiet ON audit'),
  ('COMMENT ON COLUMN orders.note IS ''free text'''),
  ('COMMENT ON INDEX orders_amount_idx IS ''by amount'''),
  ('COMMENT ON TRIGGER orders_audit ON orders IS ''audit'''),
  -- queries stored or run: views followed, CTE names are not tables, children are read
  ('CREATE OR REPLACE VIEW big_sales AS SELECT * FROM sales WHERE amount > 200'),
  ('CREATE TABLE sales_copy AS SELECT * FROM big_sales'),
  ('CREATE TABLE orders_empty AS SELECT * FROM orders WITH NO DATA'),
  ('CREATE TABLE vehicle_copy AS SELECT * FROM vehicles'),
  ('CREATE TABLE cte_copy AS WITH orders AS (SELECT 1 AS id) SELECT * FROM orders'),
  -- LOCK
  ('LOCK TABLE big_sales IN SHARE MODE'),
  ('LOCK TABLE metric_values IN ROW EXCLUSIVE MODE'),
  ('CREATE TABLE metric_copy AS SELECT * FROM metric_values'),
  ('CREATE MATERIALIZED VIEW event_counts AS SELECT kind, count(*) FROM ONLY events_1 GROUP BY kind'),
  ('LOCK TABLE vehicles IN EXCLUSIVE MODE'),
  -- ALTER DOMAIN: every table with a column of the domain, read under SHARE
  ('ALTER DOMAIN posint ADD CONSTRAINT posint_small CHECK (VALUE < 1000)'),
  ('ALTER DOMAIN posint ADD CONSTRAINT posint_small CHECK (VALUE < 1000) NOT VALID'),
  ('ALTER DOMAIN posint VALIDATE CONSTRAINT posint_limit'),
  ('ALTER DOMAIN plainint SET NOT NULL'),
  ('ALTER DOMAIN plainint DROP NOT NULL'),
  ('ALTER TYPE mood ADD VALUE ''cancelled''');

-- Runs one statement in a subtransaction that is rolled back, and returns what it did to every
-- relation of the two schemas that existed before it.
CREATE FUNCTION observe(stmt text)
RETURNS TABLE (relid oid, kind "char", lock_mode text, rewrite boolean, scan boolean, error text)
LANGUAGE plpgsql AS $fn$
DECLARE
  modes CONSTANT text[] := ARRAY['AccessShareLock', 'RowShareLock', 'RowExclusiveLock',
    'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'];
  rels jsonb;          -- oid -> {kind, file} before the statement
  scans_before jsonb;  -- oid -> rows read before the statement
  locks_before text[];
  seen jsonb;
BEGIN
  BEGIN
    SELECT jsonb_object_agg(c.oid::text, jsonb_build_object('kind', c.relkind, 'file', c.relfilenode))
      INTO rels
      FROM pg_class c
     WHERE c.relnamespace IN ('guard_truth'::regnamespace, 'guard_truth_other'::regnamespace)
       AND c.relname <> 'statements' AND c.relname NOT LIKE 'statements_%';
    SELECT coalesce(jsonb_object_agg(s.relid::text, s.seq_tup_read + coalesce(s.idx_tup_fetch, 0)), '{}')
      INTO scans_before
      FROM pg_stat_xact_user_tables s WHERE rels ? s.relid::text;
    SELECT coalesce(array_agg(l.relation::text || '/' || l.mode), '{}') INTO locks_before
      FROM pg_locks l
     WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted;

    EXECUTE stmt;

    SELECT coalesce(jsonb_agg(jsonb_build_object('relid', r.key::oid, 'kind', r.value->>'kind',
                                                 'lock', lk.mode, 'rewrite', coalesce(c.relfilenode <> (r.value->>'file')::oid, false),
                                                 'scan', coalesce(s.seq_tup_read + coalesce(s.idx_tup_fetch, 0) > (scans_before->>r.key)::bigint, false))), '[]')
      INTO seen
      FROM jsonb_each(rels) r
      LEFT JOIN pg_class c ON c.oid = r.key::oid
      LEFT JOIN pg_stat_xact_user_tables s ON s.relid = r.key::oid
      LEFT JOIN LATERAL (
        SELECT modes[max(array_position(modes, l.mode))] AS mode
          FROM pg_locks l
         WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
           AND l.relation = r.key::oid
           AND NOT (l.relation::text || '/' || l.mode = ANY (locks_before))) lk ON true;
    RAISE SQLSTATE 'ZT001';  -- roll the statement back
  EXCEPTION
    WHEN SQLSTATE 'ZT001' THEN NULL;
    WHEN OTHERS THEN
      RETURN QUERY SELECT NULL::oid, NULL::"char", NULL::text, NULL::boolean, NULL::boolean, SQLERRM;
      RETURN;
  END;
  RETURN QUERY
    SELECT (e->>'relid')::oid, (e->>'kind')::"char", e->>'lock', (e->>'rewrite')::boolean, (e->>'scan')::boolean, NULL::text
      FROM jsonb_array_elements(seen) e;
END
$fn$;

-- Compares zdm.analyze() with observe() for one statement. Relation names are turned into OIDs before
-- the statement runs (a DROP or RENAME would change what they resolve to).
CREATE FUNCTION disagreements(stmt text)
RETURNS TABLE (relation text, pg_lock text, zdm_lock text, pg_rewrite boolean, zdm_rewrite boolean,
               pg_scan boolean, zdm_scan boolean, error text)
LANGUAGE plpgsql AS $fn$
DECLARE
  predicted jsonb;
  names jsonb;
BEGIN
  BEGIN
    SELECT coalesce(jsonb_agg(jsonb_build_object('relid', to_regclass(a.relation)::oid, 'name', a.relation,
                                                 'lock', a.lock_mode, 'rewrite', a.rewrite, 'scan', a.scan)), '[]')
      INTO predicted
      FROM zdm.analyze(stmt) a;
  EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT NULL::text, NULL::text, NULL::text, NULL::boolean, NULL::boolean, NULL::boolean,
                        NULL::boolean, 'zdm.analyze: ' || SQLERRM;
    RETURN;
  END;
  SELECT coalesce(jsonb_object_agg(c.oid::text, c.oid::regclass::text), '{}') INTO names
    FROM pg_class c WHERE c.relnamespace IN ('guard_truth'::regnamespace, 'guard_truth_other'::regnamespace);
  RETURN QUERY
    WITH z AS (
      SELECT (e->>'relid')::oid AS relid, e->>'name' AS name, e->>'lock' AS lock_mode,
             (e->>'rewrite')::boolean AS rewrite, (e->>'scan')::boolean AS scan
        FROM jsonb_array_elements(predicted) e
       WHERE e->>'relid' IS NOT NULL  -- a relation the statement creates
    ), o AS (
      SELECT * FROM observe(stmt)
    ), err AS (
      SELECT o.error FROM o WHERE o.error IS NOT NULL
    )
    SELECT NULL::text, NULL::text, NULL::text, NULL::boolean, NULL::boolean, NULL::boolean, NULL::boolean,
           'statement failed: ' || err.error
      FROM err
    UNION ALL
    SELECT coalesce(names->>o.relid::text, z.name), o.lock_mode, z.lock_mode, coalesce(o.rewrite, false),
           z.rewrite, coalesce(o.scan, false), z.scan, NULL::text
      FROM (SELECT * FROM o WHERE o.error IS NULL
               AND (o.kind IN ('r', 'p', 'm', 'f') OR o.relid IN (SELECT z.relid FROM z))) o
      FULL JOIN z ON z.relid = o.relid
     WHERE NOT EXISTS (SELECT FROM err)
       AND (o.lock_mode IS DISTINCT FROM z.lock_mode
            OR coalesce(o.rewrite, false) IS DISTINCT FROM coalesce(z.rewrite, false)
            OR coalesce(o.scan, false) IS DISTINCT FROM coalesce(z.scan, false));
END
$fn$;

-- Every disagreement between PostgreSQL and zdm.analyze(): this table should stay empty.
SET client_min_messages = warning;  -- the statements' own NOTICEs (truncate cascades to ...)
SELECT s.n, s.sql, d.relation, d.pg_lock, d.zdm_lock, d.pg_rewrite, d.zdm_rewrite, d.pg_scan, d.zdm_scan, d.error
  FROM statements s, LATERAL disagreements(s.sql) d
 ORDER BY s.n, d.relation;

RESET client_min_messages;
SELECT count(*) AS statements_checked FROM statements;

RESET zdm.mode;
DROP SCHEMA guard_truth CASCADE;
DROP SCHEMA guard_truth_other CASCADE;
