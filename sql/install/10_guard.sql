-- The guard without preloading: this event trigger's function loads the library, which installs the
-- ProcessUtility hook for the rest of the session, and judges the statement it fires for.
CREATE FUNCTION zdm.guard_ddl_command_start() RETURNS event_trigger
  LANGUAGE C AS 'MODULE_PATHNAME', 'zdm_guard_ddl_command_start';
COMMENT ON FUNCTION zdm.guard_ddl_command_start() IS
  'zdm guard entry for sessions where the library is not preloaded';

CREATE EVENT TRIGGER zdm_guard ON ddl_command_start
  EXECUTE FUNCTION zdm.guard_ddl_command_start();

-- The guard's SQL interface (src/guard/sql_functions.cpp). analyze and lint read SQL text without
-- executing it (they take no lock beyond an at-once-or-never ACCESS SHARE for a relation's size) and
-- work whatever zdm.mode is. STRICT: NULL text gives no rows. PARALLEL UNSAFE: lint opens
-- subtransactions, and both read the session's search_path and temporary tables.
CREATE FUNCTION zdm.analyze(
    sql text,
    OUT statement_no integer,
    OUT command text,
    OUT relation text,
    OUT lock_mode text,
    OUT rewrite boolean,
    OUT scan boolean,
    OUT estimated_rows bigint,
    OUT bytes bigint)
  RETURNS SETOF record
  LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
  AS 'MODULE_PATHNAME', 'zdm_analyze';
COMMENT ON FUNCTION zdm.analyze(text) IS
  'zdm: for each statement of the text and each relation it touches, the strongest lock, whether the table is rewritten or scanned, its rows and size; executes nothing';

CREATE FUNCTION zdm.lint(
    sql text,
    OUT statement_no integer,
    OUT line integer,
    OUT rule text,
    OUT severity text,
    OUT relation text,
    OUT message text,
    OUT detail text,
    OUT hint text)
  RETURNS SETOF record
  LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
  AS 'MODULE_PATHNAME', 'zdm_lint';
COMMENT ON FUNCTION zdm.lint(text) IS
  'zdm: the guard''s findings for a whole migration file (transaction blocks, tables created earlier in the file, locks held by earlier statements); executes nothing';

CREATE FUNCTION zdm.rules(
    OUT id text,
    OUT severity text,
    OUT catches text,
    OUT safe_pattern text)
  RETURNS SETOF record
  LANGUAGE C STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'zdm_rules';
COMMENT ON FUNCTION zdm.rules() IS
  'zdm: every rule of the guard: id, severity, what it catches and the safe pattern';
