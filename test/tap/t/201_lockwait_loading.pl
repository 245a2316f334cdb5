# Lock-safe DDL works the same whether the library is preloaded or loaded by CREATE EXTENSION.
#
# The blocker is a prepared transaction that read the table (ACCESS SHARE, no session attached). A
# session then runs an instant ALTER TABLE (ACCESS EXCLUSIVE) with zdm.lock_timeout = 50ms and two
# retries: two retry NOTICEs naming the blocker, then ERROR 55P03 with the blocker in DETAIL, and the
# session's own lock_timeout back afterwards. The messages must be the same, word for word, in every
# loading mode:
#   1. shared_preload_libraries = 'zdm' (the ALTER is the session's first statement);
#   2. session_preload_libraries = 'zdm' (first statement too);
#   3. CREATE EXTENSION zdm alone, after a first DDL statement has loaded the library in the session;
#   4. CREATE EXTENSION zdm alone, the ALTER being the first DDL statement of the session: the
#      extension's event trigger loads the library while the statement runs, past the hook, and must
#      take the statement's lock itself, in the same bounded attempts (lockwait::lock_for_event_trigger).
# The zdm.* settings are SET before the library is loaded in modes 3 and 4: PostgreSQL keeps them as
# placeholders and applies them when the library defines the settings.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

# Ports of the lock-safe DDL room's scratch servers.
my $port = 55461;

sub new_node {
  my ($name, @conf) = @_;
  my $node = PostgreSQL::Test::Cluster->new($name, port => $port++);
  $node->init;
  $node->append_conf('postgresql.conf', join("\n", 'max_prepared_transactions = 4', @conf, ''));
  $node->start;
  $node->safe_psql('postgres', 'CREATE TABLE lw (id int PRIMARY KEY); INSERT INTO lw SELECT generate_series(1, 10);');
  return $node;
}

# Runs $sql in one new session; returns (stdout, messages), where messages are the NOTICE / ERROR /
# DETAIL / HINT lines psql printed, with their SQLSTATE (VERBOSITY=verbose) and without LOCATION.
sub session {
  my ($node, $sql) = @_;
  my ($out, $err) = ('', '');
  $node->psql('postgres', $sql, stdout => \$out, stderr => \$err, on_error_stop => 0,
    extra_params => [ '-v', 'VERBOSITY=verbose' ]);
  my @messages = map { s/^psql:[^:]*:\d+: //r } split /\n/, $err;
  @messages = grep { /^(NOTICE|WARNING|ERROR|DETAIL|HINT):/ } @messages;
  return ($out, join("\n", @messages));
}

my $settings = q{SET zdm.mode = off; SET zdm.lock_timeout = '50ms'; SET zdm.lock_retry_delay = '10ms';
                 SET zdm.lock_retries = 2; SET lock_timeout = '3s';};
my $alter = 'ALTER TABLE lw ADD COLUMN c int;';
my $after = q{SHOW lock_timeout; SELECT count(*) FROM pg_attribute WHERE attrelid = 'lw'::regclass AND attname = 'c';};
my $loaded = q{SELECT count(*) FROM pg_settings WHERE name = 'zdm.lock_timeout';};

# The ALTER in a session of its own, blocked by a prepared reader; $before runs first in that session.
sub blocked_alter {
  my ($node, $before) = @_;
  $node->safe_psql('postgres', q{BEGIN; SELECT count(*) FROM lw; PREPARE TRANSACTION 'lw_reader';});
  my ($out, $messages) = session($node, "$before $settings $alter $after");
  $node->safe_psql('postgres', q{ROLLBACK PREPARED 'lw_reader';});
  return ($out, $messages);
}

# The ALTER retries while a prepared reader holds the table; once it is seen in zdm's pause between
# attempts (wait_event_type Extension), the reader is rolled back, and the ALTER succeeds at its next
# attempt. Returns (whether it was seen retrying, its stdout, its messages).
sub retried_alter_succeeds {
  my ($node, $column) = @_;
  $node->safe_psql('postgres', q{BEGIN; SELECT count(*) FROM lw; PREPARE TRANSACTION 'lw_reader';});
  my $bg = $node->background_psql('postgres', on_error_stop => 0);
  $bg->query_until(qr/started/, "SET application_name = 'lw_retrying'; SET client_min_messages = warning;
    SET zdm.mode = off; SET zdm.lock_timeout = '50ms'; SET zdm.lock_retry_delay = '10ms';
    SET zdm.lock_retries = 1000; SET lock_timeout = '3s';
    \\echo started
    ALTER TABLE lw ADD COLUMN $column int;
    SHOW lock_timeout;
    SELECT count(*) FROM pg_attribute WHERE attrelid = 'lw'::regclass AND attname = '$column';
  ");
  # Polls for the pause; the bound only turns a failure into a failed test instead of a hang.
  my $retrying = 0;
  for (1 .. 3000) {
    # Only once the ALTER is sent: "started" is echoed before it, when the session may still be idle.
    my $state = $node->safe_psql('postgres',
      q{SELECT coalesce(wait_event_type, '') || '/' || state FROM pg_stat_activity
         WHERE application_name = 'lw_retrying' AND query LIKE 'ALTER TABLE%'});
    if ($state =~ m{^Extension/}) { $retrying = 1; last; }
    last if $state =~ m{/idle$};
    usleep(10_000);
  }
  $node->safe_psql('postgres', q{ROLLBACK PREPARED 'lw_reader';});
  $bg->quit;
  my @messages = grep { /^(WARNING|ERROR|DETAIL|HINT):/ } map { s/^psql:[^:]*:\d+: //r } split /\n/, $bg->{stderr};
  return ($retrying, $bg->{stdout} =~ s/\n+$//r, join("\n", @messages));
}

my $expected = join("\n",
  'NOTICE:  00000: ALTER TABLE timed out waiting 50 ms for a lock on lw, retry 1 of 2',
  q{DETAIL:  Blocked by prepared transaction 'lw_reader'},
  'NOTICE:  00000: ALTER TABLE timed out waiting 50 ms for a lock on lw, retry 2 of 2',
  q{DETAIL:  Blocked by prepared transaction 'lw_reader'},
  'ERROR:  55P03: ALTER TABLE could not lock lw: 3 attempts timed out after 50 ms each',
  q{DETAIL:  Blocked by prepared transaction 'lw_reader'},
  'HINT:  Finish the prepared transaction (COMMIT PREPARED or ROLLBACK PREPARED with the gid above), then run the statement again.');
my $expected_out = "3s\n0";  # the session's lock_timeout is back, and the failed attempts left no column

my ($out, $messages);

# ---------------------------------------------------------------------------------------------
# 1. shared_preload_libraries.
my $pre = new_node('lw_preload', "shared_preload_libraries = 'zdm'");
($out, $messages) = blocked_alter($pre, '');
is($messages, $expected, 'preload: retries with NOTICEs naming the blocker, then 55P03 with the blocker in DETAIL');
is($out, $expected_out, "preload: the session's lock_timeout is back and the column was not added");
($out, $messages) = session($pre, "$settings $alter $after");
is($messages, '', 'preload: with no blocker the ALTER runs at the first attempt, silently');
is($out, "3s\n1", "preload: the column is there and the session's lock_timeout is back");
my ($retrying, $messages_ok);
($retrying, $out, $messages_ok) = retried_alter_succeeds($pre, 'r');
ok($retrying, 'preload: the ALTER retries while the reader holds the table');
is($messages_ok, '', 'preload: once the reader is gone, the retried ALTER succeeds');
is($out, "3s\n1", "preload: the column is there and the session's lock_timeout is back");
$pre->stop;

# ---------------------------------------------------------------------------------------------
# 2. session_preload_libraries, on the node that will have the extension alone.
my $node = new_node('lw_extension');
$node->safe_psql('postgres', "ALTER SYSTEM SET session_preload_libraries = 'zdm';");
$node->reload;
($out, $messages) = blocked_alter($node, '');
is($messages, $expected, 'session_preload_libraries: the same messages');
is($out, $expected_out, "session_preload_libraries: the same outcome");
$node->safe_psql('postgres', 'ALTER SYSTEM RESET session_preload_libraries;');
$node->reload;

# ---------------------------------------------------------------------------------------------
# 3. and 4. CREATE EXTENSION zdm alone.
$node->safe_psql('postgres', 'CREATE EXTENSION zdm;');
($out, $messages) = session($node, $loaded);
is($out, '0', 'extension only: a new session starts without the library');

($out, $messages) = blocked_alter($node, 'CREATE TEMP TABLE warmup ();');
is($messages, $expected, 'extension only, after a first DDL statement: the same messages');
is($out, $expected_out, 'extension only, after a first DDL statement: the same outcome');

($out, $messages) = blocked_alter($node, '');
is($messages, $expected, 'extension only, the ALTER first in its session: the same messages');
is($out, $expected_out, 'extension only, the ALTER first in its session: the same outcome');

($retrying, $out, $messages_ok) = retried_alter_succeeds($node, 'r');
ok($retrying, 'extension only, first statement: the ALTER retries while the reader holds the table');
is($messages_ok, '', 'extension only, first statement: once the reader is gone, the retried ALTER succeeds');
is($out, "3s\n1", "extension only, first statement: the column is there and lock_timeout is back");

# Rule missing-lock-timeout knows that zdm bounds that first statement too: an explicit
# SET lock_timeout = 0 in strict mode is then no finding.
$node->safe_psql('postgres', q{BEGIN; SELECT count(*) FROM lw; PREPARE TRANSACTION 'lw_reader';});
($out, $messages) = session($node,
  "SET zdm.mode = strict; SET lock_timeout = 0; SET zdm.lock_timeout = '50ms'; SET zdm.lock_retries = 0; $alter");
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'lw_reader';});
like($messages, qr/^ERROR:  55P03: ALTER TABLE could not lock lw: 1 attempt timed out after 50 ms each$/m,
  'extension only, strict, SET lock_timeout = 0, first statement: zdm bounds it (no missing-lock-timeout)');

# With no blocker, the first statement of a session runs, and the next statement has the hook.
($out, $messages) = session($node, "$settings ALTER TABLE lw ADD COLUMN d int; $loaded SHOW lock_timeout;
  SELECT count(*) FROM pg_attribute WHERE attrelid = 'lw'::regclass AND attname = 'd';");
is($messages, '', 'extension only: with no blocker the first ALTER runs, silently');
is($out, "1\n3s\n1", 'extension only: that ALTER loaded the library and added the column; lock_timeout is back');

$node->stop;
done_testing();
