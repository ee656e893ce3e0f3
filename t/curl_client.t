# The libcurl upstream client (used for https providers, and for http ones
# with client=curl): answers, streams, errors, timeouts, dropped
# connections and connection reuse, as the native client does for http.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

plan tests => 7 + 6 + 4 + 9 + 9 + 9 + 9 + 3 + 4 + 2, need_module('llmgw');

my $P = '/v1/chat/completions';

# a plain answer
{
    my $res = post_json($P, chat_body('cmock/echo', 'through curl'));
    my $j = dec($res) // {};
    is $res->code, 200, 'curl: 200';
    is $j->{choices}[0]{message}{content}, 'through curl', 'curl: echoed content';
    is $res->header('x-llmgw'), 'route=cmock:echo; cache=none; attempts=1', 'curl: x-llmgw';
    ok $j->{usage}{prompt_tokens}, 'curl: usage';
    is $res->header('x-tokens-prompt'), $j->{usage}{prompt_tokens}, 'curl: x-tokens-prompt';
    my $last = do { local $LLMGW::Test::NO_LEAK_CHECK = 1; mock_last() };
    is $last->{body}{model}, 'echo', 'curl: prefix stripped upstream';
    is $last->{headers}{authorization}, 'Bearer ' . provider_key(), 'curl: provider key sent';
}

# a stream, relayed event by event
{
    my $res = post_json($P, chat_body('cmock/echo', 'stream via curl', stream => JSON::PP::true(),
                                      stream_options => { include_usage => JSON::PP::true() }));
    is $res->code, 200, 'curl stream: 200';
    like $res->header('Content-Type') // '', qr{^text/event-stream}, 'curl stream: SSE';
    my @ev = sse_events($res->decoded_content(charset => 'none'));
    is $ev[-1], '[DONE]', 'curl stream: [DONE] last';
    my @chunks = map { dec($_) } grep { $_ ne '[DONE]' } @ev;
    is $chunks[0]{choices}[0]{delta}{role}, 'assistant', 'curl stream: role first';
    is join('', map { $_->{choices}[0]{delta}{content} // '' } grep { @{ $_->{choices} } } @chunks),
       'stream via curl', 'curl stream: text assembled';
    ok((grep { $_->{usage} } @chunks), 'curl stream: usage chunk');
}

# Anthropic translation over curl, tools streamed
{
    my $res = post_json($P, chat_body('cant/tools', 'weather?', stream => JSON::PP::true(),
        tools => [ { type => 'function', function => { name => 'get_weather',
                     parameters => { type => 'object' } } } ]));
    is $res->code, 200, 'curl anthropic stream: 200';
    my @ev = sse_events($res->decoded_content(charset => 'none'));
    my @chunks = map { dec($_) } grep { $_ ne '[DONE]' } @ev;
    my ($tc) = grep { $_->{choices}[0]{delta}{tool_calls} } @chunks;
    is $tc->{choices}[0]{delta}{tool_calls}[0]{function}{name}, 'get_weather',
       'curl anthropic stream: tool call name';
    my ($fin) = grep { $_->{choices}[0]{finish_reason} } @chunks;
    is $fin->{choices}[0]{finish_reason}, 'tool_calls', 'curl anthropic stream: finish tool_calls';
    is $ev[-1], '[DONE]', 'curl anthropic stream: [DONE]';
}

# errors
{
    my $res = post_json($P, chat_body('cmock/error-429', 'x'));
    envelope_ok($res, 429, 'rate_limit_error', 'curl 429', provider => 'cmock',
                upstream_status => 429, retryable => 1);
}
{
    my $res = post_json($P, chat_body('cmock/error-500', 'x'));
    envelope_ok($res, 502, 'provider_error', 'curl 500', provider => 'cmock',
                upstream_status => 500, retryable => 1);
}
{
    my $res = post_json($P, chat_body('cdead/x', 'x'));
    envelope_ok($res, 502, 'provider_error', 'curl unreachable', provider => 'cdead',
                upstream_status => undef, code => 'provider_unreachable');
}
{
    my $t0 = time;
    my $res = post_json($P, chat_body('cmock/hang', 'x'));
    envelope_ok($res, 504, 'timeout_error', 'curl timeout', provider => 'cmock',
                upstream_status => undef, code => 'provider_timeout');
}
{
    my $t0 = time;
    my $res = post_json($P, chat_body('cmock/hang', 'x', stream => JSON::PP::true()));
    my $took = time - $t0;
    is $res->code, 504, 'curl stream timeout: 504 before the first byte';
    ok $took >= 2 && $took <= 8, "curl stream timeout: after LLMGWTimeout (took ${took}s)";
    is((dec($res) // {})->{error}{type}, 'timeout_error', 'curl stream timeout: envelope');
}

# a stream the provider drops ends with the error event
{
    my $res = post_json($P, chat_body('cmock/drop', 'x', stream => JSON::PP::true()));
    is $res->code, 200, 'curl dropped stream: 200 (already started)';
    my @ev = sse_events($res->decoded_content(charset => 'none'));
    my $last = dec($ev[-1]) // {};
    is ref $last->{error}, 'HASH', 'curl dropped stream: final error event';
    is $last->{error}{type}, 'provider_error', 'curl dropped stream: provider_error';
    ok !(grep { $_ eq '[DONE]' } @ev), 'curl dropped stream: no [DONE]';
}

# connections are reused: sequential requests share few connections
{
    my $before = mock_stats()->{connections};
    post_json($P, chat_body('cmock/echo', "reuse $_")) for 1 .. 12;
    my $after = mock_stats()->{connections};
    ok defined $before && defined $after, 'curl reuse: mock counts connections';
    ok $after - $before < 12, 'curl reuse: 12 requests used ' . ($after - $before) . ' new connection(s)';
}
