-- The guard without preloading: this event trigger's function loads the library, which installs the
-- ProcessUtility hook for the rest of the session, and judges the statement it fires for.
CREATE FUNCTION zdm.guard_ddl_command_start() RETURNS event_trigger
  LANGUAGE C AS 'MODULE_PATHNAME', 'zdm_guard_ddl_command_start';
COMMENT ON FUNCTION zdm.guard_ddl_command_start() IS
  'zdm guard entry for sessions where the library is not preloaded';

CREATE EVENT TRIGGER zdm_guard ON ddl_command_start
  EXECUTE FUNCTION zdm.guard_ddl_command_start();
