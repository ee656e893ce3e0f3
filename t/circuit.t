# Circuit breakers (LLMGWCircuit): opened by retryable failures within the
# window, skipped while open (nothing reaches the provider, the next
# candidate answers), one probe after the cooldown, closed by a success;
# 503 circuit_open when every candidate is open; state in /health. The
# state is shared by every child: the first node's children serve one
# connection each (MaxConnectionsPerChild 1), so the failures that open the
# circuit and the requests that find it open are served by different
# processes (their pids are logged), and the mock counts what reached each
# provider. The probe is tested on a second node with a short cooldown.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep);
use LWP::UserAgent ();
use HTTP::Request ();
use LLMGW::Test;
use LLMGW::Node;

plan tests => 38, need_module('llmgw');

my $mock = $ENV{LLMGW_MOCK_PORT};
my $dir = tempdir(CLEANUP => 1, DIR => $ENV{LLMGW_WORK} // '/tmp');
my $pidlog = "$dir/pid_log";
my $FAIL = '/cbfail/v1/chat/completions';
my $OK = '/cbok/v1/chat/completions';

my $node = LLMGW::Node->start(name => 'circuit', conf => <<"EOC");
LLMGWProvider cbfail openai http://127.0.0.1:$mock/cbfail/v1 key=env:LLMGW_TEST_PROVIDER_KEY
LLMGWProvider cbok openai http://127.0.0.1:$mock/cbok/v1 key=env:LLMGW_TEST_PROVIDER_KEY
LLMGWCircuit cbfail failures=3 window=60 cooldown=60
MaxConnectionsPerChild 1
LogFormat "%P %{llmgw-provider}n %>s %U" pidlog
CustomLog "$pidlog" pidlog
EOC

sub by_path { (mock_stats()->{by_path} // {})->{ $_[0] } // 0 }
sub body { chat_body($_[0], 'circuit', @_[1 .. $#_]) }
# one request on a connection of its own
sub fresh {
    my ($n, $model, %extra) = @_;
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $req = HTTP::Request->new(POST => $n->url('/v1/chat/completions'));
    $req->header('Content-Type' => 'application/json');
    $req->content($JSON->encode(body($model, %extra)));
    return $ua->request($req);
}
sub health {
    my ($n) = @_;
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    return dec($ua->get($n->url('/health'))) // {};
}
# pids of the chat requests logged so far, in order
sub pids {
    open my $fh, '<', $pidlog or return ();
    return map { (split / /)[0] } grep { m{ /v1/chat/completions$} } <$fh>;
}

mock_reset();
my $fb = [ 'cbok/after-fail' ];

# ---- closed: failures fall back to the next candidate --------------------
is health($node)->{providers}{cbfail}{circuit}, 'closed', 'health: cbfail closed at start';
for my $i (1 .. 2) {
    my $res = fresh($node, 'cbfail/error-503', models => $fb);
    is $res->code, 200, "failure $i: the fallback answers";
    like $res->header('x-llmgw') // '', qr/route=cbok:after-fail; .*attempts=2/,
        "failure $i: cbfail tried first";
}
is health($node)->{providers}{cbfail}{circuit}, 'closed', 'two failures: still closed';
my $res = fresh($node, 'cbfail/error-503', models => $fb);
like $res->header('x-llmgw') // '', qr/attempts=2/, 'third failure: cbfail tried';
is by_path($FAIL), 3, 'cbfail saw the 3 failing requests';
is health($node)->{providers}{cbfail}{circuit}, 'open', 'health: the third failure opened it';
ok wait_for(sub { my $l = slurp($node->error_log);
                  $l =~ /circuit of provider cbfail opened after 3 failures/ }),
    'the opening is logged';
wait_for(sub { pids() >= 3 });      # logged after the answer
my %failed_in = map { $_ => 1 } pids();
is scalar(keys %failed_in), 3, 'the 3 failures were served by 3 processes';

# ---- open: skipped, in processes that never saw a failure ----------------
my @open;
for my $i (1 .. 5) {
    my $res = fresh($node, 'cbfail/error-503', models => $fb);
    push @open, $res->code == 200
                && ($res->header('x-llmgw') // '') =~ /route=cbok:after-fail; .*attempts=1$/;
}
is scalar(grep { $_ } @open), 5, 'open: answered by the fallback at the first attempt';
fresh($node, 'cbfail/echo', models => $fb);
is by_path($FAIL), 3, 'open: no request reached cbfail';
wait_for(sub { pids() >= 9 });
my @later = (pids())[3 .. 8];
is scalar(grep { $failed_in{$_} } @later), 0,
    'open: the skipping processes are not those that saw the failures';

# every candidate open: 503 circuit_open at once, nothing sent
$res = fresh($node, 'cbfail/echo');
envelope_ok($res, 503, 'service_unavailable', 'every candidate open', code => 'circuit_open');
ok(($res->header('retry-after') // 0) > 0, 'circuit_open: retry-after');
is by_path($FAIL), 3, 'circuit_open: nothing sent upstream';
$node->stop;

# ---- half-open: exactly one probe after the cooldown, closed by success --
my $PROBE = '/cbprobe/v1/chat/completions';
my $pn = LLMGW::Node->start(name => 'circuit-probe', conf => <<"EOC");
LLMGWProvider cbprobe openai http://127.0.0.1:$mock/cbprobe/v1 key=env:LLMGW_TEST_PROVIDER_KEY
LLMGWProvider cbok openai http://127.0.0.1:$mock/cbok/v1 key=env:LLMGW_TEST_PROVIDER_KEY
LLMGWCircuit cbprobe failures=2 window=60 cooldown=2
EOC
fresh($pn, 'cbprobe/error-502', models => $fb) for 1 .. 2;
is by_path($PROBE), 2, 'probe node: 2 failures reached cbprobe';
is health($pn)->{providers}{cbprobe}{circuit}, 'open', 'probe node: open';
sleep 2.2;      # the cooldown itself (2 s)
# 4 requests at once; the probe takes 1.5 s, the others go to the fallback
my @kids;
for my $i (1 .. 4) {
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        my $res = fresh($pn, 'cbprobe/slow-1500', models => $fb);
        print $w join("\t", $res->code, $res->header('x-provider') // ''), "\n";
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    push @kids, [$pid, $r];
}
my @r;
for my $k (@kids) {
    my $line = readline($k->[1]) // "0\t";
    chomp $line;
    push @r, [split /\t/, $line, -1];
    waitpid $k->[0], 0;
}
is scalar(grep { $_->[0] == 200 } @r), 4, 'after the cooldown: 4 concurrent requests answered';
is by_path($PROBE), 3, 'after the cooldown: exactly one probe reached cbprobe';
is scalar(grep { $_->[1] eq 'cbprobe' } @r), 1, 'the probe was answered by cbprobe';
is health($pn)->{providers}{cbprobe}{circuit}, 'closed', 'its success closed the circuit';
$res = fresh($pn, 'cbprobe/echo');
is $res->header('x-provider'), 'cbprobe', 'closed: requests reach cbprobe again';
is by_path($PROBE), 4, 'closed: counted by the mock';
$pn->stop;

# ---- a node whose only provider's circuit opens: /health degraded --------
{
    my $n = LLMGW::Node->start(name => 'circuit-all',
                               conf => "LLMGWCircuit mock failures=1 window=30 cooldown=60\n");
    my $h = dec($n->get('/health')) // {};
    is $h->{status}, 'healthy', 'one provider, closed: healthy';
    is $h->{providers}{mock}{circuit}, 'closed', 'mock closed';
    $n->post('/v1/chat/completions', chat_body('mock/error-500', 'x'));
    my $res = $n->get('/health');
    is $res->code, 503, 'every provider open: /health 503';
    $h = dec($res) // {};
    is $h->{status}, 'degraded', 'every provider open: degraded';
    is $h->{providers}{mock}{circuit}, 'open', 'mock open';
    $n->stop;
}

sub slurp {
    open my $fh, '<', $_[0] or return '';
    local $/;
    return <$fh>;
}
