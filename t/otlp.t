# Traces (SPEC "Observability"): LLMGWOTLPEndpoint exports a span per
# gateway request (and a child span for the upstream exchange) over
# OTLP/HTTP JSON with the GenAI attributes, from a background thread per
# child; a client's traceparent is continued. A dead collector or one that
# never answers costs the requests nothing: they all succeed, and the spans
# that could not go are dropped and counted in llmgw_otlp_spans_total.
# The collector is t/mock/otlp.js on 127.0.0.1.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Temp ();
use LWP::UserAgent ();
use HTTP::Request ();
use LLMGW::Test;
use LLMGW::Node;
use LLMGW::Metrics qw(parse_metrics metric_value);

plan tests => 36, need_module('llmgw');

# ---- the receiver
my $dir = File::Temp::tempdir(CLEANUP => 1);
my $pid = fork // die "fork: $!";
if (!$pid) {
    exec 'node', "$FindBin::Bin/mock/otlp.js", '--port-file', "$dir/port";
    exit 127;
}
END { kill 'TERM', $pid if $pid }
wait_for(sub { -s "$dir/port" }, 15);
my $oport = do { open my $f, '<', "$dir/port" or die "the OTLP receiver did not start"; local $/; <$f> };
ok $oport =~ /^\d+$/, "OTLP receiver on 127.0.0.1:$oport";
my $ua = LWP::UserAgent->new(timeout => 10);
sub received { dec($ua->get("http://127.0.0.1:$oport/__otlp/spans")) // { spans => [] } }
sub receiver_mode { $ua->post("http://127.0.0.1:$oport/__otlp/mode?hang=$_[0]") }

my $mock = $ENV{LLMGW_MOCK_PORT};
my $common = <<"EOF";
LLMGWProvider mockant anthropic http://127.0.0.1:$mock key=env:LLMGW_TEST_PROVIDER_KEY
<Location /metrics>
    SetHandler llmgw-metrics
</Location>
EOF

sub attrs {
    my ($sp) = @_;
    my %a;
    for (@{ $sp->{attributes} // [] }) {
        my $v = $_->{value} // {};
        $a{ $_->{key} } = $v->{stringValue} // $v->{intValue} // $v->{doubleValue} // $v->{boolValue};
    }
    return \%a;
}

sub spans_total {
    my ($node, $result) = @_;
    my $m = parse_metrics($node->get('/metrics')->content // '');
    return metric_value($m, 'llmgw_otlp_spans_total', result => $result) // 0;
}

# ---- a live collector
{
    my $node = LLMGW::Node->start(name => 'otlp', conf => "LLMGWOTLPEndpoint http://127.0.0.1:$oport/\n$common");
    my $r1 = $node->post('/v1/chat/completions', chat_body('mock/echo', 'a traced request'));
    is $r1->code, 200, 'non-stream: 200';
    my $tid = '4bf92f3577b34da6a3ce929d0e0e4736';
    my $r2 = raw_request(method => 'POST', path => '/v1/chat/completions', port => $node->port,
                         headers => { traceparent => "00-$tid-00f067aa0ba902b7-01" },
                         body => $JSON->encode(chat_body('mockant/echo', 'a traced stream',
                                 stream => JSON::PP::true(),
                                 stream_options => { include_usage => JSON::PP::true() })));
    is $r2->{status}, 200, 'stream: 200';
    my $r3 = $node->post('/v1/chat/completions', '{"model":');
    is $r3->code, 400, 'bad request: 400';

    my $got = wait_for(sub { my $g = received(); (grep { $_->{kind} == 2 } @{ $g->{spans} }) >= 3 ? $g : undef }, 15)
              // received();
    my @server = grep { $_->{kind} == 2 } @{ $got->{spans} };
    is scalar(@server), 3, 'one server span per request';
    is $got->{bad} // 0, 0, 'every export was OTLP JSON the receiver could read';
    my %by_id = map { (attrs($_)->{'llmgw.request_id'} // '') => $_ } @server;

    my $s1 = $by_id{ $r1->header('x-request-id') // '' } // {};
    my $a1 = attrs($s1);
    like $s1->{traceId} // '', qr/^[0-9a-f]{32}$/, 'traceId: 32 hex digits';
    is $s1->{traceId}, ($r1->header('x-request-id') // '') =~ s/-//gr,
       'without traceparent, the trace id is the x-request-id';
    like $s1->{spanId} // '', qr/^[0-9a-f]{16}$/, 'spanId: 16 hex digits';
    like $s1->{startTimeUnixNano} // '', qr/^\d{19}$/, 'start time in nanoseconds';
    ok(($s1->{endTimeUnixNano} // 0) >= ($s1->{startTimeUnixNano} // 1), 'end after start');
    is $s1->{name}, 'chat mock/echo', 'span name: operation and requested model';
    is $a1->{'gen_ai.operation.name'}, 'chat', 'gen_ai.operation.name';
    is $a1->{'gen_ai.system'}, 'openai', 'gen_ai.system openai';
    is $a1->{'gen_ai.request.model'}, 'mock/echo', 'gen_ai.request.model';
    is $a1->{'gen_ai.response.model'}, 'echo', 'gen_ai.response.model';
    my $u = dec($r1)->{usage} // {};
    is $a1->{'gen_ai.usage.input_tokens'}, $u->{prompt_tokens}, 'gen_ai.usage.input_tokens';
    is $a1->{'gen_ai.usage.output_tokens'}, $u->{completion_tokens}, 'gen_ai.usage.output_tokens';
    is $a1->{'http.response.status_code'}, 200, 'http.response.status_code';
    is_deeply [ map { $_->{value}{stringValue} } grep { $_->{key} eq 'service.name' } @{ $s1->{resource} } ],
              ['llmgw'], 'resource service.name llmgw';
    my ($child) = grep { $_->{kind} == 3 && ($_->{parentSpanId} // '') eq ($s1->{spanId} // 'x') } @{ $got->{spans} };
    ok $child, 'a child span (CLIENT) for the upstream exchange';
    is $child && $child->{traceId}, $s1->{traceId}, 'the child is in the same trace';

    my $s2 = $by_id{ $r2->{headers}{'x-request-id'} // '' } // {};
    my $a2 = attrs($s2);
    is $s2->{traceId}, $tid, 'traceparent: the client trace is continued';
    is $s2->{parentSpanId}, '00f067aa0ba902b7', 'traceparent: parent span id';
    is $a2->{'gen_ai.system'}, 'anthropic', 'stream: gen_ai.system anthropic';
    like $a2->{'gen_ai.usage.output_tokens'} // '', qr/^[1-9]\d*$/, 'stream: output tokens known at its end';
    ok $a2->{'llmgw.stream'}, 'stream: llmgw.stream true';

    my $s3 = $by_id{ $r3->header('x-request-id') // '' } // {};
    is attrs($s3)->{'http.response.status_code'}, 400, 'the 400 has its span too';

    ok wait_for(sub { spans_total($node, 'exported') >= 3 }), 'llmgw_otlp_spans_total{result="exported"}';
    $node->stop;
}

# ---- a dead collector: requests succeed, the spans are dropped and counted
{
    my $dead = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)->sockport;
    my $node = LLMGW::Node->start(name => 'otlp-dead', conf => "LLMGWOTLPEndpoint http://127.0.0.1:$dead\n$common");
    my @codes = map { $node->post('/v1/chat/completions', chat_body('mock/echo', "dead collector $_"))->code } 1 .. 20;
    is scalar(grep { $_ == 200 } @codes), 20, 'dead collector: 20 requests, all 200';
    ok wait_for(sub { spans_total($node, 'dropped_export_failed') >= 20 }),
       'dead collector: the spans are counted as dropped';
    is spans_total($node, 'exported'), 0, 'dead collector: nothing exported';
    $node->stop;
}

# ---- a collector that never answers, a queue of 4: full queue drops
{
    receiver_mode(1);
    my $node = LLMGW::Node->start(name => 'otlp-hang',
                                  conf => "LLMGWOTLPEndpoint http://127.0.0.1:$oport queue=4\n$common");
    my @codes = map { $node->post('/v1/chat/completions', chat_body('mock/echo', "hung collector $_"))->code } 1 .. 60;
    is scalar(grep { $_ == 200 } @codes), 60, 'hung collector: 60 requests, all 200';
    ok wait_for(sub { spans_total($node, 'dropped_queue_full') > 0 }),
       'hung collector: a full queue drops spans and counts them';
    my $m = parse_metrics($node->get('/metrics')->content);
    my $total = 0;
    $total += metric_value($m, 'llmgw_otlp_spans_total', result => $_) // 0
        for qw(exported dropped_queue_full dropped_export_failed);
    ok $total <= 60, "no span counted twice ($total of 60 accounted for so far)";
    $node->stop;
    receiver_mode(0);
    unlike $node->log_text, qr/exit signal|Segmentation/, 'hung collector: children stopped cleanly';
}
