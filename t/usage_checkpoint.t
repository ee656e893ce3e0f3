# Monthly usage survives a memcached restart (issue 17 item 3): two nodes
# with the management API on one SQLite database share a memcached of their
# own; requests are counted on both, the counters are checkpointed to the
# database (absolute values, the larger kept), memcached is killed and
# started again empty, and the month's counts come back from the checkpoint
# exactly once (one node restores, the other sees its marker), added to what
# the requests since the restart counted: /api/usage, billing and the
# x-quota-* headers show the sum, and a plan whose monthly quota was spent
# before the restart still refuses after it.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use IO::Socket::INET ();
use IO::Select ();
use POSIX ();
use File::Temp ();
use Digest::SHA qw(sha256_hex);
use LLMGW::Test;
use LLMGW::Memcached;
use LLMGW::Node;
use LLMGW::Postgres;

unless (Apache::Test::need_module('llmgw', 'llmgw_quota', 'dbd')) {
    print "1..0 # skipped: mod_llmgw, mod_llmgw_quota and mod_dbd are needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my ($A, $B, $sql);

sub scenario {
my ($dbname, $dbconf, $sql_fn) = @_;
$sql = $sql_fn;
my $tag = "$$" . int(time) . $dbname;
my $ADMIN = "adm-ckpt-$tag";
my $port = free_port();
my $mc = mc_start($port);
ok $mc, "$dbname: dedicated memcached on $port";

my $conf = <<"EOF";
$dbconf
LLMGWAdminKey sha256:@{[ sha256_hex($ADMIN) ]}
LLMGWManagedKeys On
LLMGWPlan ck-big  requests_month=1000 rpm=1000
LLMGWPlan ck-five requests_month=5 overage=deny quota_status=429
LLMGWQuotaFailMode closed
<Location /v1>
    LLMGWQuota On
</Location>
<LocationMatch "^/v1/(workspaces|billing)(/|\$)">
    SetHandler llmgw-admin
</LocationMatch>
<Location /api/usage>
    SetHandler llmgw-usage
</Location>
EOF
my $store = "memcached://127.0.0.1:$port";
$A = LLMGW::Node->start(name => "ckpt-$dbname-a", store => $store, conf => $conf);
$B = LLMGW::Node->start(name => "ckpt-$dbname-b", store => $store, conf => $conf);
ok $A && $B, "$dbname: two nodes, one memcached, one database";

sub call {
    my ($node, $method, $path, $body, $key) = @_;
    my $res = $node->request($method, $path, $body, defined $key ? (Authorization => "Bearer $key") : ());
    return ($res, dec($res));
}
sub chat {
    my ($node, $key) = @_;
    return call($node, 'POST', '/v1/chat/completions',
                { model => 'mock/echo', messages => [ { role => 'user', content => 'hi' } ] }, $key);
}
sub sql { $sql->(@_) }
sub ckpt_value {
    my ($ws, $ctr) = @_;
    return sql("SELECT value FROM llmgw_usage_checkpoint WHERE workspace_id = '$ws' AND counter = '$ctr'");
}

my ($BIG, $FIVE) = ("ck-big-$tag", "ck-five-$tag");
my ($KBIG, $KFIVE);
{
    my ($r, $j) = call($A, 'POST', '/v1/workspaces', { name => 'Big', plan => 'ck-big', id => $BIG }, $ADMIN);
    is $r->code, 201, 'workspace on ck-big';
    ($r, $j) = call($A, 'POST', '/v1/workspaces', { name => 'Five', plan => 'ck-five', id => $FIVE }, $ADMIN);
    is $r->code, 201, 'workspace on ck-five';
    ($r, $j) = call($A, 'POST', "/v1/workspaces/$BIG/keys", { name => 'big' }, $ADMIN);
    $KBIG = $j->{key};
    ($r, $j) = call($A, 'POST', "/v1/workspaces/$FIVE/keys", { name => 'five' }, $ADMIN);
    $KFIVE = $j->{key};
    ok $KBIG && $KFIVE, 'a key in each';
    is sql("SELECT version FROM llmgw_schema"), 3, 'the schema is at version 3';
}

# ---------------------------------------------------------------- before
my $before = 10;
{
    my @codes;
    # both nodes count in the same workspace: both checkpoint it
    for my $i (1 .. $before) {
        my ($r) = chat($i % 2 ? $A : $B, $KBIG);
        push @codes, $r->code;
    }
    is "@codes", join(' ', (200) x $before), "$before requests on two nodes";
    my @five = map { (chat($_ % 2 ? $A : $B, $KFIVE))[0]->code } 1 .. 6;
    is "@five", '200 200 200 200 200 429', "ck-five: its 5 requests, then 429";

    # the checkpoint: within LLMGW_CKPT_PERIOD (5 s) of the last request
    my $t0 = time;
    ok wait_for(sub { (ckpt_value($BIG, 'requests-month') // '') eq $before }, 15, 0.25),
        "the checkpoint holds requests-month = $before";
    diag sprintf('checkpointed %.1f s after the last request', time - $t0);
    ok wait_for(sub { (ckpt_value($FIVE, 'month') // '') eq '5000' }, 15, 0.25),
        'ck-five: month = 5000 milli-requests';
    ok ckpt_value($BIG, 'tokens-month') > 0, 'tokens-month checkpointed';
    my $models = sql("SELECT COUNT(*) FROM llmgw_usage_checkpoint WHERE workspace_id = '$BIG' AND counter LIKE 'm-%-requests' AND value = $before");
    is $models, 1, "the model's requests counter checkpointed ($before)";
    # two nodes writing the same counters: never backwards, never a duplicate row
    is sql("SELECT COUNT(*) FROM llmgw_usage_checkpoint WHERE workspace_id = '$BIG' AND counter = 'requests-month'"),
       1, 'one row per counter and month';
    sleep 6;                                   # both nodes have checkpointed again
    is ckpt_value($BIG, 'requests-month'), $before, '... still the absolute value after more rounds';
}

# ---------------------------------------------------------------- memcached restarts empty
{
    kill 'KILL', $mc; waitpid $mc, 0;
    $mc = mc_start($port);
    ok $mc, 'memcached started again, empty';

    # The first request that reaches the new memcached (fail-closed: 503
    # until the node's handle retries) is one of the spent plan's: its
    # month counter is created afresh, the restore runs before it is
    # decided, and it is refused.
    my $first;
    wait_for(sub { ($first) = chat($A, $KFIVE); $first->code != 503 }, 10, 0.1);
    is $first->code, 429, 'ck-five: the first request after the restart is refused (its month was spent before)';
    my $after = 0;
    my $ok = wait_for(sub { my ($r) = chat($A, $KBIG); $after++ if $r->code == 200; $r->code == 200 }, 10, 0.1);
    ok $ok, 'node A answers again';
    for my $i (1 .. 4) {
        my ($r) = chat($i % 2 ? $B : $A, $KBIG);
        $after++ if $r->code == 200;
    }
    is $after, 5, '5 requests after the restart';
    my $want = $before + $after;
    my $usage = sub { my $j = dec($_[0]->get('/api/usage', Authorization => "Bearer $KBIG")); $j ? $j->{requests} // -1 : -1 };
    is $usage->($A), $want,
        "/api/usage: $want requests (restored base + since the restart)";
    my ($r, $j) = call($B, 'GET', '/api/usage', undef, $KBIG);
    is $j->{requests}, $want, "... the same on node B ($want: restored once, not once per node)";
    ($r, $j) = chat($A, $KBIG);
    $want++;
    is $r->header('x-quota-limit'), 1000, 'x-quota-limit 1000';
    is $r->header('x-quota-remaining'), 1000 - $want, "x-quota-remaining counts the month before the restart (" . (1000 - $want) . ")";
    ($r, $j) = call($B, 'GET', "/v1/billing/workspaces/$BIG/entitlements", undef, $ADMIN);
    is $j->{usage}{requests}, $want, "billing entitlements: $want requests";
    ok $j->{usage}{prompt_tokens} > 0, '... tokens';
    ($r, $j) = call($A, 'GET', "/v1/billing/workspaces/$BIG/usage", undef, $ADMIN);
    is_deeply [ map { "$_->{provider}/$_->{model}:$_->{requests}" } @{ $j->{data} // [] } ],
        [ "mock/echo:$want" ], "billing usage by model: mock/echo $want";

    # the plan spent before the restart still refuses
    my @five = map { my $c; wait_for(sub { $c = (chat($_ % 2 ? $A : $B, $KFIVE))[0]->code; $c != 503 }, 10, 0.1); $c } 1 .. 3;
    is "@five", '429 429 429', 'ck-five: still 429 on both nodes';
    ($r, $j) = call($A, 'GET', '/api/usage', undef, $KFIVE);
    is $j->{requests}, 5, 'ck-five: /api/usage 5';

    # and the next checkpoint writes the new absolute values
    ok wait_for(sub { (ckpt_value($BIG, 'requests-month') // '') eq $want }, 15, 0.25),
        "the checkpoint follows: requests-month = $want";
    my $log = join '', map { $_->log_text(0) } $A, $B;
    my @restored = $log =~ /restored from the usage checkpoint/g;
    is scalar(@restored), 1, 'one process of the two nodes restored the month';
}

# ---------------------------------------------------------------- nodes stop: the last counts are written
{
    chat($B, $KBIG) for 1 .. 2;
    my $n = dec($A->get('/api/usage', Authorization => "Bearer $KBIG"))->{requests};
    $A->stop;
    $B->stop;
    is ckpt_value($BIG, 'requests-month'), $n, "stopping the nodes writes the last counts ($n)";
}

kill 'TERM', $mc if $mc;
waitpid $mc, 0 if $mc;
}

{
    my $dir = File::Temp::tempdir('llmgw-ckpt-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $db = "$dir/llmgw.db";
    scenario('sqlite', qq{DBDriver sqlite3\nDBDParams "$db"}, sub {
        my $q = shift;
        my $out = `sqlite3 -batch '$db' "$q" 2>/dev/null`;
        chomp $out;
        return $out;
    });
}
{
    my $pg = LLMGW::Postgres->start;
    ok $pg, 'a PostgreSQL server on 127.0.0.1 (LLMGW::Postgres)';
    if ($pg) {
        scenario('pgsql', qq{DBDriver pgsql\nDBDParams "@{[ $pg->dbd_params ]}"}, sub { $pg->psql(shift) });
        $pg->stop;
    }
}
done_testing();
