# The guard's three loading modes, what the first statement of a session can miss when the library
# is loaded only by the extension's event trigger, and the hook's place in a chain of hooks.
#
#   1. shared_preload_libraries = 'zdm': every session judges every statement.
#   2. session_preload_libraries = 'zdm' (ALTER SYSTEM + reload, no restart), or LOAD 'zdm'.
#   3. CREATE EXTENSION zdm alone: the event trigger zdm_guard (ddl_command_start) calls
#      zdm.guard_ddl_command_start(), which loads the library -- installing the ProcessUtility hook
#      for the rest of the session -- and judges the statement it fires for.
#
# Whether the library is loaded in a session is read from pg_settings: until the library defines
# zdm.mode, a "SET zdm.mode" only makes a placeholder, which pg_settings does not list.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# Ports of this suite's scratch servers (zdm's TAP range).
my $port = 55505;

sub new_node {
  my ($name, @conf) = @_;
  my $node = PostgreSQL::Test::Cluster->new($name, port => $port++);
  $node->init;
  $node->append_conf('postgresql.conf', join("\n", @conf, '')) if @conf;
  $node->start;
  return $node;
}

# Runs $sql in one session (one psql) without stopping at errors; returns (stdout, stderr).
# VERBOSITY=verbose makes psql print the SQLSTATE of every message.
sub session {
  my ($node, $sql) = @_;
  my ($out, $err) = ('', '');
  $node->psql('postgres', $sql, stdout => \$out, stderr => \$err, on_error_stop => 0,
    extra_params => [ '-v', 'VERBOSITY=verbose' ]);
  return ($out, $err);
}

my $loaded = q{SELECT count(*) FROM pg_settings WHERE name = 'zdm.mode';};
my $id_type = q{SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                WHERE attrelid = 'guarded'::regclass AND attname = 'id';};
my $rewrite = 'ALTER TABLE guarded ALTER COLUMN id TYPE bigint;';
my $rejected = qr/ERROR:  ZD001: rewrite-column-type: /;
my $warned = qr/WARNING:  01000: rewrite-column-type: /;

my $schema = q{
  CREATE TABLE guarded (id int PRIMARY KEY, v text);
  INSERT INTO guarded SELECT g, 'x' FROM generate_series(1, 100) g;
  CREATE MATERIALIZED VIEW guarded_mv AS SELECT count(*) FROM guarded;
};

my ($out, $err);

# ---------------------------------------------------------------------------------------------
# 1. shared_preload_libraries: no CREATE EXTENSION needed for the guard itself.
my $pre = new_node('h4_preload', "shared_preload_libraries = 'zdm'");
$pre->safe_psql('postgres', $schema);

($out, $err) = session($pre, $loaded);
is($out, '1', 'preload: the library is loaded in a new session before any statement');

($out, $err) = session($pre, "SET zdm.mode = strict; $rewrite $id_type");
like($err, $rejected, 'preload: the first statement of a session is judged (strict: ZD001)');
is($out, 'integer', 'preload: the rejected ALTER changed nothing');

($out, $err) = session($pre, "BEGIN; $rewrite ROLLBACK;");
like($err, $warned, 'preload: warn mode (the default) warns');

# The maintenance commands that standard_ProcessUtility runs without firing event triggers have
# rules of their own; with the library preloaded they are judged like any other statement.
my @maintenance = ('VACUUM FULL guarded', 'CLUSTER guarded USING guarded_pkey', 'TRUNCATE guarded_copy',
                   'REINDEX TABLE guarded');
$pre->safe_psql('postgres', 'CREATE TABLE guarded_copy AS SELECT * FROM guarded;');
for my $stmt (@maintenance) {
  ($out, $err) = session($pre, "SET zdm.mode = strict; $stmt;");
  like($err, qr/ERROR:  ZD001: /, "preload: '$stmt' is judged (strict: ZD001)");
}

# ---------------------------------------------------------------------------------------------
# 2. LOAD and session_preload_libraries, on one server that is never restarted.
my $node = new_node('h4_loading');
$node->safe_psql('postgres', $schema);
my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time();');

($out, $err) = session($node, "SET zdm.mode = strict; $rewrite $loaded");
is($err, '', 'nothing configured: the ALTER is not judged');
is($out, '0', 'nothing configured: the library is not loaded');
$node->safe_psql('postgres', 'ALTER TABLE guarded ALTER COLUMN id TYPE int;');

($out, $err) = session($node, "LOAD 'zdm'; SET zdm.mode = strict; $rewrite $id_type");
like($err, $rejected, "LOAD 'zdm': the session's ALTER is rejected");
is($out, 'integer', "LOAD 'zdm': the column is unchanged");

$node->safe_psql('postgres', "ALTER SYSTEM SET session_preload_libraries = 'zdm';");
$node->reload;
($out, $err) = session($node, "$loaded SET zdm.mode = strict; $rewrite");
is($out, '1', 'session_preload_libraries: a new session has the library before its first statement');
like($err, $rejected, 'session_preload_libraries: the first ALTER is rejected');

$node->safe_psql('postgres', 'ALTER SYSTEM RESET session_preload_libraries;');
$node->reload;
($out, $err) = session($node, $loaded);
is($out, '0', 'session_preload_libraries reset: a new session has no library');

# ---------------------------------------------------------------------------------------------
# 3. CREATE EXTENSION alone.
$node->safe_psql('postgres', 'CREATE EXTENSION zdm;');

# The first DDL of a session: the event trigger loads the library and judges the statement.
($out, $err) = session($node, "$loaded SET zdm.mode = strict; $rewrite $loaded $id_type");
like($err, $rejected, 'extension only: the first ALTER of a session is rejected by the event trigger');
is($out, "0\n1\ninteger", 'extension only: the library is loaded by that ALTER, and it changed nothing');

# The rest of the session is covered by the hook. Event triggers do not fire at all with
# session_replication_role = replica (event_trigger.c: filter_event_trigger), so what catches the
# second ALTER is the hook, loaded by the first.
($out, $err) = session($node,
  "SET zdm.mode = strict; $rewrite SET session_replication_role = replica; $rewrite $id_type");
my @rejections = ($err =~ /ZD001/g);
is(scalar @rejections, 2, 'extension only: after the first DDL the hook judges statements no event trigger sees');
is($out, 'integer', 'extension only: both ALTERs changed nothing');

# ... and a session whose first DDL no event trigger sees is not judged.
($out, $err) = session($node,
  "SET zdm.mode = strict; SET session_replication_role = replica; BEGIN; $rewrite $id_type ROLLBACK; $loaded");
is($err, '', 'extension only: a DDL that fires no event trigger, first in its session, is not judged');
is($out, "bigint\n0", 'extension only: that ALTER ran, and the library is still not loaded');

# Once loaded, the hook judges each statement once: the event trigger steps aside.
($out, $err) = session($node, "BEGIN; CREATE TEMP TABLE warmup (a int); $rewrite ROLLBACK;");
my @warnings = ($err =~ /rewrite-column-type/g);
is(scalar @warnings, 1, 'extension only: warn mode reports a finding once, not once per way in');

# Which first statements load the library. The event trigger fires, on ddl_command_start, only for
# the statements that standard_ProcessUtility hands to ProcessUtilitySlow. The ones it runs itself
# fire no event trigger, so first in a session they are not judged and do not load the library
# (LOCK TABLE here; VACUUM FULL, CLUSTER, TRUNCATE and REINDEX, which have rules, below).
my %first_statement_loads = (
  'BEGIN; LOCK TABLE guarded; COMMIT'             => 0,
  'ALTER TABLE guarded ALTER COLUMN v SET STATISTICS 100' => 1,
  'CREATE INDEX ON guarded (v)'                   => 1,
  'REFRESH MATERIALIZED VIEW guarded_mv'          => 1,
  'CREATE TEMP TABLE scratch (a int)'             => 1,
  'DROP TABLE IF EXISTS no_such_table'            => 1,
);
$node->safe_psql('postgres', 'CREATE TABLE guarded_copy AS SELECT * FROM guarded;');
for my $stmt (sort keys %first_statement_loads) {
  ($out, $err) = session($node, "$stmt; $loaded");
  is($out, $first_statement_loads{$stmt},
    "extension only: '$stmt' first in a session " . ($first_statement_loads{$stmt} ? 'loads' : 'does not load') . ' the library');
}

# The same maintenance commands under CREATE EXTENSION alone: first in a session they are not
# judged (they run, even in strict mode); after a first DDL has loaded the library, the hook
# rejects them.
for my $stmt (@maintenance) {
  ($out, $err) = session($node, "SET zdm.mode = strict; $stmt; $loaded");
  unlike($err, qr/ZD001/, "extension only: '$stmt' first in a session is not judged");
  is($out, '0', "extension only: '$stmt' first in a session leaves the library unloaded");
  ($out, $err) = session($node, "SET zdm.mode = strict; $rewrite $stmt;");
  my @n = ($err =~ /ZD001/g);
  is(scalar @n, 2, "extension only: '$stmt' after the first DDL is rejected by the hook");
}

my $still = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time();');
is($still, $started, 'modes 2 and 3 needed no restart');

# ---------------------------------------------------------------------------------------------
# Hook chaining: pg_stat_statements and pgaudit keep working, in either order.
for my $libs ('pg_stat_statements,pgaudit,zdm', 'zdm,pg_stat_statements,pgaudit') {
  my $name = 'h4_chain_' . ($libs =~ /^zdm/ ? 'zdm_first' : 'zdm_last');
  my $chain = new_node($name, "shared_preload_libraries = '$libs'", "pgaudit.log = 'ddl'");
  $chain->safe_psql('postgres', "CREATE EXTENSION pg_stat_statements; $schema");
  $chain->safe_psql('postgres', 'SELECT pg_stat_statements_reset();');

  ($out, $err) = session($chain, 'ALTER TABLE guarded ALTER COLUMN id TYPE bigint;');
  like($err, $warned, "$libs: zdm warns");
  ($out, $err) = session($chain, 'SET zdm.mode = strict; ALTER TABLE guarded ALTER COLUMN id TYPE int; SELECT 1;');
  like($err, qr/ERROR:  ZD001: rewrite-column-type: changing column id of guarded from bigint to integer/,
    "$libs: zdm rejects in strict mode");
  is($out, '1', "$libs: the session goes on after the rejection");

  my $calls = $chain->safe_psql('postgres', q{
    SELECT string_agg(query || ' = ' || calls, ', ' ORDER BY query) FROM pg_stat_statements
    WHERE query LIKE 'ALTER TABLE guarded%'});
  is($calls, 'ALTER TABLE guarded ALTER COLUMN id TYPE bigint = 1',
    "$libs: pg_stat_statements counts the ALTER that ran, and not the one zdm rejected");

  my $log = slurp_file($chain->logfile);
  like($log, qr/AUDIT: SESSION,\d+,\d+,DDL,ALTER TABLE,.*ALTER TABLE guarded ALTER COLUMN id TYPE bigint/,
    "$libs: pgaudit logs the ALTER that ran");
  $chain->stop;
}

$pre->stop;
$node->stop;
done_testing();
