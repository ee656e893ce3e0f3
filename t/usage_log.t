# The JSON-lines usage log of the README and build/llmgw-example.conf (the
# LogFormat is read from the example config, so the documented line is the
# one tested): one valid JSON object per request, streams with their tokens,
# cost and time to first token, quota keys with workspace and key name (never
# the secret), cache status, errors.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Temp ();
use LLMGW::Test;
use LLMGW::Node;

plan tests => 29, need_module('llmgw', 'llmgw_cache', 'llmgw_quota');

my $top = $ENV{LLMGW_TOP} // "$FindBin::Bin/..";
my ($format) = do {
    open my $f, '<', "$top/build/llmgw-example.conf" or die "llmgw-example.conf: $!";
    grep { /^LogFormat .* llmgw_json$/ } <$f>;
};
ok $format, 'the example config has the llmgw_json LogFormat';
chomp $format;
my $dir = File::Temp::tempdir(CLEANUP => 1);
chmod 0777, $dir;
my $log = "$dir/usage.jsonl";
my $mock = $ENV{LLMGW_MOCK_PORT};

my $node = LLMGW::Node->start(name => 'usage-log', store => 'shm', conf => <<"EOF_CONF");
$format
CustomLog "$log" llmgw_json
LLMGWProvider mockant anthropic http://127.0.0.1:$mock key=env:LLMGW_TEST_PROVIDER_KEY
LLMGWPrice mock/priced 1000 2000
LLMGWPlan ulog requests_month=1000
LLMGWKey sk-usage-log-secret workspace=ws-usage plan=ulog name=billing-key
<Location /q/v1>
    SetHandler llmgw
    LLMGWQuota On
    LLMGWCache On
</Location>
EOF_CONF

my $stream = sub {
    my ($model) = @_;
    return $JSON->encode(chat_body($model, 'a logged stream', stream => JSON::PP::true(),
                                   stream_options => { include_usage => JSON::PP::true() }));
};
my @ids;
push @ids, $node->post('/v1/chat/completions', chat_body('mock/priced', 'logged'))->header('x-request-id');
push @ids, raw_request(method => 'POST', path => '/v1/chat/completions', port => $node->port,
                       body => $stream->('mock/priced'))->{headers}{'x-request-id'};
push @ids, raw_request(method => 'POST', path => '/v1/chat/completions', port => $node->port,
                       body => $stream->('mockant/echo'))->{headers}{'x-request-id'};
push @ids, $node->post('/v1/chat/completions', '{"model":')->header('x-request-id');
my $qb = chat_body('mock/echo', "quota and cache $$");
push @ids, $node->post('/q/v1/chat/completions', $qb, Authorization => 'Bearer sk-usage-log-secret')
               ->header('x-request-id') for 1 .. 2;

# the node's own GET /health (start-up probe) is logged too
my %want = map { ($_ // 'none') => 1 } @ids;
my $mine = sub { grep { /"id":"([^"]*)"/ && $want{$1} } @_ };
my @lines = @{ wait_for(sub {
    open my $f, '<', $log or return undef;
    my @l = <$f>;
    $mine->(@l) >= @ids ? \@l : undef;
}, 10) // [] };
my %by_id;
my ($valid, %seen) = (0);
for (@lines) {
    my $j = eval { JSON::PP->new->decode($_) };
    $valid++ if ref $j eq 'HASH';
    next unless ref $j eq 'HASH' && $want{ $j->{id} };
    $by_id{ $j->{id} } = $j;
    $seen{ $j->{id} }++;
}
ok keys(%seen) == @ids && !grep({ $_ != 1 } values %seen), 'one line per request';
is $valid, scalar(@lines), 'every line is a JSON object';
my ($plain, $s1, $s2, $bad, $q1, $q2) = map { $by_id{ $_ // '' } // {} } @ids;

is $plain->{status}, 200, 'non-stream: status';
is $plain->{provider}, 'mock', 'non-stream: provider';
is $plain->{model}, 'priced', 'non-stream: model';
like $plain->{prompt_tokens}, qr/^[1-9]\d*$/, 'non-stream: prompt tokens';
like $plain->{cost_usd}, qr/^[0-9.e-]+$/, 'non-stream: cost';
like $plain->{ttft_ms}, qr/^\d+$/, 'non-stream: ttft';
like $plain->{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'time: ISO 8601 UTC';
ok $plain->{latency_ms} =~ /^\d+$/, 'latency_ms: a number';

for my $c ([ 'OpenAI stream', $s1, 'mock' ], [ 'translated stream', $s2, 'mockant' ]) {
    my ($name, $l, $prov) = @$c;
    is $l->{status}, 200, "$name: status";
    is $l->{provider}, $prov, "$name: provider";
    like $l->{prompt_tokens}, qr/^[1-9]\d*$/, "$name: prompt tokens";
    like $l->{completion_tokens}, qr/^[1-9]\d*$/, "$name: completion tokens";
    like $l->{ttft_ms}, qr/^\d+$/, "$name: ttft";
}
like $s1->{cost_usd}, qr/^[0-9.e-]+$/, 'priced stream: cost';

is $bad->{status}, 400, 'error: status 400';
is $bad->{provider}, '-', 'error: no provider';

is $q1->{workspace}, 'ws-usage', 'quota: workspace';
is $q1->{key}, 'billing-key', 'quota: the key name';
is $q1->{cache}, 'MISS', 'first: cache MISS';
is $q2->{cache}, 'HIT', 'second: cache HIT';
unlike join('', @lines), qr/sk-usage-log-secret/, 'the key secret is never logged';
$node->stop;
