-- The guard on constraints: SET NOT NULL, CHECK / FOREIGN KEY without NOT VALID, UNIQUE / PRIMARY KEY
-- that build their index under the lock, ATTACH PARTITION (and CREATE TABLE ... PARTITION OF) without
-- a CHECK that proves the bound, and domain constraints checked against every table using them.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_constraints;
SET search_path = guard_constraints, public;
SET zdm.mode = warn;
\set VERBOSITY default

CREATE TABLE users (id int PRIMARY KEY);
INSERT INTO users SELECT g FROM generate_series(1, 300) g;
CREATE TABLE posts (id int, user_id int, title text, body text, score int);
INSERT INTO posts SELECT g, g, 't' || g, 'b' || g, g FROM generate_series(1, 300) g;
ANALYZE users, posts;

-- set-not-null-without-check
ALTER TABLE posts ALTER COLUMN title SET NOT NULL;
-- constraint-without-not-valid: CHECK, then FOREIGN KEY (which also locks users)
ALTER TABLE posts ADD CONSTRAINT score_positive CHECK (score > 0);
ALTER TABLE posts ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
-- constraint-builds-index: PRIMARY KEY over a nullable column, then UNIQUE
ALTER TABLE posts ADD PRIMARY KEY (id);
ALTER TABLE posts ADD CONSTRAINT posts_body_key UNIQUE (body);
-- the hint keeps the constraint's options (INCLUDE, NULLS NOT DISTINCT, DEFERRABLE)
ALTER TABLE posts ADD CONSTRAINT posts_title_key UNIQUE NULLS NOT DISTINCT (title) INCLUDE (score) DEFERRABLE;
-- primary-key-nullable-columns: the index exists, but SET NOT NULL still scans
CREATE TABLE tags (id int, name text);
INSERT INTO tags SELECT g, 'tag' || g FROM generate_series(1, 300) g;
CREATE UNIQUE INDEX CONCURRENTLY tags_id_idx ON tags (id);
ANALYZE tags;
ALTER TABLE tags ADD CONSTRAINT tags_pkey PRIMARY KEY USING INDEX tags_id_idx;
-- one statement, several findings: one per subcommand, each reporting the statement's strongest lock
-- (the foreign key alone would take SHARE ROW EXCLUSIVE)
\set VERBOSITY terse
ALTER TABLE posts ADD CONSTRAINT posts_user_fkey FOREIGN KEY (user_id) REFERENCES users (id),
                  ALTER COLUMN body SET NOT NULL;
\set VERBOSITY default
ALTER TABLE posts ADD CONSTRAINT posts_user_fkey2 FOREIGN KEY (user_id) REFERENCES users (id),
                  ADD CONSTRAINT posts_score_small CHECK (score < 1000) NOT VALID,
                  ALTER COLUMN score SET NOT NULL -- zdm:allow set-not-null-without-check
;
\set VERBOSITY terse

-- strict mode: rejected before any lock; nothing changed
SET zdm.mode = strict;
ALTER TABLE tags ALTER COLUMN name SET NOT NULL;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE tags ADD CONSTRAINT name_short CHECK (length(name) < 100);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE tags ADD CONSTRAINT tags_name_key UNIQUE (name);
\echo :LAST_ERROR_SQLSTATE
SELECT conname FROM pg_constraint WHERE conrelid = 'tags'::regclass ORDER BY 1;
SELECT attnotnull FROM pg_attribute WHERE attrelid = 'tags'::regclass AND attname = 'name';

-- overrides
SET zdm.allow = 'constraint-without-not-valid';
ALTER TABLE tags ADD CONSTRAINT name_short CHECK (length(name) < 100);
RESET zdm.allow;
ALTER TABLE tags ADD CONSTRAINT tags_name_key UNIQUE (name) -- zdm:allow constraint-builds-index
;

-- must not flag (strict: any finding would be an error)
ALTER TABLE tags ADD CONSTRAINT name_not_null CHECK (name IS NOT NULL) NOT VALID;
ALTER TABLE tags VALIDATE CONSTRAINT name_not_null;
ALTER TABLE tags ALTER COLUMN name SET NOT NULL;          -- proven by the valid CHECK: no scan
ALTER TABLE tags DROP CONSTRAINT name_not_null;
ALTER TABLE tags ALTER COLUMN name DROP NOT NULL;
ALTER TABLE tags ALTER COLUMN id SET NOT NULL;            -- already NOT NULL (primary key)
ALTER TABLE tags ADD COLUMN owner int REFERENCES users (id);
ALTER TABLE tags ADD CONSTRAINT tags_owner_fkey2 FOREIGN KEY (owner) REFERENCES users (id) NOT VALID;
ALTER TABLE tags VALIDATE CONSTRAINT tags_owner_fkey2;
CREATE UNIQUE INDEX CONCURRENTLY tags_name_idx ON tags (name);
ALTER TABLE tags ADD CONSTRAINT tags_name_uniq UNIQUE USING INDEX tags_name_idx;
ALTER TABLE tags ADD CONSTRAINT tags_short CHECK (length(name) < 50) NOT VALID;
ALTER TABLE tags VALIDATE CONSTRAINT tags_short;
SET zdm.mode = warn;
\set VERBOSITY default

-- attach-partition-scan: the partition and the default partition are both scanned
CREATE TABLE events (id int, kind text) PARTITION BY RANGE (id);
CREATE TABLE events_other PARTITION OF events DEFAULT;
INSERT INTO events SELECT g, 'old' FROM generate_series(1000, 1099) g;
CREATE TABLE events_1 (id int, kind text);
INSERT INTO events_1 SELECT g, 'new' FROM generate_series(1, 99) g;
ANALYZE events_other, events_1;
ALTER TABLE events ATTACH PARTITION events_1 FOR VALUES FROM (1) TO (100);
-- strict: rejected, not attached
SET zdm.mode = strict;
\set VERBOSITY terse
CREATE TABLE events_2 (id int, kind text);
INSERT INTO events_2 SELECT g, 'new' FROM generate_series(100, 199) g;
ALTER TABLE events ATTACH PARTITION events_2 FOR VALUES FROM (100) TO (200);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS partitions FROM pg_inherits WHERE inhparent = 'events'::regclass;
ALTER TABLE events ATTACH PARTITION events_2 FOR VALUES FROM (100) TO (200) -- zdm:allow attach-partition-scan
;
-- with CHECK constraints that prove the bounds nothing is scanned: not flagged
CREATE TABLE events_3 (id int NOT NULL, kind text, CONSTRAINT events_3_bound CHECK (id >= 200 AND id < 300));
INSERT INTO events_3 SELECT g, 'new' FROM generate_series(200, 299) g;
ALTER TABLE events_other ADD CONSTRAINT events_other_bound CHECK (id IS NULL OR id < 200 OR id >= 300) NOT VALID;
ALTER TABLE events_other VALIDATE CONSTRAINT events_other_bound;
ALTER TABLE events ATTACH PARTITION events_3 FOR VALUES FROM (200) TO (300);
SET zdm.mode = warn;
\set VERBOSITY default

-- attaching a partitioned table: each of its partitions not proven by its own CHECK is scanned
\set VERBOSITY terse
CREATE TABLE events_4 (id int, kind text) PARTITION BY LIST (kind);
CREATE TABLE events_4a PARTITION OF events_4 FOR VALUES IN ('a');
CREATE TABLE events_4b PARTITION OF events_4 FOR VALUES IN ('b');
INSERT INTO events_4 SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END FROM generate_series(300, 399) g;
ALTER TABLE events_4a ADD CONSTRAINT events_4a_bound CHECK (id IS NOT NULL AND id >= 300 AND id < 400) NOT VALID;
ALTER TABLE events_4a VALIDATE CONSTRAINT events_4a_bound;
ALTER TABLE events_other ADD CONSTRAINT events_other_bound2 CHECK (id IS NULL OR id < 300 OR id >= 400) NOT VALID;
ALTER TABLE events_other VALIDATE CONSTRAINT events_other_bound2;
SET zdm.mode = strict;
ALTER TABLE events ATTACH PARTITION events_4 FOR VALUES FROM (300) TO (400);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE events_4b ADD CONSTRAINT events_4b_bound CHECK (id IS NOT NULL AND id >= 300 AND id < 400) NOT VALID;
ALTER TABLE events_4b VALIDATE CONSTRAINT events_4b_bound;
ALTER TABLE events ATTACH PARTITION events_4 FOR VALUES FROM (300) TO (400);   -- all proven: no scan
SET zdm.mode = warn;
\set VERBOSITY default

-- the parent's indexes must exist on the partition, or ATTACH builds them under the lock
SET zdm.mode = off;   -- set-up: an index on a partitioned table cannot be built CONCURRENTLY
CREATE TABLE metrics (id int, v int) PARTITION BY RANGE (id);
CREATE INDEX metrics_v_idx ON metrics (v);
SET zdm.mode = warn;
CREATE TABLE metrics_1 (id int NOT NULL, v int, CONSTRAINT metrics_1_bound CHECK (id >= 0 AND id < 100));
INSERT INTO metrics_1 SELECT g, g FROM generate_series(0, 99) g;
ANALYZE metrics_1;
SET zdm.mode = strict;
ALTER TABLE metrics ATTACH PARTITION metrics_1 FOR VALUES FROM (0) TO (100);
\echo :LAST_ERROR_SQLSTATE
CREATE INDEX CONCURRENTLY ON metrics_1 USING btree (v);
ALTER TABLE metrics ATTACH PARTITION metrics_1 FOR VALUES FROM (0) TO (100);   -- index attached: nothing built
SET zdm.mode = warn;

-- SET NOT NULL on a partitioned table scans each partition not proven by its own valid CHECK
\set VERBOSITY terse
ALTER TABLE events_1 ADD CONSTRAINT events_1_kind CHECK (kind IS NOT NULL) NOT VALID;
ALTER TABLE events_1 VALIDATE CONSTRAINT events_1_kind;
ALTER TABLE events ALTER COLUMN kind SET NOT NULL;
ALTER TABLE events ALTER COLUMN kind DROP NOT NULL;
ALTER TABLE events ADD CONSTRAINT events_kind CHECK (kind IS NOT NULL) NOT VALID;
ALTER TABLE events VALIDATE CONSTRAINT events_kind;
SET zdm.mode = strict;
ALTER TABLE events ALTER COLUMN kind SET NOT NULL;                -- every partition proven: no scan
ALTER TABLE events ADD CONSTRAINT events_id_positive CHECK (id > 0);
\echo :LAST_ERROR_SQLSTATE
SET zdm.mode = warn;
\set VERBOSITY default

-- CREATE TABLE ... PARTITION OF checks the default partition as ATTACH does (attach-partition-scan);
-- events_other's CHECKs prove nothing about 500..599, so it is scanned.
CREATE TABLE events_5 PARTITION OF events FOR VALUES FROM (500) TO (600);
SET zdm.mode = strict;
\set VERBOSITY terse
CREATE TABLE events_6 PARTITION OF events FOR VALUES FROM (600) TO (700);
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('events_6') IS NULL AS not_created;
-- once a validated CHECK on the default partition proves the bound, nothing is scanned
ALTER TABLE events_other ADD CONSTRAINT events_other_bound3 CHECK (id IS NULL OR id < 600 OR id >= 700) NOT VALID;
ALTER TABLE events_other VALIDATE CONSTRAINT events_other_bound3;
CREATE TABLE events_6 PARTITION OF events FOR VALUES FROM (600) TO (700);
SET zdm.mode = warn;
\set VERBOSITY default

-- domain-constraint-scan: a domain's new CHECK or NOT NULL is checked against every column using it,
-- under SHARE on each table (blocks writes); NOT VALID checks new rows only and reads nothing.
CREATE DOMAIN quantity AS int;
CREATE TABLE stock (id int, qty quantity);
CREATE TABLE returns (id int, qty quantity);
INSERT INTO stock SELECT g, g FROM generate_series(1, 200) g;
INSERT INTO returns SELECT g, g FROM generate_series(1, 50) g;
ANALYZE stock, returns;
ALTER DOMAIN quantity ADD CONSTRAINT quantity_positive CHECK (VALUE > 0);
ALTER DOMAIN quantity SET NOT NULL;
SET zdm.mode = strict;
ALTER DOMAIN quantity ADD CONSTRAINT quantity_small CHECK (VALUE < 100000);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
ALTER DOMAIN quantity ADD CONSTRAINT quantity_small CHECK (VALUE < 100000) NOT VALID;  -- not flagged
ALTER DOMAIN quantity VALIDATE CONSTRAINT quantity_small;
\echo :LAST_ERROR_SQLSTATE
ALTER DOMAIN quantity DROP NOT NULL;                                                -- not flagged
SELECT conname, convalidated FROM pg_constraint WHERE contypid = 'quantity'::regtype ORDER BY conname;
SET zdm.mode = warn;
\set VERBOSITY default

SET zdm.mode = off;  -- clean-up is not what these tests judge
DROP SCHEMA guard_constraints CASCADE;
