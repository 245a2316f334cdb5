-- zdm install script. Assembled from sql/install/*.sql (one fragment per room) at build time.
\echo Use "CREATE EXTENSION zdm" to load this file. \quit

-- The schema "zdm" is created by CREATE EXTENSION (zdm.control: schema = zdm).
COMMENT ON SCHEMA zdm IS 'zdm: zero-downtime migrations (guard, lock-safe DDL, backfills, lock reports)';
REVOKE ALL ON SCHEMA zdm FROM PUBLIC;
GRANT USAGE ON SCHEMA zdm TO PUBLIC;
