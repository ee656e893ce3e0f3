# mod_llmgw_cache and streams: a stored stream replayed as SSE (valid chunks,
# [DONE]) or assembled into a chat.completion; a stored completion cut into
# chunks for a stream:true request; stream_options.include_usage honoured
# on replay; tool calls both ways (recorded OpenAI stream); a translated
# (Anthropic) stream; a broken stream is never stored.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

plan tests => 65, need_module('llmgw'), need_module('llmgw_cache');

my $nonce = "$$-" . time;
my $C = '/cache/v1/chat/completions';
my $n = 0;
sub prompt { "stream cache " . ++$n . " ($nonce) \x{2603}" }
sub upstream { mock_stats()->{requests} }

# Parses an SSE body into chunks; checks [DONE] comes last, once.
sub chunks_of {
    my ($body, $name) = @_;
    my @ev = sse_events($body // '');
    ok @ev >= 2 && $ev[-1] eq '[DONE]' && (grep { $_ eq '[DONE]' } @ev) == 1,
       "$name: ends with a single data: [DONE]";
    my @c = map { dec($_) } @ev[0 .. $#ev - 1];
    ok !(grep { ref $_ ne 'HASH' || ($_->{object} // '') ne 'chat.completion.chunk' } @c),
       "$name: every event is a chat.completion.chunk";
    return @c;
}

sub content_of { join '', map { $_->{choices}[0]{delta}{content} // '' } grep { @{ $_->{choices} // [] } } @_ }

mock_reset();

# ---- stream stored, replayed as a stream and as JSON -------------------------
{
    my $text = prompt();
    my $body = chat_body('echo', $text, stream => JSON::PP::true(),
                         stream_options => { include_usage => JSON::PP::true() });
    my $s1 = post_json($C, $body);
    is $s1->code, 200, 'stream: 200';
    is $s1->header('x-cache-status'), 'MISS', 'stream: MISS';
    my @c1 = chunks_of($s1->content, 'stream MISS');
    is content_of(@c1), $text, 'stream MISS: content';

    my $s2 = post_json($C, $body);
    is $s2->header('x-cache-status'), 'HIT', 'stream again: HIT';
    like $s2->header('Content-Type') // '', qr{^text/event-stream}, 'stream HIT: text/event-stream';
    is $s2->content, $s1->content, 'stream HIT: the stored chunks, byte for byte';
    my @c2 = chunks_of($s2->content, 'stream HIT');
    is $c2[0]{choices}[0]{delta}{role}, 'assistant', 'stream HIT: role in the first delta';
    ok $c2[-1]{usage} && $c2[-1]{usage}{prompt_tokens}, 'stream HIT: usage chunk (include_usage)';
    like $s2->header('x-tokens-prompt') // '', qr/^\d+$/, 'stream HIT: x-tokens-prompt from the entry';
    like $s2->header('Age') // '', qr/^\d+$/, 'stream HIT: Age';

    my $s3 = post_json($C, chat_body('echo', $text, stream => JSON::PP::true()));
    is $s3->header('x-cache-status'), 'HIT', 'stream without include_usage: HIT';
    my @c3 = chunks_of($s3->content, 'stream HIT without usage');
    ok !(grep { $_->{usage} } @c3), 'stream HIT without include_usage: no usage chunk';
    is content_of(@c3), $text, 'stream HIT without usage: content';

    my $j = post_json($C, chat_body('echo', $text));
    is $j->header('x-cache-status'), 'HIT', 'non-stream from a stored stream: HIT';
    like $j->header('Content-Type') // '', qr{^application/json}, 'non-stream HIT: JSON';
    my $d = dec($j) // {};
    is $d->{object}, 'chat.completion', 'non-stream HIT: chat.completion';
    is $d->{id}, $c1[0]{id}, 'non-stream HIT: the stream\'s id';
    is $d->{choices}[0]{message}{role}, 'assistant', 'non-stream HIT: role';
    is $d->{choices}[0]{message}{content}, $text, 'non-stream HIT: assembled content';
    is $d->{choices}[0]{finish_reason}, 'stop', 'non-stream HIT: finish_reason';
    is $d->{usage}{prompt_tokens}, $c1[-1]{usage}{prompt_tokens}, 'non-stream HIT: usage';
    is $j->header('x-tokens-completion'), $c1[-1]{usage}{completion_tokens}, 'non-stream HIT: x-tokens-completion';
    is upstream(), 1, 'one upstream call for all of them';
}

# ---- completion stored, replayed as a stream -----------------------------------
{
    my $text = prompt();
    my $j1 = post_json($C, chat_body('echo', $text));
    is $j1->header('x-cache-status'), 'MISS', 'JSON: MISS';
    my $d1 = dec($j1) // {};
    my $s = post_json($C, chat_body('echo', $text, stream => JSON::PP::true(),
                                    stream_options => { include_usage => JSON::PP::true() }));
    is $s->header('x-cache-status'), 'HIT', 'stream from a stored completion: HIT';
    like $s->header('Content-Type') // '', qr{^text/event-stream}, 'converted: text/event-stream';
    my @c = chunks_of($s->content, 'converted');
    is $c[0]{choices}[0]{delta}{role}, 'assistant', 'converted: role first';
    is content_of(@c), $text, 'converted: content';
    my ($fin) = grep { @{ $_->{choices} } && $_->{choices}[0]{finish_reason} } @c;
    is $fin && $fin->{choices}[0]{finish_reason}, 'stop', 'converted: finish chunk';
    is $c[-1]{usage}{total_tokens}, $d1->{usage}{total_tokens}, 'converted: usage chunk last';
    is $c[0]{id}, $d1->{id}, 'converted: the completion\'s id';
    my $s2 = post_json($C, chat_body('echo', $text, stream => JSON::PP::true()));
    my @c2 = chunks_of($s2->content, 'converted without include_usage');
    ok !(grep { $_->{usage} } @c2), 'converted without include_usage: no usage chunk';
}

# ---- tool calls ---------------------------------------------------------------
{
    my $name = 'test_parse_multiple_pydantic_tools';
    my $body = chat_body("fixture-$name", prompt(), stream => JSON::PP::true());
    my $s1 = post_json($C, $body);
    is $s1->code, 200, 'tools stream: 200';
    is $s1->header('x-cache-status'), 'MISS', 'tools stream: MISS';
    my $j = post_json($C, { %$body, stream => JSON::PP::false() });
    is $j->header('x-cache-status'), 'HIT', 'tools as JSON: HIT';
    my $m = (dec($j) // {})->{choices}[0] // {};
    my $tc = $m->{message}{tool_calls} // [];
    is scalar(@$tc), 2, 'tools as JSON: two tool calls';
    ok !(grep { !$_->{id} || ($_->{type} // '') ne 'function' || !$_->{function}{name} } @$tc),
       'tools as JSON: id, type, name';
    ok !(grep { ref(dec($_->{function}{arguments} // '')) ne 'HASH' } @$tc),
       'tools as JSON: arguments are whole JSON objects';
    is $m->{finish_reason}, 'tool_calls', 'tools as JSON: finish_reason tool_calls';
    ok !defined $m->{message}{content}, 'tools as JSON: content null';

    my $s2 = post_json($C, $body);
    # the recorded stream has a usage chunk this request did not ask for
    my @want = grep { !/^\{.*"choices":\[\],"usage"/ } sse_events($s1->content);
    is_deeply [ sse_events($s2->content) ], \@want,
              'tools stream HIT: the stored chunks (no unasked-for usage chunk)';

    # and a stored completion with tool calls, cut into chunks
    my $tb = chat_body('mockant/tools', prompt(), tools => [ { type => 'function', function => {
        name => 'get_weather', description => 'weather of a place',
        parameters => { type => 'object', properties => { location => { type => 'string' } } } } } ]);
    my $t1 = post_json($C, $tb);
    is $t1->code, 200, 'tools JSON: 200' or diag $t1->content;
    my $want = (dec($t1) // {})->{choices}[0]{message}{tool_calls} // [];
    my $t2 = post_json($C, { %$tb, stream => JSON::PP::true() });
    is $t2->header('x-cache-status'), 'HIT', 'tools stream from JSON: HIT';
    my @c = chunks_of($t2->content, 'tools from JSON');
    my @deltas = map { @{ $_->{choices}[0]{delta}{tool_calls} // [] } } grep { @{ $_->{choices} } } @c;
    is scalar(@deltas), scalar(@$want), 'tools from JSON: one delta per tool call';
    ok @deltas && !(grep { !$_->{id} || !$_->{type} || !defined $_->{function}{name} || !defined $_->{index} } @deltas),
       'tools from JSON: each delta has index, id, type, name';
}

# ---- a translated (Anthropic) stream ---------------------------------------------
{
    my $text = prompt();
    my $s1 = post_json($C, chat_body('mockant/echo', $text, stream => JSON::PP::true()));
    is $s1->code, 200, 'anthropic stream: 200';
    is $s1->header('x-cache-status'), 'MISS', 'anthropic stream: MISS';
    my $j = post_json($C, chat_body('mockant/echo', $text));
    is $j->header('x-cache-status'), 'HIT', 'anthropic as JSON: HIT';
    is((dec($j) // {})->{choices}[0]{message}{content}, $text, 'anthropic as JSON: content');
}

# ---- a broken stream is never stored ------------------------------------------------
{
    my $body = chat_body('drop', prompt(), stream => JSON::PP::true());
    my $u0 = upstream();
    my $d1 = post_json($C, $body);
    is $d1->header('x-cache-status'), 'MISS', 'dropped stream: MISS';
    my $d2 = post_json($C, $body);
    is $d2->header('x-cache-status'), 'MISS', 'dropped stream again: MISS (not stored)';
    ok upstream() >= $u0 + 2, 'dropped stream: both went upstream';
}

no_key_leak();
