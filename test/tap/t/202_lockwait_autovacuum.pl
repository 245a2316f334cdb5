# Lock-safe DDL and a blocking autovacuum worker.
#
# PostgreSQL cancels an autovacuum worker that blocks a lock request once the request has waited
# deadlock_timeout (proc.c: ProcSleep). A lock-safe attempt gives up after zdm.lock_timeout, usually no
# longer than deadlock_timeout, so without help it would time out against the worker attempt after
# attempt. After a timed-out attempt, zdm cancels the worker the same way (unless it vacuums to prevent
# wraparound), says so in the retry NOTICE, and the next attempt gets the lock. A statement with no
# retry (VACUUM FULL, CREATE INDEX CONCURRENTLY) cancels such a worker before it starts waiting.
#
# The worker is made slow on purpose (cost limit 1, cost delay 100 ms for this table only): it holds
# SHARE UPDATE EXCLUSIVE on the table for minutes, far longer than the test waits.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('lw_autovacuum', port => 55463);
$node->init;
$node->append_conf('postgresql.conf', join("\n",
  "shared_preload_libraries = 'zdm'",
  'autovacuum_naptime = 1s',
  'deadlock_timeout = 10s',   # PostgreSQL's own cancel comes far too late to explain the outcome
  ''));
$node->start;

$node->safe_psql('postgres', q{
  CREATE TABLE av (id int, pad text) WITH (autovacuum_vacuum_cost_limit = 1, autovacuum_vacuum_cost_delay = 100,
    autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, autovacuum_analyze_threshold = 1000000000);
  INSERT INTO av SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
  DELETE FROM av WHERE id % 2 = 0;
});

# Wait until an autovacuum worker holds its lock on av.
my $holding = q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                WHERE a.backend_type = 'autovacuum worker' AND l.relation = 'av'::regclass AND l.granted};
ok($node->poll_query_until('postgres', $holding, '1'), 'an autovacuum worker vacuums av, slowly');

my ($out, $err) = ('', '');
$node->psql('postgres', q{
  SET zdm.mode = off; SET zdm.lock_timeout = '200ms'; SET zdm.lock_retry_delay = '10ms'; SET zdm.lock_retries = 10;
  ALTER TABLE av ADD COLUMN note text;
  SELECT count(*) FROM pg_attribute WHERE attrelid = 'av'::regclass AND attname = 'note';
}, stdout => \$out, stderr => \$err, on_error_stop => 0);

like($err, qr/NOTICE:  ALTER TABLE timed out waiting 200 ms for a lock on av, retry 1 of 10\n.*Blocked by pid \d+ \(active\): autovacuum: VACUUM public\.av.* \(autovacuum worker: cancelled\)/,
  'the retry NOTICE names the autovacuum worker and says it was cancelled');
unlike($err, qr/ERROR/, 'the retried ALTER then gets its lock');
is($out, '1', 'the column is there');

my $log = slurp_file($node->logfile);
like($log, qr/canceling autovacuum task/, 'the worker was cancelled (its own log line)');

# The statements with no retry (VACUUM FULL, CREATE INDEX CONCURRENTLY, ...) cancel a blocking worker
# before they start waiting: after a timeout it would be too late. The cancelled vacuum is unfinished,
# so the launcher sends a new worker to av within a naptime (1 s).
for my $stmt ('CREATE INDEX CONCURRENTLY av_id_idx ON av (id)', 'VACUUM FULL av') {
  ok($node->poll_query_until('postgres', $holding, '1'), "an autovacuum worker vacuums av again before $stmt");
  ($out, $err) = ('', '');
  # 2 s leaves the worker time to exit, and is still far below deadlock_timeout.
  $node->psql('postgres', "SET zdm.mode = off; SET zdm.lock_timeout = '2s'; $stmt;",
    stdout => \$out, stderr => \$err, on_error_stop => 0);
  like($err, qr/NOTICE:  cancelled autovacuum worker \d+, which held a lock (CREATE INDEX CONCURRENTLY|VACUUM) needs/,
    "$stmt: the NOTICE says the worker was cancelled");
  unlike($err, qr/ERROR/, "$stmt: then it gets its lock within zdm.lock_timeout");
}
is($node->safe_psql('postgres', q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'av_id_idx'::regclass}), 't',
  'the concurrent build is valid');

$node->stop;
done_testing();
