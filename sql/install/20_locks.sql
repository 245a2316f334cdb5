-- Lock reports (src/locks/): who blocks whom, the root of it, what to do; and a preview of a statement's
-- locks before it queues. None is SECURITY DEFINER: the lock table needs no privilege (as pg_locks),
-- and activity follows pg_stat_activity's rules for the caller (other roles' query text and state are
-- shown only to superusers, the same role and members of pg_read_all_stats / pg_monitor).
CREATE FUNCTION zdm.lock_report(
    OUT pid integer,
    OUT usename text,
    OUT application_name text,
    OUT client text,
    OUT wait_started timestamptz,
    OUT wait_duration interval,
    OUT lock_mode text,
    OUT locktype text,
    OUT lock_object text,
    OUT query text,
    OUT hard_blockers integer[],
    OUT soft_blockers integer[],
    OUT root_pid integer,
    OUT root_gid text,
    OUT depth integer,
    OUT root_state text,
    OUT root_xact_age interval,
    OUT root_state_age interval,
    OUT root_query text,
    OUT sessions_behind integer,
    OUT cycle integer[],
    OUT suggested_action text)
  RETURNS SETOF record
  LANGUAGE C VOLATILE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'zdm_lock_report';
COMMENT ON FUNCTION zdm.lock_report() IS
  'zdm: one row per waiting session: the lock it waits for, its hard and soft blockers, the root of its chain and a suggested action (advice only)';

CREATE FUNCTION zdm.lock_tree(with_times boolean DEFAULT true)
  RETURNS SETOF text
  LANGUAGE C VOLATILE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'zdm_lock_tree';
COMMENT ON FUNCTION zdm.lock_tree(boolean) IS
  'zdm: the lock waits as an indented tree, root first, with the number of sessions behind each node';

CREATE FUNCTION zdm.lock_preview(
    sql text,
    OUT relation text,
    OUT lock_mode text,
    OUT verdict text,
    OUT blocked_by integer[],
    OUT blocked_by_detail text,
    OUT would_queue text[],
    OUT suggested_lock_timeout text)
  RETURNS SETOF record
  LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'zdm_lock_preview';
COMMENT ON FUNCTION zdm.lock_preview(text) IS
  'zdm: for a statement not yet run, the sessions whose locks it would wait for, the lock modes that would queue behind it, a verdict and a suggested lock_timeout; takes no lock';
