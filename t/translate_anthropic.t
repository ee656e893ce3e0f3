# OpenAI Chat Completions through an `anthropic` provider (mockant: the mock
# speaking the Messages API): what the provider receives (system, merged
# turns, images, tools, tool_choice, tool results, stop, max_tokens and its
# default, temperature/top_p, user, x-api-key, anthropic-version), what the
# client gets back (text, tool_calls, finish reasons, usage with cached
# tokens), streams event by event (role first, tool-call deltas, finish
# reason, usage chunk, [DONE] last), native errors as SPEC envelopes, the
# mid-stream `error` event, and kept-alive upstream connections.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;
use LLMGW::Chunks;

unless (Apache::Test::need_module('llmgw')) {
    print "1..0 # skipped: mod_llmgw is needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $CC = '/v1/chat/completions';
my $KEY = provider_key();
my $T = JSON::PP::true;
my $PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVQImWNwav0CAALIAbzDqqRyAAAAAElFTkSuQmCC';
my $WEATHER = {
    type => 'function',
    function => {
        name => 'get_weather',
        description => 'Current weather of a city',
        parameters => { type => 'object',
                        properties => { location => { type => 'string', description => 'city' },
                                        unit => { type => 'string', enum => [ 'c', 'f' ] } },
                        required => [ 'location' ] },
    },
};

sub stream_req {
    my ($path, $body, %o) = @_;
    return raw_request(method => 'POST', path => $path, body => $JSON->encode($body), %o);
}

# The text of an Anthropic content (string or blocks).
sub blocks_text {
    my $c = shift;
    return $c unless ref $c;
    return join '', map { $_->{type} eq 'text' ? $_->{text} : '' } @$c;
}

# Checks shared by every translated stream: returns the assembled stream.
sub stream_ok {
    my ($r, $name, %o) = @_;
    is $r->{status}, 200, "$name: 200";
    like $r->{headers}{'content-type'} // '', qr{^text/event-stream}i, "$name: text/event-stream";
    my $s = assemble($r->{body});
    is scalar(@{ $s->{bad} }), 0, "$name: every event is JSON or [DONE]"
        or diag "bad: @{ $s->{bad} }";
    is $s->{done}, 1, "$name: one data: [DONE]";
    ok $s->{done_last}, "$name: [DONE] is the last event";
    like $r->{body}, qr/data: \[DONE\]\n\n\z/, "$name: the raw body ends with data: [DONE]";
    ok !$s->{error}, "$name: no error event" or diag $JSON->encode($s->{error});
    is $s->{not_chunk}, 0, "$name: every JSON event is a chat.completion.chunk";
    is scalar(keys %{ $s->{ids} }), 1, "$name: one id for every chunk";
    like((keys %{ $s->{ids} })[0] // '', qr/^chatcmpl-/, "$name: id chatcmpl-...");
    my $c = $s->{choices}{0} // {};
    is $c->{first_delta_role}, 'assistant', "$name: the first delta carries role assistant";
    is_deeply [ keys %{ $s->{choices} } ], [ 0 ], "$name: one choice, index 0";
    is scalar(@{ $c->{finish} // [] }), 1, "$name: one finish_reason";
    ok $c->{finish_last}, "$name: finish_reason on the last chunk of the choice";
    ok !$c->{bad_tool_index}, "$name: every tool-call delta has an index";
    return $s;
}

my $last;
sub upstream { $last = mock_last(); return $last->{body} // {} }

# ------------------------------------------------------------ request translation
{
    mock_reset();
    my $res = post_json($CC, {
        model => 'mockant/echo',
        messages => [
            { role => 'system', content => 'You are terse.' },
            { role => 'user', content => 'first question' },
            { role => 'user', content => [ { type => 'text', text => 'and a picture' },
                                           { type => 'image_url',
                                             image_url => { url => "data:image/png;base64,$PNG" } } ] },
            { role => 'assistant', content => 'an answer' },
            { role => 'user', content => [ { type => 'image_url',
                                             image_url => { url => 'https://example.com/cat.png' } },
                                           { type => 'text', text => 'last words' } ] },
        ],
        stop => [ 'END', 'HALT' ], temperature => 0.25, top_p => 0.5, user => 'user-42',
    }, Authorization => 'Bearer sk-client-own-credential');
    is $res->code, 200, 'anthropic request: 200' or diag $res->content;
    my $b = upstream();
    is $last->{method}, 'POST', 'anthropic request: POST';
    is $last->{path}, '/v1/messages', 'anthropic request: POST BASE/v1/messages';
    is $last->{headers}{'x-api-key'}, $KEY, 'anthropic request: x-api-key is the configured provider key';
    like $last->{headers}{'anthropic-version'} // '', qr/^\d{4}-\d\d-\d\d$/,
        'anthropic request: anthropic-version header';
    ok !exists $last->{headers}{authorization}, 'anthropic request: no Authorization header upstream';
    unlike $JSON->encode($last), qr/sk-client-own-credential/,
        "anthropic request: the client's credential is not forwarded";
    is $b->{model}, 'echo', 'anthropic request: model without the provider prefix';
    is blocks_text($b->{system}), 'You are terse.', 'anthropic request: system message to `system`';
    is_deeply [ map { $_->{role} } @{ $b->{messages} } ], [ 'user', 'assistant', 'user' ],
        'anthropic request: consecutive user turns merged, system removed from messages';
    my $u1 = ref $b->{messages}[0]{content} eq 'ARRAY' ? $b->{messages}[0]{content} : [];
    is_deeply [ map { $_->{type} } @$u1 ], [ 'text', 'text', 'image' ],
        'anthropic request: the merged turn keeps both texts and the image';
    is blocks_text($u1), 'first questionand a picture', 'anthropic request: texts in order';
    is_deeply $u1->[2]{source}, { type => 'base64', media_type => 'image/png', data => $PNG },
        'anthropic request: data URL image to a base64 image block';
    my $u2 = ref $b->{messages}[2]{content} eq 'ARRAY' ? $b->{messages}[2]{content} : [];
    is_deeply $u2->[0], { type => 'image', source => { type => 'url', url => 'https://example.com/cat.png' } },
        'anthropic request: http(s) image URL to a url image block';
    is blocks_text($b->{messages}[1]{content}), 'an answer', 'anthropic request: assistant turn';
    is_deeply $b->{stop_sequences}, [ 'END', 'HALT' ], 'anthropic request: stop to stop_sequences';
    is $b->{temperature}, 0.25, 'anthropic request: temperature';
    is $b->{top_p}, 0.5, 'anthropic request: top_p';
    is_deeply $b->{metadata}, { user_id => 'user-42' }, 'anthropic request: user to metadata.user_id';
    is $b->{max_tokens}, 4096, 'anthropic request: max_tokens defaults to 4096 (Anthropic requires it)';
    ok !$b->{stream}, 'anthropic request: no stream for a non-stream request';
    my %allowed = map { $_ => 1 } qw(model messages system max_tokens stop_sequences temperature
                                     top_p metadata tools tool_choice stream);
    is_deeply [ grep { !$allowed{$_} } sort keys %$b ], [],
        'anthropic request: only Messages API fields upstream (no user/stop/provider...)';

    my $j = dec($res) // {};
    is $j->{object}, 'chat.completion', 'anthropic response: chat.completion';
    like $j->{id} // '', qr/^chatcmpl-/, 'anthropic response: id chatcmpl-...';
    is $j->{choices}[0]{message}{role}, 'assistant', 'anthropic response: role';
    is $j->{choices}[0]{message}{content}, 'last words', 'anthropic response: text';
    is $j->{choices}[0]{finish_reason}, 'stop', 'anthropic response: end_turn -> stop';
    ok !exists $j->{choices}[0]{message}{tool_calls}, 'anthropic response: no tool_calls';
    is $res->header('x-llmgw'), 'route=mockant:echo; cache=none; attempts=1', 'anthropic response: x-llmgw';
    is $res->header('x-provider'), 'mockant', 'anthropic response: x-provider';
    my $u = $j->{usage} // {};
    ok $u->{prompt_tokens} > 0 && $u->{completion_tokens} > 0, 'anthropic response: usage';
    is $u->{total_tokens}, ($u->{prompt_tokens} // 0) + ($u->{completion_tokens} // 0),
        'anthropic response: total_tokens = prompt + completion';
    is $res->header('x-tokens-prompt'), $u->{prompt_tokens}, 'anthropic response: x-tokens-prompt';
    is $res->header('x-tokens-completion'), $u->{completion_tokens}, 'anthropic response: x-tokens-completion';
}

# a single string stop; max_tokens / max_completion_tokens; LLMGWDefaultMaxTokens
{
    post_json($CC, chat_body('mockant/echo', 'x', stop => 'ONLY', max_tokens => 66));
    my $b = upstream();
    is_deeply $b->{stop_sequences}, [ 'ONLY' ], 'anthropic request: a string stop to a one-element stop_sequences';
    is $b->{max_tokens}, 66, 'anthropic request: max_tokens kept';
    post_json($CC, chat_body('mockant/echo', 'x', max_completion_tokens => 55));
    is upstream()->{max_tokens}, 55, 'anthropic request: max_completion_tokens to max_tokens';
    my $r = post_json('/maxtok/v1/chat/completions', chat_body('mockant/echo', 'x'));
    is $r->code, 200, 'LLMGWDefaultMaxTokens: 200';
    is upstream()->{max_tokens}, 777, 'anthropic request: LLMGWDefaultMaxTokens 777 when the client sends none';
}

# BYOK: LLMGWPassthroughAuth On sends the client's token as x-api-key;
# provider_key in the body replaces the configured key for one request
{
    my $res = post_json('/byok/v1/chat/completions', chat_body('mockant/echo', 'byok'),
                        Authorization => 'Bearer sk-client-byok-1');
    is $res->code, 200, 'mockant passthrough: 200';
    my $l = mock_last();
    is $l->{headers}{'x-api-key'}, 'sk-client-byok-1', 'mockant passthrough: the client token as x-api-key';
    ok !exists $l->{headers}{authorization}, 'mockant passthrough: no Authorization header upstream';
    post_json($CC, chat_body('mockant/echo', 'byok', provider_key => 'sk-body-key-2'));
    $l = mock_last();
    is $l->{headers}{'x-api-key'}, 'sk-body-key-2', 'mockant provider_key: sent as x-api-key';
    ok !exists(($l->{body} // {})->{provider_key}), 'mockant provider_key: not in the upstream body';
}

# ------------------------------------------------------------ tools
my %choice_map = (
    auto => { type => 'auto' },
    required => { type => 'any' },
    named => { type => 'tool', name => 'get_weather' },
);
for my $case (qw(auto required named)) {
    my $tc = $case eq 'named' ? { type => 'function', function => { name => 'get_weather' } } : $case;
    my $res = post_json($CC, chat_body('mockant/tools', 'weather in Paris?', tools => [ $WEATHER ],
                                       tool_choice => $tc));
    is $res->code, 200, "anthropic tools ($case): 200";
    my $b = upstream();
    my %tc = %{ ref $b->{tool_choice} eq 'HASH' ? $b->{tool_choice} : {} };
    delete $tc{disable_parallel_tool_use};
    is_deeply \%tc, $choice_map{$case}, "anthropic tools ($case): tool_choice "
        . $JSON->encode($choice_map{$case});
    if ($case eq 'auto') {
        is scalar(@{ $b->{tools} // [] }), 1, 'anthropic tools: one tool upstream';
        my $t = $b->{tools}[0] // {};
        is $t->{name}, 'get_weather', 'anthropic tools: name';
        is $t->{description}, 'Current weather of a city', 'anthropic tools: description';
        is_deeply $t->{input_schema}, $WEATHER->{function}{parameters}, 'anthropic tools: parameters to input_schema';
        ok !exists $t->{function} && !exists $t->{parameters}, 'anthropic tools: no OpenAI-only fields';

        my $j = dec($res) // {};
        my $m = $j->{choices}[0]{message} // {};
        is $m->{content}, 'Let me check.', 'anthropic tools response: the text block';
        my $calls = $m->{tool_calls} // [];
        is scalar(@$calls), 1, 'anthropic tools response: one tool call';
        is $calls->[0]{id}, 'toolu_mock1', 'anthropic tools response: the tool_use id is kept';
        is $calls->[0]{type}, 'function', 'anthropic tools response: type function';
        is $calls->[0]{function}{name}, 'get_weather', 'anthropic tools response: function name';
        ok defined $calls->[0]{function}{arguments} && !ref $calls->[0]{function}{arguments},
            'anthropic tools response: arguments is a JSON string';
        is_deeply dec($calls->[0]{function}{arguments} // ''), { location => 'Paris' },
            'anthropic tools response: arguments parse to the tool input';
        is $j->{choices}[0]{finish_reason}, 'tool_calls', 'anthropic tools response: tool_use -> tool_calls';
    }
}
{
    post_json($CC, chat_body('mockant/echo', 'no tools please', tools => [ $WEATHER ], tool_choice => 'none'));
    my $b = upstream();
    ok +((ref $b->{tool_choice} eq 'HASH' && ($b->{tool_choice}{type} // '') eq 'none') || !$b->{tools}),
        'anthropic tools: tool_choice none -> {type:none} (or no tools sent)'
        or diag $JSON->encode($b->{tool_choice});
}

# assistant tool_calls and tool results in the history
{
    my $res = post_json($CC, {
        model => 'mockant/echo', tools => [ $WEATHER ],
        messages => [
            { role => 'user', content => 'weather?' },
            { role => 'assistant', content => undef,
              tool_calls => [ { id => 'call_abc', type => 'function',
                                function => { name => 'get_weather', arguments => '{"location":"Paris"}' } } ] },
            { role => 'tool', tool_call_id => 'call_abc', content => 'sunny, 21C' },
            { role => 'user', content => 'thanks' },
        ] });
    is $res->code, 200, 'anthropic tool history: 200' or diag $res->content;
    my $b = upstream();
    is_deeply [ map { $_->{role} } @{ $b->{messages} } ], [ 'user', 'assistant', 'user' ],
        'anthropic tool history: tool result and next user text in one user turn';
    my ($use) = grep { $_->{type} eq 'tool_use' } @{ $b->{messages}[1]{content} // [] };
    is_deeply $use, { type => 'tool_use', id => 'call_abc', name => 'get_weather', input => { location => 'Paris' } },
        'anthropic tool history: assistant tool_calls to a tool_use block (arguments parsed)';
    my $last_turn = $b->{messages}[2]{content} // [];
    my ($res_block) = grep { ref $_ eq 'HASH' && $_->{type} eq 'tool_result' } @$last_turn;
    is $res_block && $res_block->{tool_use_id}, 'call_abc', 'anthropic tool history: tool message to tool_result';
    is $res_block && blocks_text($res_block->{content}), 'sunny, 21C', 'anthropic tool history: tool_result content';
    is $last_turn->[0]{type}, 'tool_result', 'anthropic tool history: tool_result first in its turn';
    is blocks_text($last_turn), 'thanks', 'anthropic tool history: then the user text';
}

# ------------------------------------------------------------ responses
{
    my $j = dec(post_json($CC, chat_body('mockant/max-tokens', 'cut me'))) // {};
    is $j->{choices}[0]{finish_reason}, 'length', 'anthropic response: max_tokens -> length';
    my $res = post_json($CC, chat_body('mockant/cached-40-8', 'with a cache'));
    $j = dec($res) // {};
    my $u = $j->{usage} // {};
    my $input = int((length('with a cache') + 3) / 4);
    is $u->{prompt_tokens_details}{cached_tokens}, 40,
        'anthropic usage: cache_read_input_tokens to prompt_tokens_details.cached_tokens';
    is $u->{prompt_tokens}, $input + 40 + 8,
        'anthropic usage: prompt_tokens = input + cache read + cache write';
    is $u->{total_tokens}, $u->{prompt_tokens} + $u->{completion_tokens}, 'anthropic usage: total';
}

# ------------------------------------------------------------ streams
{
    my $text = 'Streams are translated event by event.';
    my $r = stream_req($CC, chat_body('mockant/echo', $text, stream => $T));
    my $s = stream_ok($r, 'anthropic stream');
    ok upstream()->{stream}, 'anthropic stream: stream: true upstream';
    is $s->{choices}{0}{text}, $text, 'anthropic stream: assembled text';
    is_deeply $s->{choices}{0}{finish}, [ 'stop' ], 'anthropic stream: finish_reason stop';
    is $s->{usage_chunks}, 0, 'anthropic stream: no usage chunk without include_usage';
    is $r->{headers}{'x-llmgw'}, 'route=mockant:echo; cache=none; attempts=1', 'anthropic stream: x-llmgw';
    ok $s->{chunks} >= 4, "anthropic stream: several chunks ($s->{chunks})";
}
{
    my $body = chat_body('mockant/cached-12-3', 'count these tokens please');
    my $plain = dec(post_json($CC, $body)) // {};
    my $r = stream_req($CC, { %$body, stream => $T, stream_options => { include_usage => $T } });
    my $s = stream_ok($r, 'anthropic stream include_usage');
    is $s->{usage_chunks}, 1, 'anthropic stream include_usage: one usage chunk';
    ok $s->{usage_choices_empty}, 'anthropic stream include_usage: the usage chunk has choices: []';
    ok $s->{usage_after_finish}, 'anthropic stream include_usage: usage after the finish_reason';
    is_deeply [ @{ $s->{usage} // {} }{qw(prompt_tokens completion_tokens total_tokens)} ],
              [ @{ $plain->{usage} // {} }{qw(prompt_tokens completion_tokens total_tokens)} ],
        'anthropic stream include_usage: the same usage as the non-stream answer';
    is $s->{usage} && $s->{usage}{prompt_tokens_details}{cached_tokens}, 12,
        'anthropic stream include_usage: cached_tokens';
}
{
    my $r = stream_req($CC, chat_body('mockant/tools', 'weather?', tools => [ $WEATHER ], stream => $T,
                                      stream_options => { include_usage => $T }));
    my $s = stream_ok($r, 'anthropic tool stream');
    my $c = $s->{choices}{0} // {};
    is $c->{text}, 'Let me check.', 'anthropic tool stream: text';
    my $tc = $c->{tool_calls} // [];
    is scalar(@$tc), 1, 'anthropic tool stream: one tool call (index 0)';
    my $f = $tc->[0]{first} // {};
    is $f->{index}, 0, 'anthropic tool stream: first tool delta has index 0';
    is $f->{id}, 'toolu_mock1', 'anthropic tool stream: first tool delta has the tool_use id';
    is $f->{type}, 'function', 'anthropic tool stream: first tool delta has type function';
    is $f->{function} && $f->{function}{name}, 'get_weather', 'anthropic tool stream: first tool delta has the name';
    is scalar(@{ $tc->[0]{ids} // [] }), 1, 'anthropic tool stream: the id is sent once';
    ok(($tc->[0]{arg_deltas} // 0) >= 2, 'anthropic tool stream: arguments arrive in several deltas ('
        . ($tc->[0]{arg_deltas} // 0) . ')');
    is_deeply dec($tc->[0]{arguments} // ''), { location => 'Paris' }, 'anthropic tool stream: assembled arguments';
    is_deeply $c->{finish}, [ 'tool_calls' ], 'anthropic tool stream: finish_reason tool_calls';
    ok $s->{usage} && $s->{usage}{completion_tokens} > 0, 'anthropic tool stream: usage chunk';
}
{
    my $r = stream_req($CC, chat_body('mockant/max-tokens', 'long answer', stream => $T));
    my $s = stream_ok($r, 'anthropic max_tokens stream');
    is_deeply $s->{choices}{0}{finish}, [ 'length' ], 'anthropic max_tokens stream: finish_reason length';
}

# an `error` event after message_start: the SPEC mid-stream error event
{
    my $r = stream_req($CC, chat_body('mockant/stream-error', 'x', stream => $T));
    is $r->{status}, 200, 'anthropic error event: 200 (the stream had started)';
    my $s = assemble($r->{body});
    is $s->{choices}{0}{first_delta_role}, 'assistant', 'anthropic error event: role chunk first';
    is $s->{choices}{0}{text}, 'Hel', 'anthropic error event: the text before the error was relayed';
    ok $s->{error} && $s->{error_last}, 'anthropic error event: last event is data: {"error":...}'
        or diag $r->{body};
    my $e = $s->{error} // {};
    ok defined $e->{message} && length $e->{message}, 'anthropic error event: message';
    like $e->{message} // '', qr/Overloaded/, 'anthropic error event: the provider message is kept';
    is $e->{type}, 'provider_error', 'anthropic error event: overloaded_error -> provider_error';
    is $e->{provider}, 'mockant', 'anthropic error event: provider';
    is $e->{request_id}, $r->{headers}{'x-request-id'}, 'anthropic error event: request_id = x-request-id';
    is $s->{done}, 0, 'anthropic error event: no [DONE]';
    is_deeply $s->{choices}{0}{finish}, [], 'anthropic error event: no finish_reason';
}

# ------------------------------------------------------------ native errors
my @errors = (
    # model, status, type, upstream status, retryable
    [ 'error-400', 400, 'invalid_request_error', 400, 0 ],
    [ 'error-401', 401, 'authentication_error', 401, 0 ],
    [ 'error-403', 403, 'permission_error', 403, 0 ],
    [ 'error-404', 404, qr/^(invalid_request_error|not_found_error)$/, 404, 0 ],
    [ 'error-429', 429, 'rate_limit_error', 429, 1 ],
    [ 'error-500', 502, 'provider_error', 500, 1 ],
    [ 'error-503', 502, 'provider_error', 503, 1 ],
    [ 'error-529', 502, 'provider_error', 529, 1 ],
);
for my $c (@errors) {
    my ($model, $status, $type, $ust, $retryable) = @$c;
    my $res = post_json($CC, chat_body("mockant/$model", 'x'));
    my $e = envelope_ok($res, $status, $type, "anthropic $model", provider => 'mockant',
                        upstream_status => $ust, retryable => $retryable);
    if ($status < 500) {
        (my $n = $model) =~ s/error-//;
        like $e->{message} // '', qr/mock error $n/, "anthropic $model: the provider message is kept";
    }
    if ($status == 429) {
        is $res->header('retry-after'), 7, "anthropic $model: retry-after: 7 (from the provider)";
    }
    if ($model eq 'error-404') {
        ok !defined $res->header('retry-after'), "anthropic $model: no retry-after";
    }
}
{
    my $r = stream_req($CC, chat_body('mockant/error-429', 'x', stream => $T));
    is $r->{status}, 429, 'anthropic stream + 429 before the first byte: 429';
    like $r->{headers}{'content-type'} // '', qr{^application/json}i, 'anthropic stream + 429: a JSON envelope, not SSE';
    is $r->{headers}{'retry-after'}, 7, 'anthropic stream + 429: retry-after: 7';
    is eval { dec($r->{body})->{error}{type} }, 'rate_limit_error', 'anthropic stream + 429: rate_limit_error';
}

# a 200 answer that is not JSON (here: an event stream to a non-stream request)
{
    my $res = post_json($CC, chat_body('mockant/fixture-basic_response', 'x'));
    envelope_ok($res, 502, 'provider_error', 'anthropic 200 with a non-JSON body', provider => 'mockant',
                upstream_status => 200);
    unlike $res->content, qr/<html/i, 'anthropic 200 with a non-JSON body: no HTML error page appended';
}

# ------------------------------------------------------------ upstream keep-alive
for my $stream (0, 1) {
    my $what = $stream ? 'streams' : 'non-stream requests';
    mock_reset();
    my $ok = 0;
    for my $i (1 .. 8) {
        my $res = post_json($CC, chat_body('mockant/echo', "keep-alive $i", $stream ? (stream => $T) : ()));
        $ok++ if $res->code == 200;
    }
    is $ok, 8, "anthropic keep-alive: 8 sequential $what answered";
    my $st = mock_stats();
    is $st->{requests}, 8, "anthropic keep-alive: the mock saw 8 requests";
    ok $st->{connections} <= 2, "anthropic keep-alive: 8 sequential $what used $st->{connections} upstream connection(s) (<= 2)";
}

no_key_leak();
done_testing();
