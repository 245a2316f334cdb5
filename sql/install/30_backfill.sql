-- Batched backfills (src/backfill/): CALL zdm.backfill(...) in the calling session, or
-- zdm.backfill_start(...) in a background worker running as the calling role. One row per job in
-- zdm.backfill_jobs, written in the same transaction as each batch, so a job resumes exactly where it
-- stopped. Row-level security keeps each role to its own jobs (superusers and members of
-- pg_signal_backend see and steer all of them, and change nothing else); nothing here is SECURITY
-- DEFINER.
CREATE TABLE zdm.backfill_jobs (
    id                bigserial PRIMARY KEY,
    name              text,
    relid             oid NOT NULL,
    relation          text NOT NULL,
    set_clause        text NOT NULL,
    where_clause      text NOT NULL,
    key_column        text,            -- NULL: the table is walked by ctid ranges
    key_type          text,
    lower_bound       text,            -- the first key (or block 0) when the job started
    upper_bound       text,            -- fixed when the job starts (a key, or a block number)
    last_key          text,            -- the last key (or block) whose batch committed
    split_upper       text,            -- (last_key, split_upper]: even keys done, odd keys not yet
    deferred          jsonb NOT NULL DEFAULT '[]',  -- skipped keys (blocks) whose rows were locked
    batch_size        integer NOT NULL,
    adaptive          boolean NOT NULL,
    target_batch_ms   integer NOT NULL,
    min_batch_size    integer NOT NULL,
    max_batch_size    integer NOT NULL,
    sleep_ms          integer NOT NULL,
    max_replica_lag_ms integer,
    lock_timeout_ms   integer NOT NULL,
    lock_retries      integer NOT NULL,
    runner            text NOT NULL CHECK (runner IN ('call', 'worker')),
    owner             oid NOT NULL DEFAULT current_user::regrole::oid,
    state             text NOT NULL CHECK (state IN ('running', 'paused', 'waiting for replica', 'done',
                                                     'failed', 'cancelled')),
    rows_done         bigint NOT NULL DEFAULT 0,
    batches           bigint NOT NULL DEFAULT 0,
    current_batch_size integer,
    pid               integer,
    started_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at       timestamptz,
    last_error        text
);
COMMENT ON TABLE zdm.backfill_jobs IS 'zdm backfill jobs: options, progress (written with each batch), state';
ALTER TABLE zdm.backfill_jobs ENABLE ROW LEVEL SECURITY;
-- A role sees and steers (pause, resume, cancel) the jobs of roles it is a member of; members of
-- pg_signal_backend see and steer every job. A job is created only as oneself.
CREATE POLICY backfill_jobs_see ON zdm.backfill_jobs FOR SELECT
  USING (pg_has_role(current_user, owner, 'MEMBER')
         OR pg_has_role(current_user, 'pg_signal_backend', 'MEMBER'));
CREATE POLICY backfill_jobs_steer ON zdm.backfill_jobs FOR UPDATE
  USING (pg_has_role(current_user, owner, 'MEMBER')
         OR pg_has_role(current_user, 'pg_signal_backend', 'MEMBER'))
  WITH CHECK (pg_has_role(current_user, owner, 'MEMBER')
              OR pg_has_role(current_user, 'pg_signal_backend', 'MEMBER'));
CREATE POLICY backfill_jobs_create ON zdm.backfill_jobs FOR INSERT
  WITH CHECK (pg_has_role(current_user, owner, 'MEMBER'));
-- Steering is all a role that is not a member of the job's owner may do: a job runs as its owner
-- (also when resumed after a restart), so a change to its clauses, table, key or owner by anyone
-- else would run that role's SQL with the owner's privileges.
CREATE FUNCTION zdm.backfill_jobs_steer_only() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  IF (to_jsonb(NEW) - ARRAY['state', 'updated_at', 'finished_at', 'last_error'])
     IS DISTINCT FROM (to_jsonb(OLD) - ARRAY['state', 'updated_at', 'finished_at', 'last_error']) THEN
    RAISE EXCEPTION 'only members of role % may change backfill job % beyond its state', OLD.owner::regrole, OLD.id
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'A job runs as its owner; others may pause, resume or cancel it.',
            HINT = format('SELECT zdm.backfill_pause(%s); SELECT zdm.backfill_resume(%s); SELECT zdm.backfill_cancel(%s);',
                          OLD.id, OLD.id, OLD.id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER backfill_jobs_steer_only BEFORE UPDATE ON zdm.backfill_jobs
  FOR EACH ROW WHEN (NOT pg_has_role(current_user, OLD.owner, 'MEMBER'))
  EXECUTE FUNCTION zdm.backfill_jobs_steer_only();
GRANT SELECT, INSERT, UPDATE ON zdm.backfill_jobs TO PUBLIC;
GRANT USAGE ON SEQUENCE zdm.backfill_jobs_id_seq TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('zdm.backfill_jobs', '');

CREATE PROCEDURE zdm.backfill(
    relation regclass,
    set_clause text,
    where_clause text,
    batch_size integer DEFAULT 1000,
    adaptive boolean DEFAULT true,
    target_batch_ms integer DEFAULT 100,
    min_batch_size integer DEFAULT 100,
    max_batch_size integer DEFAULT 100000,
    sleep_ms integer DEFAULT 0,
    max_replica_lag interval DEFAULT NULL,
    lock_timeout interval DEFAULT '1s',
    lock_retries integer DEFAULT 5,
    job_name text DEFAULT NULL)
  LANGUAGE C
  AS 'MODULE_PATHNAME', 'zdm_backfill';
COMMENT ON PROCEDURE zdm.backfill(regclass, text, text, integer, boolean, integer, integer, integer, integer,
                                  interval, interval, integer, text)
  IS 'zdm: UPDATE relation SET set_clause WHERE where_clause in committed keyset batches, in this session';

CREATE FUNCTION zdm.backfill_start(
    relation regclass,
    set_clause text,
    where_clause text,
    batch_size integer DEFAULT 1000,
    adaptive boolean DEFAULT true,
    target_batch_ms integer DEFAULT 100,
    min_batch_size integer DEFAULT 100,
    max_batch_size integer DEFAULT 100000,
    sleep_ms integer DEFAULT 0,
    max_replica_lag interval DEFAULT NULL,
    lock_timeout interval DEFAULT '1s',
    lock_retries integer DEFAULT 5,
    job_name text DEFAULT NULL)
  RETURNS bigint
  LANGUAGE C VOLATILE
  AS 'MODULE_PATHNAME', 'zdm_backfill_start';

CREATE FUNCTION zdm.backfill_pause(job_id bigint) RETURNS text
  LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'zdm_backfill_pause';
CREATE FUNCTION zdm.backfill_resume(job_id bigint) RETURNS text
  LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'zdm_backfill_resume';
CREATE FUNCTION zdm.backfill_cancel(job_id bigint) RETURNS text
  LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'zdm_backfill_cancel';

-- One row per job the caller may see (row-level security on zdm.backfill_jobs).
CREATE VIEW zdm.backfill_status WITH (security_invoker = true) AS
SELECT j.id AS job_id,
       j.name,
       j.relation,
       j.state,
       j.rows_done,
       j.batches,
       j.current_batch_size,
       CASE WHEN j.updated_at > j.started_at
            THEN round(j.rows_done / extract(epoch FROM (j.updated_at - j.started_at)))::bigint END AS rows_per_sec,
       j.last_key,
       j.upper_bound,
       j.runner,
       j.owner::regrole AS owner,
       j.pid,
       -- The job's process is alive: a backend with its pid that existed when the job last wrote its
       -- progress (a pid reused by a later backend does not count).
       (j.pid IS NOT NULL AND EXISTS (SELECT 1 FROM pg_stat_activity a
                                       WHERE a.pid = j.pid AND a.backend_start <= j.updated_at))
         AS process_alive,
       j.started_at,
       j.updated_at,
       j.finished_at,
       CASE WHEN j.state IN ('running', 'waiting for replica')
                 AND (j.key_type IN ('bigint', 'integer', 'smallint') OR j.key_column IS NULL)
                 AND j.last_key IS NOT NULL AND j.last_key <> j.upper_bound
                 AND j.rows_done > 0 AND j.updated_at > j.started_at
                 AND j.last_key::numeric > j.lower_bound::numeric
            THEN (j.updated_at - j.started_at)
                 * ((j.upper_bound::numeric - j.last_key::numeric) / (j.last_key::numeric - j.lower_bound::numeric))::float8
       END AS eta,
       j.last_error
  FROM zdm.backfill_jobs j;
GRANT SELECT ON zdm.backfill_status TO PUBLIC;
