# Faults of the upstream and of the store (issue 17), on LLMGW::Nodes:
#  - upstreams that reset, stall, drip one byte a second or half-close, in
#    streams and not: every client gets an answer or an error (status or
#    error event) within the configured timeouts, and no worker keeps the
#    upstream connection past them (the mock's fault_open gauge drains);
#  - memcached paused (SIGSTOP: the socket stays open) and killed under
#    load: every request is answered within LLMGWTimeout, fail-open admits,
#    fail-closed answers 503, and both recover once memcached is back (the
#    time it takes is printed; the store's retry timer is 1 s).
# Every wait is a polling deadline derived from the configured timeouts.
use strict;
use warnings FATAL => 'all';

use FindBin; use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use IO::Socket::INET ();
use IO::Select ();
use POSIX ();
use JSON::PP ();
use LLMGW::Test;
use LLMGW::Memcached;
use LLMGW::Node;

unless (Apache::Test::need_module('llmgw', 'llmgw_quota')) {
    print "1..0 # skipped: mod_llmgw and mod_llmgw_quota are needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $CC = '/v1/chat/completions';
my $QC = '/q/v1/chat/completions';
my $J = JSON::PP->new->canonical;
my ($TIMEOUT, $IDLE) = (3, 2);           # LLMGWTimeout, LLMGWIdleTimeout
my $SLACK = 5;                           # scheduling on a loaded machine

sub body {
    my ($model, $stream) = @_;
    return $J->encode({ model => $model, stream => $stream ? JSON::PP::true : JSON::PP::false,
                        messages => [{ role => 'user', content => 'fault' }] });
}

# ---------------------------------------------------------------- upstream faults
{
    my $node = LLMGW::Node->start(name => 'faults-up', conf => <<"EOF");
LLMGWTimeout $TIMEOUT
LLMGWIdleTimeout $IDLE
LLMGWRetries 0
EOF
    ok $node, 'node started';
    for my $model (qw(fault-reset fault-stall fault-halfclose fault-drip-1000)) {
        for my $stream (0, 1) {
            my $what = "$model " . ($stream ? 'stream' : 'answer');
            my $r = raw_request(method => 'POST', path => $CC, port => $node->port,
                                body => body("mock/$model", $stream),
                                timeout => $TIMEOUT + $IDLE + 30);
            ok $r->{status}, "$what: answered";
            if (!$stream || ($r->{status} // 0) != 200) {
                ok(($r->{status} // 0) >= 500, "$what: an error status ($r->{status})")
                    or diag substr($r->{body} // '', 0, 300);
                my $env = eval { JSON::PP->new->decode($r->{body}) } // {};
                ok ref $env->{error} eq 'HASH', "$what: the error envelope";
            }
            else {
                my @ev = sse_events($r->{body} // '');
                ok @ev && $ev[-1] =~ /"error"/, "$what: the stream ends with an error event"
                    or diag substr($r->{body} // '', -300);
                ok !grep({ $_ eq '[DONE]' } @ev), "$what: no [DONE] after a cut stream";
            }
            # the whole stream may run as long as it produces: a drip
            # produces an event only every ~150 s, far past LLMGWIdleTimeout
            cmp_ok $r->{t_end}, '<', $TIMEOUT + $IDLE + $SLACK,
                "$what: within the configured timeouts (" . sprintf('%.1f', $r->{t_end}) . ' s)';
        }
    }
    ok wait_for(sub { (mock_stats()->{fault_open} // 1) == 0 }, $TIMEOUT + $IDLE + $SLACK, 0.1),
        'no upstream connection is held past the timeouts';
    # every worker is free: a burst of parallel requests is answered
    my @kids;
    for my $i (1 .. 8) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $rd;
            my $r = raw_request(method => 'POST', path => $CC, port => $node->port,
                                body => body('mock/echo', $i % 2), timeout => 30);
            print $wr ($r->{status} // 0), "\n";
            close $wr;                   # _exit does not flush
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    my %codes;
    for my $k (@kids) { my $fh = $k->[1]; my $c = <$fh> // "0\n"; chomp $c; $codes{$c}++; waitpid $k->[0], 0 }
    is_deeply \%codes, { 200 => 8 }, 'after the faults, 8 parallel requests are answered';
    $node->stop;
}

# Runs n workers posting to the nodes until the file $stop exists; each
# line of the result: "CODE SECONDS".
sub load_start {
    my ($stop, @targets) = @_;
    my @kids;
    for my $t (@targets) {
        my ($node, $expect) = @$t;
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $rd;
            $wr->autoflush(1);
            my $i = 0;
            until (-e $stop) {
                my $t0 = time;
                my $r = eval { raw_request(method => 'POST', path => $QC, port => $node->port,
                    body => body('mock/echo', $i++ % 2), timeout => 60,
                    headers => { Authorization => 'Bearer sk-faults' }) };
                printf $wr "%s %.3f\n", ($r && $r->{status}) // 0, time - $t0;
            }
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    return @kids;
}

sub load_stop {
    my ($stop, @kids) = @_;
    open my $fh, '>', $stop; close $fh;
    my @res;
    for my $k (@kids) {
        my $fh = $k->[1];
        my @l = <$fh>;
        chomp @l;
        push @res, [map { [split / /] } @l];
        waitpid $k->[0], 0;
    }
    unlink $stop;
    return @res;
}

# Seconds until n consecutive requests to node get status want; undef when
# not within the deadline.
sub recovery {
    my ($node, $want, $deadline) = @_;
    my ($t0, $run) = (time, 0);
    while (time - $t0 < $deadline) {
        my $r = $node->post($QC, body('mock/echo', 0), Authorization => 'Bearer sk-faults');
        $run = $r->code == $want ? $run + 1 : 0;
        return time - $t0 if $run >= 5;
        sleep 0.05;
    }
    return undef;
}

{
    my $port = free_port();
    my $mc = mc_start($port);
    ok $mc, "dedicated memcached on $port";
    my $tag = "$$-" . int(time);
    my $conf = sub {
        my ($mode) = @_;
        return <<"EOF";
LLMGWPlan faults requests_month=1000000 rpm=100000
LLMGWKey sk-faults workspace=faults-$mode-$tag plan=faults
LLMGWQuotaFailMode $mode
LLMGWTimeout 5
<Location /q/v1>
    SetHandler llmgw
    LLMGWQuota On
</Location>
EOF
    };
    my $store = "memcached://127.0.0.1:$port";
    my $open = LLMGW::Node->start(name => 'faults-open', store => $store, conf => $conf->('open'));
    my $closed = LLMGW::Node->start(name => 'faults-closed', store => $store, conf => $conf->('closed'));
    my @auth = (Authorization => 'Bearer sk-faults');
    is $open->post($QC, body('mock/echo', 0), @auth)->code, 200, 'open: 200 with the store up';
    is $closed->post($QC, body('mock/echo', 0), @auth)->code, 200, 'closed: 200 with the store up';

    my $stop = "$ENV{LLMGW_WORK}/run/faults.stop";
    $stop = "/tmp/llmgw-faults-$$.stop" unless $ENV{LLMGW_WORK} && -d "$ENV{LLMGW_WORK}/run";
    unlink $stop;

    for my $fault ('SIGSTOP', 'kill') {
        my @kids = load_start($stop, [$open], [$open], [$closed]);
        wait_for(sub { 0 }, 0.5, 0.5);        # the load runs against a healthy store first
        if ($fault eq 'SIGSTOP') { kill 'STOP', $mc } else { kill 'KILL', $mc; waitpid $mc, 0 }
        ok !wait_for(sub { mc_answers($port) }, 0.2, 0.1), "$fault: memcached does not answer";
        # during the fault
        my @during_open = map { $open->post($QC, body('mock/echo', 0), @auth)->code } 1 .. 3;
        is "@during_open", '200 200 200', "$fault: fail-open admits";
        my $r = $closed->post($QC, body('mock/echo', 0), @auth);
        envelope_ok($r, 503, 'service_unavailable', "$fault: fail-closed refuses",
                    code => 'quota_unavailable', retryable => 1);
        # back
        if ($fault eq 'SIGSTOP') { kill 'CONT', $mc } else { $mc = mc_start($port) }
        ok $mc && mc_answers($port), "$fault: memcached is back";
        my $t = recovery($closed, 200, 10);
        ok defined $t, "$fault: fail-closed admits again once memcached is back";
        diag sprintf("%s: recovered %.2f s after memcached came back", $fault, $t // -1);
        cmp_ok $t // 99, '<=', 2 + 1, "$fault: recovery within 2 s (+1 s of scheduling slack)";
        my @res = load_stop($stop, @kids);
        my (@slow, %codes);
        for my $w (0 .. $#res) {
            for my $l (@{ $res[$w] }) {
                $codes{ ($w < 2 ? 'open ' : 'closed ') . $l->[0] }++;
                push @slow, "@$l" if $l->[1] > 5;
            }
        }
        diag "$fault under load: " . join(', ', map { "$_: $codes{$_}" } sort keys %codes);
        ok !grep({ !/^(open 200|closed 200|closed 503)$/ } keys %codes),
            "$fault under load: open answered 200, closed 200 or 503";
        is scalar(@slow), 0, "$fault under load: every request answered within LLMGWTimeout"
            or diag "@slow[0 .. ($#slow > 5 ? 5 : $#slow)]";
    }
    $open->stop;
    $closed->stop;
    kill 'TERM', $mc if $mc;
    waitpid $mc, 0 if $mc;
}

done_testing();
