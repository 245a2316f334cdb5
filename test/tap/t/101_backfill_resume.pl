# Backfill jobs that lose their process resume exactly where they stopped: a background job outlives
# the session that started it; a CALL whose session is terminated is resumed with backfill_resume; a
# worker killed with SIGKILL (crash restart) and an immediate-mode shutdown are resumed by themselves
# because the library is preloaded. Every row is updated exactly once: a trigger logs each update.
# And a streaming replica whose replay is paused makes a job wait (state visible) until replay resumes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('bf_primary', port => 55511);
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', join("\n",
  "shared_preload_libraries = 'zdm'",
  "max_worker_processes = 16",
  "restart_after_crash = on",
  "wal_receiver_status_interval = 1s",
  ''));
$node->start;

$node->safe_psql('postgres', q{
  CREATE EXTENSION zdm;
  CREATE TABLE t (id int PRIMARY KEY, v int);
  CREATE TABLE t_log (id int);
  CREATE FUNCTION t_count() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO t_log VALUES (NEW.id); RETURN NEW; END $$;
  CREATE TRIGGER t_count BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION t_count();
});

# Fills t with 3000 fresh rows, empties the log.
sub reset_table {
  $node->safe_psql('postgres', q{
    TRUNCATE t, t_log;
    INSERT INTO t SELECT g, NULL FROM generate_series(1, 3000) g;
  });
}

# Every row updated, and each exactly once.
sub exactly_once {
  my ($what) = @_;
  my $r = $node->safe_psql('postgres', q{
    SELECT (SELECT count(*) FROM t WHERE v IS NULL) || ',' || count(*) || ',' || count(DISTINCT id) FROM t_log});
  is($r, '0,3000,3000', "$what: every row updated exactly once");
}

sub wait_state {
  my ($id, $state) = @_;
  ok($node->poll_query_until('postgres', "SELECT state = '$state' FROM zdm.backfill_jobs WHERE id = $id"),
     "job $id reaches state $state");
}

sub wait_progress {
  my ($id) = @_;
  $node->poll_query_until('postgres', "SELECT rows_done > 0 FROM zdm.backfill_jobs WHERE id = $id")
    or die "job $id made no progress";
}

my $slow = q{batch_size => 50, adaptive => false, sleep_ms => 20};

# 1. A background job survives the disconnect of the session that started it.
reset_table();
my $id = $node->safe_psql('postgres', "SELECT zdm.backfill_start('t', 'v = 1', 'v IS NULL', $slow)");
wait_state($id, 'done');
exactly_once('job started by a session that disconnected');

# 2. A CALL whose session is terminated mid-way: the job stays 'running' with the progress of its last
#    committed batch; backfill_resume finishes it in a worker.
reset_table();
my ($call_out, $call_err) = ('', '');
my $call = IPC::Run::start(
  [ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', "CALL zdm.backfill('t', 'v = 2', 'v IS NULL', $slow)" ],
  '>', \$call_out, '2>', \$call_err);
$node->poll_query_until('postgres', "SELECT count(*) = 2 FROM zdm.backfill_jobs") or die 'CALL did not start';
$id = $node->safe_psql('postgres', "SELECT max(id) FROM zdm.backfill_jobs");
wait_progress($id);
$node->safe_psql('postgres', "SELECT pg_terminate_backend(pid) FROM zdm.backfill_jobs WHERE id = $id");
$call->finish;
like($call_err, qr/terminating connection/, 'the CALL session was terminated');
$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE query LIKE 'zdm backfill job%'");
my $left = $node->safe_psql('postgres', "SELECT state || ',' || (rows_done < 3000)::text FROM zdm.backfill_jobs WHERE id = $id");
is($left, 'running,true', 'a terminated CALL leaves its job running, part done');
$node->poll_query_until('postgres', "SELECT NOT process_alive FROM zdm.backfill_status WHERE job_id = $id")
  or die 'process_alive still true';
pass('zdm.backfill_status shows the job\'s process is gone (process_alive false)');
is($node->safe_psql('postgres', "SELECT zdm.backfill_resume($id)"), 'running', 'backfill_resume relaunches it');
wait_state($id, 'done');
exactly_once('CALL terminated, then resumed');

# 3. kill -9 of the worker: the server restarts all backends; the launcher resumes the job.
reset_table();
$id = $node->safe_psql('postgres', "SELECT zdm.backfill_start('t', 'v = 3', 'v IS NULL', $slow)");
wait_progress($id);
my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'zdm backfill'");
ok($pid =~ /^\d+$/, "worker pid $pid");
kill 'KILL', $pid;
wait_state($id, 'done');
exactly_once('worker killed with SIGKILL, resumed after the crash restart');
ok($node->log_contains("resuming backfill job $id after a restart"), 'the launcher resumed it');

# 4. Immediate-mode shutdown and start: resumed by itself.
reset_table();
$id = $node->safe_psql('postgres', "SELECT zdm.backfill_start('t', 'v = 4', 'v IS NULL', $slow)");
wait_progress($id);
$node->stop('immediate');
$node->start;
wait_state($id, 'done');
exactly_once('immediate shutdown, resumed after start');

# 5. A streaming replica with replay paused: the job waits, visibly, and finishes once replay resumes.
$node->backup('bf_backup');
my $standby = PostgreSQL::Test::Cluster->new('bf_standby', port => 55512);
$standby->init_from_backup($node, 'bf_backup', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby, 'replay', $node->lsn('insert'));
reset_table();
$node->wait_for_catchup($standby, 'replay', $node->lsn('insert'));
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
# WAL the replica receives but does not replay: its replay lag grows.
$node->safe_psql('postgres', 'CREATE TABLE wal_filler AS SELECT g FROM generate_series(1, 10000) g');
ok($node->poll_query_until('postgres',
  "SELECT bool_or(replay_lag > interval '1 second') FROM pg_stat_replication"), 'replica lags');
$id = $node->safe_psql('postgres',
  "SELECT zdm.backfill_start('t', 'v = 5', 'v IS NULL', batch_size => 500, adaptive => false, max_replica_lag => '1s')");
wait_state($id, 'waiting for replica');
is($node->safe_psql('postgres', "SELECT rows_done FROM zdm.backfill_status WHERE job_id = $id"), '0',
   'no batch runs while the replica lags');
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
wait_state($id, 'done');
exactly_once('job that waited for the replica');

$standby->stop;
$node->stop;
done_testing();
