# An OpenAI-format provider that sends an error event mid-stream: the event
# reaches the client, no [DONE] is made up after it, and the answer is never
# cached. An event over the parser's 8 MiB bound ends the stream with an
# error event too, never silently.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

plan tests => 5 + 3 + 4 + 4, need_module('llmgw');

my $body = chat_body('mock/stream-error', 'error mid-stream ' . time,
                     stream => JSON::PP::true());
{
    my $res = post_json('/v1/chat/completions', $body);
    is $res->code, 200, 'stream error: 200 (the stream had started)';
    my @ev = sse_events($res->decoded_content(charset => 'none'));
    my $first = dec($ev[0]) // {};
    is $first->{choices}[0]{delta}{role}, 'assistant', 'stream error: chunks before it relayed';
    my $last = dec($ev[-1]) // {};
    is ref $last->{error}, 'HASH', 'stream error: the error event is relayed last';
    is $last->{error}{type}, 'server_error', 'stream error: as the provider sent it';
    ok !(grep { $_ eq '[DONE]' } @ev), 'stream error: no [DONE] made up after an error';
}
{
    my $before = mock_stats()->{requests};
    my @st = map { post_json('/cache/v1/chat/completions', $body)->header('x-cache-status') // '' } 1 .. 2;
    is $st[0], 'MISS', 'stream error: first request misses';
    is $st[1], 'MISS', 'stream error: an errored stream is never stored';
    is mock_stats()->{requests} - $before, 2, 'stream error: both went upstream';
}

{
    my $res = post_json('/v1/chat/completions',
                        chat_body('mock/huge-event-9000000', 'x', stream => JSON::PP::true()));
    is $res->code, 200, 'huge event: 200 (the stream had started)';
    my @ev = sse_events($res->decoded_content(charset => 'none'));
    my $last = dec($ev[-1]) // {};
    is $last->{error}{code}, 'invalid_upstream_response', 'huge event: ends with an error event';
    is $last->{error}{provider}, 'mock', 'huge event: error names the provider';
    ok !(grep { $_ eq '[DONE]' } @ev), 'huge event: no [DONE]';
}

{
    # an event over the events buffer's direct-write bound (4 KB) is passed
    # where it is, after what the buffer holds: whole and in order
    my $res = post_json('/v1/chat/completions',
                        chat_body('mock/huge-event-200000', 'x', stream => JSON::PP::true()));
    is $res->code, 200, 'large event: 200';
    my @ev = sse_events($res->decoded_content(charset => 'none'));
    is scalar(@ev), 3, 'large event: the role event, the large one, the end';
    is length((dec($ev[1]) // {})->{choices}[0]{delta}{content} // ''), 200000,
        'large event: its 200,000 bytes of content whole';
    # the mock's stream has no finish_reason: the gateway says so after it
    is +(dec($ev[-1]) // {})->{error}{code}, 'invalid_upstream_response',
        'large event: the error event after it, in order';
}
