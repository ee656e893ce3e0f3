# Restarts lose nothing (issue 17): an LLMGW::Node restarted with
# `apachectl -k graceful` and stopped with `-k graceful-stop` while streams
# are in flight (the mock's slow-N models): every stream completes with its
# finish_reason and [DONE], no error event; under a small load of mixed
# requests (stream and not) through two graceful restarts, 0 failed requests.
# Every wait is a polling deadline; no timing is asserted.
use strict;
use warnings FATAL => 'all';

use FindBin; use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use POSIX ();
use JSON::PP ();
use LLMGW::Test;
use LLMGW::Node;

unless (Apache::Test::need_module('llmgw')) {
    print "1..0 # skipped: mod_llmgw is needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $CC = '/v1/chat/completions';
my $JSON = JSON::PP->new->canonical;
my $PROMPT = 'one two three four five six';

# One request on its own connection; "ok" or why not. A stream is complete
# when it has a finish_reason, ends with [DONE] and has no error event.
sub one_request {
    my ($node, $model, $stream) = @_;
    my $body = $JSON->encode({ model => $model, stream => $stream ? JSON::PP::true : JSON::PP::false,
                               messages => [{ role => 'user', content => $PROMPT }] });
    my $r = eval { raw_request(method => 'POST', path => $CC, port => $node->port,
                               body => $body, timeout => 60) };
    return "connect: $@" unless $r;
    return 'no answer' unless $r->{status};
    return "status $r->{status}" unless $r->{status} == 200;
    return 'ok' unless $stream;
    my @ev = eval { sse_events($r->{body}) };
    return 'no events' unless @ev;
    return 'error event' if grep { /"error"/ } @ev;
    return 'no [DONE]' unless $ev[-1] eq '[DONE]';
    return 'no finish_reason' unless grep { /"finish_reason":"stop"/ } @ev;
    return 'ok';
}

# Starts n streams in child processes; returns the list of [pid, read fh].
sub spawn_streams {
    my ($node, $n, $model) = @_;
    my @kids;
    for my $i (1 .. $n) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $rd;
            print $wr one_request($node, $model, 1), "\n";
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    return @kids;
}

sub collect {
    my %res;
    for my $k (@_) {
        my $fh = $k->[1];
        my $line = <$fh> // "child died\n";
        close $fh;
        waitpid $k->[0], 0;
        chomp $line;
        $res{$line}++;
    }
    return \%res;
}

# Waits until the mock has seen n more requests than before (the streams
# are in flight upstream).
sub wait_upstream {
    my ($before, $n) = @_;
    return wait_for(sub { (mock_stats()->{requests} // 0) >= $before + $n }, 30, 0.05);
}

my $node = LLMGW::Node->start(name => 'restarts', conf => <<'EOF');
GracefulShutdownTimeout 60
LLMGWIdleTimeout 30
EOF
ok $node, 'node started';
my $ppid = $node->pid;

# ---------------------------------------------------------------- graceful
{
    my $n = 6;
    my $before = mock_stats()->{requests};
    my @kids = spawn_streams($node, $n, 'mock/slow-300');
    ok wait_upstream($before, $n), "$n streams in flight";
    my @old = $node->children;
    is $node->ctl('graceful'), 0, 'apachectl -k graceful';
    my $res = collect(@kids);
    is_deeply $res, { ok => $n }, 'graceful: every stream in flight completed'
        or diag explain $res;
    ok kill(0, $ppid), 'graceful: the parent process stays';
    my $new = wait_for(sub {
        my %old = map { $_ => 1 } @old;
        scalar grep { !$old{$_} } $node->children;
    }, 30, 0.1);
    ok $new, 'graceful: a new generation of children';
    is one_request($node, 'mock/echo', 0), 'ok', 'graceful: answers after the restart';
}

# ---------------------------------------------------------------- load
{
    my ($workers, $per) = (4, 25);
    my @kids;
    for my $w (1 .. $workers) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $rd;
            my @bad;
            for my $i (1 .. $per) {
                my $stream = $i % 2;
                my $model = $i % 3 ? 'mock/echo' : 'mock/slow-50';
                my $why = one_request($node, $model, $stream);
                push @bad, "$model stream=$stream: $why" if $why ne 'ok';
                print $wr "progress\n" if $i == 3;
            }
            print $wr "done ", scalar(@bad), "\n";
            print $wr "bad $_\n" for @bad;
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    # two graceful restarts once every worker is under way
    for my $k (@kids) { my $fh = $k->[1]; my $l = <$fh>; }
    is $node->ctl('graceful'), 0, 'load: graceful restart 1';
    my $t = mock_stats()->{requests};
    wait_for(sub { mock_stats()->{requests} >= $t + 10 }, 30, 0.05);
    is $node->ctl('graceful'), 0, 'load: graceful restart 2';
    my ($failed, @why, $done) = (0);
    for my $k (@kids) {
        my $fh = $k->[1];
        while (my $l = <$fh>) {
            chomp $l;
            if ($l =~ /^done (\d+)/) { $failed += $1; $done++ }
            elsif ($l =~ /^bad (.*)/) { push @why, $1 }
        }
        close $fh;
        waitpid $k->[0], 0;
    }
    is $done, $workers, 'load: every worker finished';
    is $failed, 0, 'load: 0 failed requests of ' . ($workers * $per) . ' through two graceful restarts'
        or diag join "\n", @why[0 .. ($#why > 9 ? 9 : $#why)];
}

# ---------------------------------------------------------------- graceful-stop
{
    my $n = 6;
    my $before = mock_stats()->{requests};
    my @kids = spawn_streams($node, $n, 'mock/slow-300');
    ok wait_upstream($before, $n), "$n streams in flight";
    is $node->ctl('graceful-stop'), 0, 'apachectl -k graceful-stop';
    my $res = collect(@kids);
    is_deeply $res, { ok => $n }, 'graceful-stop: every stream in flight completed'
        or diag explain $res;
    ok wait_for(sub { !kill 0, $ppid }, 60, 0.1), 'graceful-stop: the server exits once they are done';
    $node->stop;
}

done_testing();
