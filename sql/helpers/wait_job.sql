-- Waits until a job is no longer running (a committed outcome, not a timing) and its worker, which
-- commits that outcome before it releases the table's backfill lock and exits, has gone.
CREATE FUNCTION wait_job(job bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text;
BEGIN
  FOR i IN 1..1200 LOOP
    PERFORM pg_stat_clear_snapshot();
    SELECT state INTO s FROM zdm.backfill_jobs WHERE id = job;
    IF (s IS NULL OR s NOT IN ('running', 'waiting for replica'))
       AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'zdm backfill job ' || job) THEN
      RETURN s;
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN s;
END $$;
