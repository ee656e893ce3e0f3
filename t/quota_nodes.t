# mod_llmgw_quota across httpd nodes (LLMGW::Node): two nodes on one
# memcached pool admit exactly the limit under concurrency; and both
# LLMGWQuotaFailMode settings with a dedicated memcached killed mid-test
# (open admits and logs a warning, closed answers 503), then recovery.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use IO::Socket::INET ();
use POSIX ();
use LLMGW::Test;
use LLMGW::Memcached;
use LLMGW::Node;

unless (Apache::Test::need_module('llmgw', 'llmgw_quota')) {
    print "1..0 # skipped: mod_llmgw and mod_llmgw_quota are needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $CC = '/q/v1/chat/completions';
my $tag = "$$-" . int(time);

sub fresh_minute {
    my $s = time - 60 * int(time / 60);
    sleep(60.2 - $s) if $s > 40;
}

sub quota_conf {
    my (%o) = @_;
    return <<"EOF";
LLMGWPlan nodes rpm=$o{rpm} requests_month=100000
LLMGWKey sk-q-nodes workspace=$o{ws} plan=nodes
$o{extra}
<Location /q/v1>
    SetHandler llmgw
    LLMGWQuota On
</Location>
<Location /api/usage>
    SetHandler llmgw-usage
</Location>
EOF
}

# ---------------------------------------------------------------- exact across nodes
{
    my $conf = quota_conf(rpm => 25, ws => "q-nodes-$tag", extra => '');
    my $na = LLMGW::Node->start(name => 'quota-a', conf => $conf);
    my $nb = LLMGW::Node->start(name => 'quota-b', conf => $conf);
    ok $na && $nb, 'two nodes on one memcached pool';

    fresh_minute();
    my $before = mock_stats()->{requests};
    my $n = 40;
    my $go = time + 1.0;                    # every child fires at once
    my @kids;
    for my $i (0 .. $n - 1) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $rd;
            my $node = $i % 2 ? $nb : $na;
            my $ua = LWP::UserAgent->new(timeout => 30);
            my $body = $JSON->encode(chat_body('mock/echo', "burst $i"));
            my $req = HTTP::Request->new(POST => $node->url($CC));
            $req->header('Content-Type' => 'application/json');
            $req->header('Authorization' => 'Bearer sk-q-nodes');
            $req->content($body);
            sleep($go - time) if $go > time;
            my $res = $ua->request($req);
            print $wr $res->code, ' ', ($res->header('x-ratelimit-remaining-requests') // '-'), "\n";
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    my (%codes, @remaining);
    for my $k (@kids) {
        my $fh = $k->[1];
        my $line = <$fh> // 'none -';
        close $fh;
        waitpid $k->[0], 0;
        chomp $line;
        my ($code, $rem) = split / /, $line;
        $codes{$code}++;
        push @remaining, $rem if $code eq '200';
    }
    is $codes{200} // 0, 25, 'rpm=25 over two nodes, 40 concurrent: exactly 25 admitted';
    is $codes{429} // 0, 15, 'and exactly 15 refused with 429';
    is mock_stats()->{requests} - $before, 25, 'exactly 25 went upstream';
    is_deeply [ sort { $a <=> $b } @remaining ], [ 0 .. 24 ],
        'each admitted request saw a distinct remaining count (24..0)';
    my $r = $na->post($CC, chat_body('mock/echo', 'after'), Authorization => 'Bearer sk-q-nodes');
    is $r->code, 429, 'node a refuses the next one';
    is $r->header('x-ratelimit-remaining-requests'), 0, 'node a: 0 remaining';
    my $u = dec($nb->get('/api/usage', Authorization => 'Bearer sk-q-nodes'));
    is $u->{requests}, 25, 'node b: /api/usage counts the 25 of both nodes';
    $na->stop;
    $nb->stop;
}

{
    my $port = free_port();
    my $mc = mc_start($port);
    ok $mc, "dedicated memcached on $port";
    my $store = "memcached://127.0.0.1:$port";
    my $open = LLMGW::Node->start(name => 'quota-open', store => $store,
        conf => quota_conf(rpm => 2, ws => "q-open-$tag", extra => 'LLMGWQuotaFailMode open'));
    my $closed = LLMGW::Node->start(name => 'quota-closed', store => $store,
        conf => quota_conf(rpm => 2, ws => "q-closed-$tag", extra => 'LLMGWQuotaFailMode closed'));
    my @auth = (Authorization => 'Bearer sk-q-nodes');
    my $body = chat_body('mock/echo', 'fail mode');

    fresh_minute();
    my $r = $open->post($CC, $body, @auth);
    is $r->code, 200, 'open: 200 while the store is up';
    is $r->header('x-ratelimit-remaining-requests'), 1, 'open: counted while up';
    $r = $closed->post($CC, $body, @auth);
    is $r->code, 200, 'closed: 200 while the store is up';

    my $log_at = $open->log_size;
    mc_stop($mc);
    ok !mc_answers($port), 'memcached is down';

    my @codes = map { $open->post($CC, $body, @auth)->code } 1 .. 4;
    is "@codes", '200 200 200 200', 'open: admitted with the store down (past rpm=2 too)';
    $r = $open->post($CC, $body, @auth);
    ok !defined $r->header('x-ratelimit-remaining-requests'),
        'open: no rate-limit headers from a store it cannot read';
    my $log = $open->log_text($log_at);
    my @warn = $log =~ /(\[llmgw_quota:warn\][^\n]*counter store failed)/g;
    ok @warn >= 1, 'open: a warning is logged';
    ok @warn <= 4, 'open: warnings are throttled (' . scalar(@warn) . ' for 5 requests over the processes)';
    unlike $log, qr/\[llmgw_quota:(error|crit)\]/, 'open: no error-level entry';

    $r = $closed->post($CC, $body, @auth);
    envelope_ok($r, 503, 'service_unavailable', 'closed with the store down',
                code => 'quota_unavailable', retryable => 1);
    my $before = mock_stats()->{requests};
    is $closed->post($CC, $body, @auth)->code, 503, 'closed: still 503';
    is mock_stats()->{requests}, $before, 'closed: nothing went upstream';
    is $closed->post($CC, $body)->code, 401, 'closed: a missing key is still 401';
    is $closed->get('/api/usage', @auth)->code, 503, 'closed: /api/usage 503 without the store';

    # memcached comes back on the same port: both recover
    $mc = mc_start($port);
    ok $mc, 'memcached restarted';
    my $code = 0;
    wait_for(sub { ($code = $closed->post($CC, $body, @auth)->code) == 200 }, 10, 0.25);
    is $code, 200, 'closed: admits again once the store is back';
    $open->stop;
    $closed->stop;
    mc_stop($mc) if $mc;
}

done_testing();
