-- The guard on SET LOGGED / UNLOGGED, SET TABLESPACE and SET ACCESS METHOD: each gives the table a new
-- relfilenode under ACCESS EXCLUSIVE; asking for what the table already has is a no-op.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS zdm;
RESET client_min_messages;
CREATE SCHEMA guard_storage;
SET search_path = guard_storage, public;
SET zdm.mode = warn;
\set VERBOSITY default

CREATE TABLE logs (id int, line text);
INSERT INTO logs SELECT g, 'line ' || g FROM generate_series(1, 300) g;
CREATE UNLOGGED TABLE scratch (id int);
INSERT INTO scratch SELECT generate_series(1, 300);
ANALYZE logs, scratch;
SET allow_in_place_tablespaces = true;
CREATE TABLESPACE guard_storage_ts LOCATION '';
RESET allow_in_place_tablespaces;
CREATE ACCESS METHOD heap_copy TYPE TABLE HANDLER heap_tableam_handler;

-- rewrite-set-unlogged, rewrite-set-logged
ALTER TABLE logs SET UNLOGGED;
ALTER TABLE scratch SET LOGGED;
ANALYZE logs;
-- rewrite-set-tablespace
ALTER TABLE logs SET TABLESPACE guard_storage_ts;
ANALYZE logs;
-- an index moves too; REINDEX moves it without blocking writes
CREATE INDEX CONCURRENTLY logs_line_idx ON logs (line);
ALTER INDEX logs_line_idx SET TABLESPACE guard_storage_ts;
-- rewrite-set-access-method
ALTER TABLE logs SET ACCESS METHOD heap_copy;

-- strict mode: rejected before any lock; the table keeps its storage
SET zdm.mode = strict;
\set VERBOSITY terse
ALTER TABLE logs SET LOGGED;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE logs SET TABLESPACE pg_default;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE logs SET ACCESS METHOD heap;
\echo :LAST_ERROR_SQLSTATE
SELECT relpersistence, spcname, amname FROM pg_class c
  LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace JOIN pg_am a ON a.oid = c.relam
 WHERE c.oid = 'logs'::regclass;

-- overrides
SET zdm.allow = 'rewrite-set-logged';
ALTER TABLE logs SET LOGGED;
RESET zdm.allow;
ALTER TABLE logs SET TABLESPACE pg_default -- zdm:allow rewrite-set-tablespace
;

-- must not flag (strict: any finding would be an error): nothing to change
ALTER TABLE logs SET LOGGED;
ALTER TABLE logs SET TABLESPACE pg_default;
ALTER TABLE logs SET ACCESS METHOD heap_copy;
ALTER TABLE scratch SET LOGGED;
BEGIN;
CREATE TABLE fresh (id int);
ALTER TABLE fresh SET UNLOGGED;
COMMIT;
SET zdm.mode = warn;
\set VERBOSITY default

SET zdm.mode = off;  -- clean-up is not what these tests judge
DROP SCHEMA guard_storage CASCADE;
DROP ACCESS METHOD heap_copy;
DROP TABLESPACE guard_storage_ts;
