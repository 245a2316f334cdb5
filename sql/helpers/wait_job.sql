-- Waits until a job is no longer running (a committed outcome, not a timing).
CREATE FUNCTION wait_job(job bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text;
BEGIN
  FOR i IN 1..1200 LOOP
    SELECT state INTO s FROM zdm.backfill_jobs WHERE id = job;
    IF s IS NULL OR s NOT IN ('running', 'waiting for replica') THEN RETURN s; END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN s;
END $$;
