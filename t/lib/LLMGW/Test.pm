package LLMGW::Test;
# Helpers shared by the llmgw suites: JSON requests to the gateway, the mock
# provider's control endpoints, error-envelope checks and a raw-socket client
# that timestamps every read (to prove streams are not buffered).
use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use JSON::PP ();
use Time::HiRes qw(time sleep);
use IO::Socket::INET ();
use IO::Select ();
use LWP::UserAgent ();
use HTTP::Request ();
use Apache::TestRequest ();
use Test::More ();

our @EXPORT = qw(
    $JSON post_json gw_request dec chat_body
    mock_url mock_get mock_reset mock_stats mock_last
    envelope_ok uuid_re provider_key no_key_leak
    raw_request sse_events wait_for
);

our $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

# Apache::Test's plan() sends Test::More's failure diagnostics to STDOUT,
# where the harness hides them: send them to STDERR so a failed assertion
# shows its reason on the console. Names and diagnostics may hold UTF-8.
{
    package Apache::Test;    # Apache::Test::cp() skips frames of its package
    no warnings 'redefine';
    my $orig = \&Apache::Test::test_pm_refresh;
    *Apache::Test::test_pm_refresh = sub {
        $orig->(@_);
        my $b = Test::Builder->new;
        $b->failure_output(\*STDERR);
        binmode $_, ':encoding(UTF-8)' for \*STDOUT, \*STDERR;
    };
}

# Polls $cond every $every seconds (0.05 by default) until it returns true
# or $timeout seconds (10 by default) have passed; returns its last value,
# so that a test waits for a condition as long as it takes, and no longer,
# instead of sleeping for a guess.
sub wait_for {
    my ($cond, $timeout, $every) = @_;
    my $deadline = time + ($timeout // 10);
    while (1) {
        my $v = $cond->();
        return $v if $v || time >= $deadline;
        sleep($every // 0.05);
    }
}

sub provider_key { $ENV{LLMGW_TEST_PROVIDER_KEY} // 'sk-test-provider-secret-123' }

sub uuid_re { qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i }

# Decoded JSON of a response (or a string), undef when it is not JSON.
sub dec {
    my $x = shift;
    my $s = ref $x ? $x->decoded_content(charset => 'none') : $x;
    return undef unless defined $s;
    my $v = eval { $JSON->decode($s) };
    return $v;
}

sub chat_body {
    my ($model, $text, %extra) = @_;
    return { model => $model,
             messages => [ { role => 'user', content => $text // 'hello' } ],
             %extra };
}

# Every response the suites get goes through check_leak: the configured
# provider key must never come back (body or any header).
# Responses of the mock's `inspect` model reflect what the provider received,
# key included, by design: their callers set $NO_LEAK_CHECK.
our $NO_LEAK_CHECK;
my @leaks;
sub _check_leak {
    my ($res, $what) = @_;
    return $res if $NO_LEAK_CHECK;
    my $key = provider_key();
    my $all = $res->headers->as_string . "\n" . ($res->content // '');
    push @leaks, "$what: " . $res->code if index($all, $key) >= 0;
    return $res;
}

# Asserts (one test) that no response so far carried the provider key.
sub no_key_leak {
    Test::More::ok(!@leaks, 'the provider key never appears in a response')
        or Test::More::diag("leaked in: @leaks");
}

# A request to the gateway. $body: hashref (JSON-encoded), string (sent as is)
# or undef. Headers: list of name => value (Content-Type defaults to JSON).
sub gw_request {
    my ($method, $path, $body, @headers) = @_;
    my %h = @headers;
    my $content = ref $body ? $JSON->encode($body) : $body;
    my $ua = Apache::TestRequest::user_agent(keep_alive => 1, reset => 0);
    my $url = Apache::TestRequest::resolve_url($path);
    my $req = HTTP::Request->new($method => $url);
    my $has_ct = grep { lc $_ eq 'content-type' } keys %h;
    $req->header('Content-Type' => 'application/json') if defined $content && !$has_ct;
    $req->header($_ => $h{$_}) for keys %h;
    if (defined $content) {
        $req->content($content);
        $req->header('Content-Length' => length $content);
    }
    my $res = $ua->request($req);
    return _check_leak($res, "$method $path");
}

sub post_json { my ($path, $body, @h) = @_; gw_request('POST', $path, $body, @h) }

# ---- the mock provider ----------------------------------------------------
sub mock_url { "http://127.0.0.1:$ENV{LLMGW_MOCK_PORT}" . (shift // '') }

my $mock_ua = LWP::UserAgent->new(timeout => 10, keep_alive => 1);
sub mock_get {
    my ($path, $method) = @_;
    my $res = $mock_ua->request(HTTP::Request->new(($method // 'GET') => mock_url($path)));
    die "mock $path: " . $res->status_line unless $res->is_success;
    return dec($res);
}
sub mock_reset { mock_get('/__mock/reset', 'POST') }
sub mock_stats { mock_get('/__mock/stats') }
sub mock_last  { mock_get('/__mock/last') // {} }

# ---- error envelope -------------------------------------------------------
# envelope_ok($res, $status, $type, $name, %opt): 9 tests. opt: code => exact
# code (or regex), provider => exact (undef: must be null), upstream_status =>
# exact (undef: null), retryable => 0/1 (absent: only a boolean is required).
sub envelope_ok {
    my ($res, $status, $type, $name, %opt) = @_;
    my $j = dec($res);
    my $e = ref $j eq 'HASH' && ref $j->{error} eq 'HASH' ? $j->{error} : {};
    Test::More::is($res->code, $status, "$name: status $status")
        or Test::More::diag('body: ' . substr($res->content // '', 0, 300));
    Test::More::like($res->header('Content-Type') // '', qr{^application/json}i,
                     "$name: JSON content type");
    Test::More::ok(defined $e->{message} && !ref $e->{message} && length $e->{message},
                   "$name: error.message");
    if (ref $type eq 'Regexp') {
        Test::More::like($e->{type} // '', $type, "$name: error.type");
    } else {
        Test::More::is($e->{type}, $type, "$name: error.type $type");
    }
    if (exists $opt{code}) {
        if (ref $opt{code} eq 'Regexp') {
            Test::More::like($e->{code} // '', $opt{code}, "$name: error.code");
        } else {
            Test::More::is($e->{code}, $opt{code}, "$name: error.code " . ($opt{code} // 'null'));
        }
    } else {
        Test::More::ok(exists $e->{code} && exists $e->{param},
                       "$name: error.code and error.param present");
    }
    my $rid = $res->header('x-request-id') // '';
    Test::More::ok($rid =~ uuid_re() && ($e->{request_id} // '') eq $rid,
                   "$name: error.request_id = x-request-id (UUID)")
        or Test::More::diag("header '$rid', body '" . ($e->{request_id} // 'undef') . "'");
    Test::More::ok(exists $e->{provider} && _same($e->{provider}, $opt{provider}),
                   "$name: error.provider " . ($opt{provider} // 'null'))
        or Test::More::diag('got ' . ($e->{provider} // 'null'));
    Test::More::ok(exists $e->{upstream_status}
                       && _same($e->{upstream_status}, $opt{upstream_status}),
                   "$name: error.upstream_status " . ($opt{upstream_status} // 'null'))
        or Test::More::diag('got ' . ($e->{upstream_status} // 'null'));
    if (exists $opt{retryable}) {
        Test::More::ok(JSON::PP::is_bool($e->{retryable}) && !!$e->{retryable} == !!$opt{retryable},
                       "$name: error.retryable " . ($opt{retryable} ? 'true' : 'false'));
    } else {
        Test::More::ok(JSON::PP::is_bool($e->{retryable}), "$name: error.retryable is a boolean");
    }
    return $e;
}

sub _same {
    my ($a, $b) = @_;
    return !defined $a if !defined $b;
    return defined $a && "$a" eq "$b";
}

# ---- raw HTTP/1.1 client --------------------------------------------------
# raw_request(method => , path => , headers => {..}, body => string,
#             port => N (another server on 127.0.0.1, e.g. an LLMGW::Node),
#             timeout => s, stop_after => qr/.../ (close once the decoded body
#             matches), on_read => sub)
# Returns { status, headers (lc name => value), body (de-chunked, not
# decompressed), reads => [[t_since_start, decoded_bytes_so_far]...],
# t_first_data (time the first "data:" of the body arrived), t_end, closed_early }.
sub raw_request {
    my %a = @_;
    my ($host, $port) = $a{port} ? ('127.0.0.1', $a{port})
                                 : split /:/, Apache::TestRequest::hostport();
    $host = '127.0.0.1' if $host eq 'localhost';
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Timeout => 5)
        or die "connect $host:$port: $!";
    $s->autoflush(1);
    my $body = $a{body} // '';
    my %h = ('Host' => "$host:$port", 'Connection' => 'close',
             'Content-Type' => 'application/json', %{ $a{headers} // {} });
    $h{'Content-Length'} = length $body if length $body;
    my $req = "$a{method} $a{path} HTTP/1.1\r\n"
            . join('', map { "$_: $h{$_}\r\n" } sort keys %h) . "\r\n" . $body;
    my $t0 = time;
    print $s $req;
    my $sel = IO::Select->new($s);
    my $deadline = $t0 + ($a{timeout} // 20);
    my ($raw, $hdr_done, %out) = ('');
    my ($head, $rest) = ('', '');
    $out{reads} = [];
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        my $now = time - $t0;
        $raw .= $buf;
        if (!$hdr_done && $raw =~ /\r\n\r\n/) {
            ($head, $rest) = split /\r\n\r\n/, $raw, 2;
            $hdr_done = 1;
            $out{t_headers} = $now;
        }
        if ($hdr_done) {
            my $b = _body_so_far($head, substr($raw, length($head) + 4));
            push @{ $out{reads} }, [$now, length $b];
            $out{t_first_data} //= $now if $b =~ /data:/;
            if ($a{stop_after} && $b =~ $a{stop_after}) {
                $out{closed_early} = 1;
                last;
            }
        }
    }
    $out{t_end} = time - $t0;
    close $s;
    push @leaks, "raw $a{method} $a{path}" if index($raw, provider_key()) >= 0;
    return \%out unless $hdr_done;
    my @lines = split /\r\n/, $head;
    my $status_line = shift @lines;
    ($out{status}) = $status_line =~ m{^HTTP/\d\.\d (\d{3})};
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $out{headers}{lc $k} = exists $out{headers}{lc $k} ? "$out{headers}{lc $k}, $v" : $v;
    }
    $out{body} = _body_so_far($head, substr($raw, length($head) + 4));
    return \%out;
}

# De-chunks as much of a chunked body as has arrived.
sub _body_so_far {
    my ($head, $data) = @_;
    return $data unless $head =~ /^Transfer-Encoding:\s*chunked/mi;
    my $out = '';
    while ($data =~ /\A([0-9a-fA-F]+)[^\r\n]*\r\n/) {
        my $len = hex $1;
        my $hl = length($&);
        last if $len == 0;
        if (length($data) < $hl + $len) {        # partial chunk
            $out .= substr($data, $hl);
            last;
        }
        $out .= substr($data, $hl, $len);
        $data = substr($data, $hl + $len);
        $data =~ s/\A\r\n//;
    }
    return $out;
}

# SSE events of a body: list of data payloads (strings), in order. Dies on a
# line that is not part of a well-formed event stream.
sub sse_events {
    my $body = shift;
    my @ev;
    for my $block (split /\n\n/, $body) {
        next if $block eq '';
        my @data;
        for my $line (split /\n/, $block) {
            next if $line =~ /^:/;                   # comment / keep-alive
            if ($line =~ /^data: ?(.*)$/) { push @data, $1 }
        }
        push @ev, join("\n", @data) if @data;
    }
    return @ev;
}

1;
