# The management API on PostgreSQL (issue 12): a real server (initdb in a
# temporary directory, LLMGW::Postgres) behind two httpd nodes sharing one
# memcached. The module migrates the empty database itself; a key made on
# node 1 works on node 2; a provider key stored on node 1 is used by node 2;
# revoked on node 1, the key is refused on node 2 within one second (polled
# against a deadline); billing agrees across nodes; and neither the
# database's files nor memcached hold a secret in clear.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use File::Temp ();
use IO::Socket::INET ();
use Digest::SHA qw(sha256_hex);
use LLMGW::Test;
use LLMGW::Node;
use LLMGW::Postgres;

unless (Apache::Test::need_module('llmgw', 'llmgw_quota', 'dbd')) {
    print "1..0 # skipped: mod_llmgw, mod_llmgw_quota and mod_dbd are needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $tag = "$$" . int(time);
my $ADMIN = "adm-pg-secret-$tag";
my $STORED = "sk-pg-stored-$tag-wxyz";
my $dir = File::Temp::tempdir('llmgw-admin-pg-XXXXXX', TMPDIR => 1, CLEANUP => 1);
{
    open my $fh, '>:raw', "$dir/secret.key" or die $!;
    print $fh join '', map { chr int rand 256 } 1 .. 32;
    close $fh;
    chmod 0600, "$dir/secret.key";
}

my $pg = LLMGW::Postgres->start;
ok $pg, 'a PostgreSQL server on 127.0.0.1, run by the test user'
    or BAIL_OUT('PostgreSQL (Debian postgresql) is needed: make -C build deps');

my $conf = <<"EOF";
DBDriver pgsql
DBDParams "@{[ $pg->dbd_params ]}"
LLMGWAdminKey sha256:@{[ sha256_hex($ADMIN) ]}
LLMGWSecretKeyFile "$dir/secret.key"
LLMGWManagedKeys On
LLMGWPlan pg-plan requests_month=100 rpm=100
<Location /v1>
    LLMGWQuota On
</Location>
<LocationMatch "^/v1/(workspaces|projects|billing)(/|\$)">
    SetHandler llmgw-admin
</LocationMatch>
<Location /api/usage>
    SetHandler llmgw-usage
</Location>
EOF
my $n1 = LLMGW::Node->start(name => 'admin-pg-1', conf => $conf);
my $n2 = LLMGW::Node->start(name => 'admin-pg-2', conf => $conf);
ok $n1 && $n2, 'two nodes on one PostgreSQL database and one memcached';

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

my $WS = "pg-ws-$tag";
my ($r, $j) = call($n1, 'POST', '/v1/workspaces', { name => 'On PG', plan => 'pg-plan', id => $WS }, $ADMIN);
is $r->code, 201, 'node 1: POST workspaces';
is $pg->psql('SELECT version FROM llmgw_schema'), '3', 'the module migrated the empty database to schema version 3';
($r, $j) = call($n2, 'POST', '/v1/workspaces', { name => 'Dup', plan => 'pg-plan', id => $WS }, $ADMIN);
is $r->code, 409, 'node 2: the same id is a duplicate (409)';
($r, $j) = call($n2, 'GET', "/v1/workspaces/$WS", undef, $ADMIN);
is $j->{name}, 'On PG', 'node 2 reads the workspace';
($r, $j) = call($n2, 'GET', "/v1/workspaces/x'%20OR%201=1--", undef, $ADMIN);
is $r->code, 404, 'an injection string as id: 404';

($r, $j) = call($n1, 'POST', "/v1/workspaces/$WS/keys", { name => "o'brien; --", models => [ 'mock/*' ] }, $ADMIN);
is $r->code, 201, 'node 1: POST keys';
my ($KEY, $KID) = @$j{qw(key id)};
is $j->{name}, "o'brien; --", 'a quote in a name is data';

($r, $j) = chat($n2, $KEY);
is $r->code, 200, 'node 2 accepts the key made on node 1 at once';
($r, $j) = call($n2, 'GET', '/api/usage', undef, $KEY);
is $j->{custom_id}, $KID, 'node 2: /api/usage custom_id';
is $j->{username}, "o'brien; --", 'node 2: /api/usage username';

($r, $j) = call($n1, 'POST', "/v1/workspaces/$WS/provider-keys", { provider => 'mock', key => $STORED }, $ADMIN);
is $r->code, 201, 'node 1: a stored provider key';
ok wait_for(sub {
    my ($cr) = chat($n2, $KEY);
    $cr->code == 200 && (mock_last()->{headers}{authorization} // '') eq "Bearer $STORED";
}, 1), 'node 2 sends it upstream within a second';

($r, $j) = chat($n1, $KEY);
is $r->code, 200, 'node 1 too';
($r, $j) = call($n2, 'GET', "/v1/billing/workspaces/$WS/entitlements", undef, $ADMIN);
my $requests = $j->{usage}{requests};
my ($ur, $uj) = call($n1, 'GET', '/api/usage', undef, $KEY);
is $requests, $uj->{requests}, "entitlements on node 2 agree with /api/usage on node 1 ($requests)";
ok $requests >= 3, '... every node counted';
($r, $j) = call($n1, 'GET', "/v1/billing/workspaces/$WS/usage", undef, $ADMIN);
is_deeply [ map { "$_->{provider}/$_->{model}" } @{ $j->{data} } ], [ 'mock/echo' ], 'usage by model';
is $j->{data}[0]{requests}, $requests, '... the same count';

($r, $j) = call($n1, 'PUT', "/v1/billing/workspaces/$WS/context-quota-policy", { max_completion_tokens => 9 }, $ADMIN);
is $r->code, 200, 'node 1: PUT a policy';
ok wait_for(sub { my ($cr) = chat($n2, $KEY); $cr->code == 200 && (mock_last()->{body}{max_tokens} // 0) == 9 }, 1),
    'node 2 enforces it within a second';

# revocation reaches the other node within one second
($r, $j) = chat($n2, $KEY);
is $r->code, 200, 'node 2 has the key cached';
my $t0 = time;
($r, $j) = call($n1, 'POST', "/v1/workspaces/$WS/keys/$KID/revoke", undef, $ADMIN);
is $r->code, 200, 'node 1: revoke';
my $refused = wait_for(sub {
    my ($cr, $cj) = chat($n2, $KEY);
    $cr->code == 401 && ($cj->{error}{code} // '') eq 'revoked_api_key';
}, 1, 0.02);
my $took = time - $t0;
ok $refused, 'node 2 refuses the revoked key within one second (401 revoked_api_key)';
diag sprintf 'revocation seen on node 2 after %.0f ms', $took * 1000;

# nothing in clear, in the database or in memcached
my $dump = $pg->dump;
like $dump, qr/\Q$KID\E/, 'pg_dump holds the key id';
like $dump, qr/\Q@{[ sha256_hex($KEY) ]}\E/, '... and the SHA-256 of its secret';
unlike $dump, qr/\Q$KEY\E/, 'but not the secret';
unlike $dump, qr/\Q$STORED\E/, 'nor the provider key in clear';
my $raw = $pg->raw_files;
ok length $raw > 0, "the cluster's files were read";
unlike $raw, qr/\Q$STORED\E/, "the provider key is in no file of the cluster";
unlike $raw, qr/\Q$KEY\E/, "the key's secret is in no file of the cluster";

sub memcached_all {
    my ($host, $port) = split /:/, $ENV{LLMGW_MEMCACHED};
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Timeout => 5) or return undef;
    print $s "lru_crawler metadump all\r\n";
    my @keys;
    while (my $l = <$s>) {
        last if $l =~ /^(END|ERROR)/;
        push @keys, $1 if $l =~ /^key=(\S+)/;
    }
    my $all = join "\n", @keys;
    for my $k (@keys) {
        (my $raw = $k) =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
        print $s "get $raw\r\n";
        while (my $l = <$s>) {
            last if $l =~ /^END/;
            $all .= $l;
        }
    }
    return ($all, scalar @keys);
}
my ($mc, $nkeys) = memcached_all();
ok defined $mc && $nkeys > 0, "memcached's keys and values were read ($nkeys keys)";
like $mc // '', qr/llmgw:admin:generation/, '... the generation counter is there';
unlike $mc // '', qr/\Q$STORED\E/, 'memcached holds no provider key in clear';
unlike $mc // '', qr/\Q$KEY\E/, "memcached holds no key's secret";
unlike $mc // '', qr/\Q$ADMIN\E/, 'memcached holds no admin secret';
for my $n ($n1, $n2) {
    my $log = do { open my $fh, '<', $n->error_log or die $!; local $/; <$fh> // '' };
    unlike $log, qr/\Q$STORED\E|\Q$KEY\E|\Q$ADMIN\E/, $n->name . ': no secret in the error log';
}

$n1->stop;
$n2->stop;
$pg->stop;
done_testing();
