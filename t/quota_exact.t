# Exact limits under concurrency (issue 9, item 14): 200 requests at once
# over two httpd nodes sharing one memcached admit exactly the limit of
# requests_month, rpm, rph and tpm; a request refused by one window leaves
# nothing charged on the others; and the shm store with several children
# on one node is exact too. Requests are fired by one curl --parallel.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use File::Temp ();
use LLMGW::Test;
use LLMGW::Node;

unless (Apache::Test::need_module('llmgw', 'llmgw_quota')) {
    print "1..0 # skipped: mod_llmgw and mod_llmgw_quota are needed\n";
    exit;
}
unless (`curl --version 2>/dev/null` =~ /^curl 7\.(6[6-9]|[7-9]\d)|^curl [89]\./) {
    print "1..0 # skipped: curl with --parallel is needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $CC = '/x/v1/chat/completions';
my $tag = "$$-" . int(time);
my $N = 200;

# Waits for a fresh minute when fewer than 20 s are left in this one, so that
# a burst and its checks stay in one rpm/tpm window.
sub fresh_minute {
    my $s = time - 60 * int(time / 60);
    sleep(60.2 - $s) if $s > 40;
}

# tpm: the mock's usage of the body below, measured on the main server; the
# reservation is the gateway's prompt estimate (bytes / 4) plus max_tokens.
my $text = join ' ', map { "word$_" } 1 .. 120;
my $MAXTOK = 100;
my $tbody = $JSON->encode(chat_body('mock/echo', $text, max_tokens => $MAXTOK));
my $probe = post_json('/v1/chat/completions', $tbody);
is $probe->code, 200, 'tpm probe: 200';
my $USED = dec($probe)->{usage}{total_tokens};
my $RES = int((length($tbody) + 3) / 4) + $MAXTOK;
# With $RES <= $USED < 2 * $RES and tpm = $USED + $RES, exactly two fit
# whatever the order of admissions and settlements: the 2nd sees at most
# $USED + $RES, the 3rd at least 3 * $RES.
ok $RES <= $USED && $USED < 2 * $RES, "tpm probe: reservation $RES <= usage $USED < 2 x $RES";
my $TPM = $USED + $RES;

my %ws = map { $_ => "x-$_-$tag" } qw(month rpm rph tpm multi1 multi2 shm shmrpm);
my $conf = <<"EOF_CONF";
LLMGWPlan xmonth  requests_month=50
LLMGWPlan xrpm    rpm=30 requests_month=100000
LLMGWPlan xrph    rph=40
LLMGWPlan xtpm    tpm=$TPM
LLMGWPlan xmulti1 requests_month=20 rpm=35 rph=45
LLMGWPlan xmulti2 requests_month=40 rpm=15 rph=45
LLMGWKey sk-x-month  workspace=$ws{month}  plan=xmonth
LLMGWKey sk-x-rpm    workspace=$ws{rpm}    plan=xrpm
LLMGWKey sk-x-rph    workspace=$ws{rph}    plan=xrph
LLMGWKey sk-x-tpm    workspace=$ws{tpm}    plan=xtpm
LLMGWKey sk-x-multi1 workspace=$ws{multi1} plan=xmulti1
LLMGWKey sk-x-multi2 workspace=$ws{multi2} plan=xmulti2
LLMGWKey sk-x-shm    workspace=$ws{shm}    plan=xmonth
LLMGWKey sk-x-shmrpm workspace=$ws{shmrpm} plan=xrpm
<Location /x/v1>
    SetHandler llmgw
    LLMGWQuota On
</Location>
<Location /api/usage>
    SetHandler llmgw-usage
</Location>
EOF_CONF

# $N requests at once (curl --parallel) spread over the nodes; returns a
# hash of status code => count.
sub burst {
    my ($nodes, $key, $body) = @_;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    open my $bf, '>', "$dir/body.json" or die $!;
    print $bf $body;
    close $bf;
    open my $cf, '>', "$dir/curl.conf" or die $!;
    for my $i (0 .. $N - 1) {
        my $node = $nodes->[$i % @$nodes];
        print $cf "next\n" if $i;
        print $cf 'url = "', $node->url($CC), "\"\n",
                  "header = \"Authorization: Bearer $key\"\n",
                  "header = \"Content-Type: application/json\"\n",
                  "header = \"Connection: close\"\n",
                  "data-binary = \"\@$dir/body.json\"\n",
                  "output = \"/dev/null\"\n",
                  "write-out = \"%{http_code}\\n\"\n",
                  "max-time = 60\n";
    }
    close $cf;
    my $out = `curl -s -Z --parallel-immediate --parallel-max $N -K $dir/curl.conf 2>/dev/null`;
    my %codes;
    $codes{$_}++ for split /\n/, $out;
    diag 'burst of ' . $key . ': ' . join ', ', map { "$_ x$codes{$_}" } sort keys %codes;
    return \%codes;
}

sub usage_of {
    my ($node, $key) = @_;
    return dec($node->get('/api/usage', Authorization => "Bearer $key")) // {};
}

my $echo = sub { $JSON->encode(chat_body('mock/echo', "burst $_[0]")) };

# ---------------------------------------------------------------- two nodes, memcached
{
    my $na = LLMGW::Node->start(name => 'exact-a', conf => $conf);
    my $nb = LLMGW::Node->start(name => 'exact-b', conf => $conf);
    ok $na && $nb, 'two nodes on one memcached';
    my @both = ($na, $nb);

    my $before = mock_stats()->{requests};
    my $c = burst(\@both, 'sk-x-month', $echo->('month'));
    is $c->{200} // 0, 50, "requests_month=50, $N at once on two nodes: exactly 50 admitted";
    is $c->{402} // 0, $N - 50, 'the others: 402';
    is mock_stats()->{requests} - $before, 50, 'exactly 50 went upstream';
    my $u = usage_of($nb, 'sk-x-month');
    is $u->{used}, 50, '/api/usage: used 50 (refusals count nothing)';
    is $u->{remaining}, 0, '/api/usage: remaining 0';

    fresh_minute();
    $c = burst(\@both, 'sk-x-rpm', $echo->('rpm'));
    is $c->{200} // 0, 30, "rpm=30, $N at once: exactly 30 admitted";
    is $c->{429} // 0, $N - 30, 'the others: 429';
    is usage_of($na, 'sk-x-rpm')->{used}, 30, 'the month counts only the 30 admitted';

    $c = burst(\@both, 'sk-x-rph', $echo->('rph'));
    is $c->{200} // 0, 40, "rph=40, $N at once: exactly 40 admitted";
    is $c->{429} // 0, $N - 40, 'the others: 429';

    fresh_minute();
    $c = burst(\@both, 'sk-x-tpm', $tbody);
    is $c->{200} // 0, 2, "tpm=$TPM (two reservations of $RES fit), $N at once: exactly 2 admitted";
    is $c->{429} // 0, $N - 2, 'the others: 429';
    $u = usage_of($na, 'sk-x-tpm');
    is $u->{total_tokens}, 2 * $USED, 'the two were settled at their usage';
    my $r = $nb->post($CC, $tbody, Authorization => 'Bearer sk-x-tpm');
    is $r->code, 429, 'the next one is refused';
    is $r->header('x-ratelimit-remaining-tokens'), 0, 'and says 0 tokens remaining';

    # the month refuses what rpm admitted: nothing stays on the minute
    fresh_minute();
    $c = burst(\@both, 'sk-x-multi1', $echo->('multi1'));
    is $c->{200} // 0, 20, 'requests_month=20 rpm=35 rph=45: exactly 20 admitted';
    # a request refused by one window while another's give-back is still in
    # flight may name that other window: every refusal is a 402 or a 429
    is(($c->{402} // 0) + ($c->{429} // 0), $N - 20, 'the others: refused (402 month, or 429)');
    ok(($c->{402} // 0) > ($c->{429} // 0), 'most refusals name the month (402)');
    $r = $na->post($CC, $echo->('after'), Authorization => 'Bearer sk-x-multi1');
    is $r->code, 402, 'next: 402';
    is $r->header('x-ratelimit-limit-requests'), 35, 'rpm is the tighter request window';
    is $r->header('x-ratelimit-remaining-requests'), 15,
        'the minute holds only the 20 admitted (35 - 20 = 15 left)';

    # rpm refuses what the month admitted: the month is given back exactly
    $c = burst(\@both, 'sk-x-multi2', $echo->('multi2'));
    is $c->{200} // 0, 15, 'requests_month=40 rpm=15 rph=45: exactly 15 admitted';
    is(($c->{429} // 0) + ($c->{402} // 0), $N - 15, 'the others: refused (429 minute, or 402)');
    ok(($c->{429} // 0) > ($c->{402} // 0), 'most refusals name the minute (429)');
    $u = usage_of($nb, 'sk-x-multi2');
    is $u->{used}, 15, 'the month holds only the 15 admitted';
    is $u->{remaining}, 25, 'remaining 25';
    $na->stop;
    $nb->stop;
}

# ---------------------------------------------------------------- one node, shm, several children
{
    my $n = LLMGW::Node->start(name => 'exact-shm', store => 'shm', conf => $conf);
    ok $n, 'one node on the shm store';
    my $c = burst([$n], 'sk-x-shm', $echo->('shm'));
    is $c->{200} // 0, 50, "shm: requests_month=50, $N at once: exactly 50 admitted";
    is $c->{402} // 0, $N - 50, 'shm: the others 402';
    is usage_of($n, 'sk-x-shm')->{used}, 50, 'shm: used 50';
    fresh_minute();
    $c = burst([$n], 'sk-x-shmrpm', $echo->('shmrpm'));
    is $c->{200} // 0, 30, "shm: rpm=30, $N at once: exactly 30 admitted";
    $n->stop;
}

done_testing();
