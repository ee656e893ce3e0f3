# mod_llmgw_cache on the memcached store, across httpd nodes (LLMGW::Node):
# two nodes on the harness's memcached share entries (HIT on the second node
# for an answer stored by the first); a node whose own memcached is killed
# mid-test keeps answering 200 (MISS / BYPASS), logs a throttled warning and
# never an error, and caches again once memcached is back.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;
use LLMGW::Node;
use IO::Socket::INET ();

plan tests => 30, need_module('llmgw'), need_module('llmgw_cache'),
    need { 'memcached binary' => sub { -x '/usr/bin/memcached' } };

my $nonce = "$$-" . time;
my $P = '/v1/chat/completions';
my $n = 0;
sub prompt { "node cache " . ++$n . " ($nonce)" }
sub upstream { mock_stats()->{requests} }

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, ReuseAddr => 1) or die "$!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub mc_up {
    my $port = shift;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1) or return 0;
    print $s "version\r\n";
    my $l = <$s>;
    return ($l // '') =~ /^VERSION/;
}

# A memcached of this test only, so that it can be killed.
sub start_memcached {
    my $port = shift // free_port();
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        no warnings 'exec';
        exec '/usr/bin/memcached', '-l', '127.0.0.1', '-p', $port, '-U', '0', '-m', '16';
        require POSIX;
        POSIX::_exit(127);
    }
    return ($pid, $port) if wait_for(sub { mc_up($port) }, 5, 0.1);
    die "memcached did not start on $port\n";
}

my @mc_pids;
END { kill 'TERM', $_ for @mc_pids; waitpid $_, 0 for @mc_pids }

mock_reset();

# ---- two nodes, one memcached pool --------------------------------------------
{
    my $conf = "LLMGWCache On\n";
    my $a = LLMGW::Node->start(name => 'cache-a', conf => $conf);
    my $b = LLMGW::Node->start(name => 'cache-b', conf => $conf);
    my $body = chat_body('echo', prompt());
    my $u0 = upstream();

    my $r1 = $a->post($P, $body);
    is $r1->code, 200, 'node a: 200' or diag $r1->content;
    is $r1->header('x-cache-status'), 'MISS', 'node a: MISS';
    my $r2 = $b->post($P, $body);
    is $r2->code, 200, 'node b: 200';
    is $r2->header('x-cache-status'), 'HIT', 'node b: HIT on the entry node a stored';
    is $r2->content, $r1->content, 'node b: the same bytes';
    like $r2->header('Cache-Status') // '', qr/^llmgw; hit; ttl=\d+$/, 'node b: Cache-Status';
    is upstream(), $u0 + 1, 'one upstream call for both nodes';

    # a stream stored by b, replayed as JSON by a
    my $text = prompt();
    my $s = $b->post($P, chat_body('echo', $text, stream => JSON::PP::true()));
    is $s->header('x-cache-status'), 'MISS', 'stream on b: MISS';
    my $j = $a->post($P, chat_body('echo', $text));
    is $j->header('x-cache-status'), 'HIT', 'JSON on a: HIT on b\'s stream';
    is((dec($j) // {})->{choices}[0]{message}{content}, $text, 'JSON on a: content');

    # tenants stay apart across nodes too
    my $k1 = $a->post($P, $body, Authorization => 'Bearer node-key-1');
    is $k1->header('x-cache-status'), 'MISS', 'other credential on a: MISS';
    my $k2 = $b->post($P, $body, Authorization => 'Bearer node-key-1');
    is $k2->header('x-cache-status'), 'HIT', 'same credential on b: HIT';
    is $k2->content, $k1->content, 'same credential on b: its own answer';
    $a->stop;
    $b->stop;
    unlike $a->log_text, qr/\[llmgw[a-z_]*:(error|crit)\]/, 'node a: no error logged';
}

# ---- memcached killed mid-test ------------------------------------------------------
{
    my ($mc, $port) = start_memcached();
    push @mc_pids, $mc;
    my $node = LLMGW::Node->start(name => 'cache-dead-mc', store => "memcached://127.0.0.1:$port",
                                  conf => "LLMGWCache On\n");
    my $body = chat_body('echo', prompt());
    my $r1 = $node->post($P, $body);
    is $r1->header('x-cache-status'), 'MISS', 'own memcached: MISS';
    my $r2 = $node->post($P, $body);
    is $r2->header('x-cache-status'), 'HIT', 'own memcached: HIT';

    kill 'KILL', $mc;
    waitpid $mc, 0;
    @mc_pids = grep { $_ != $mc } @mc_pids;
    my $log_at = $node->log_size;

    my (%codes, %status);
    my $t0 = time;
    for my $i (1 .. 12) {
        my $r = $node->post($P, $i % 3 ? $body : chat_body('echo', prompt()),
                            $i % 4 == 0 ? ('Cache-Control' => 'no-cache') : ());
        $codes{ $r->code }++;
        $status{ $r->header('x-cache-status') // 'none' }++;
    }
    my $took = time - $t0;
    is_deeply \%codes, { 200 => 12 }, 'memcached down: every request answered 200'
        or diag explain \%codes;
    ok !(grep { $_ ne 'MISS' && $_ ne 'BYPASS' } keys %status), 'memcached down: MISS or BYPASS only'
        or diag explain \%status;
    ok $status{MISS}, 'memcached down: MISS on lookups';
    ok $took < 15, "memcached down: no long stalls (${took}s for 12 requests)";
    my $r = $node->post($P, $body, 'Cache-Control' => 'no-store');
    is $r->header('x-cache-status'), 'BYPASS', 'memcached down: no-store still BYPASS';
    wait_for(sub { $node->log_text($log_at) =~ /\[llmgw_cache:warn\]/ }, 5);
    my $log = $node->log_text($log_at);
    my @warn = $log =~ /(\[llmgw_cache:warn\][^\n]*)/g;
    ok @warn >= 1, 'memcached down: a warning is logged' or diag $log;
    ok @warn <= 4, 'memcached down: warnings are throttled (' . scalar(@warn) . ')';
    unlike $log, qr/\[llmgw[a-z_]*:(error|crit|alert|emerg)\]/, 'memcached down: no error logged';
    unlike $log, qr/sk-test-provider|Bearer/, 'memcached down: no secret in the warning';

    # memcached back on the same port: caching resumes
    my ($mc2) = start_memcached($port);
    push @mc_pids, $mc2;
    my $back = chat_body('echo', prompt());
    # the failed server is retried after a while
    my $ok = wait_for(sub {
        ($node->post($P, $back)->header('x-cache-status') // '') eq 'HIT';
    }, 15, 0.5);
    ok $ok, 'memcached back: HIT again';
    is $node->post($P, $back)->code, 200, 'memcached back: 200';
    my $h = dec($node->get('/health')) // {};
    is $h->{store}{kind}, 'memcached', 'health: memcached store';
    $node->stop;
    pass 'node stopped';
}

no_key_leak();
