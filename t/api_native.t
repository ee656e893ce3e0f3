# The inbound APIs relayed to providers that speak them (SPEC "Inbound
# APIs"): the Messages API to an anthropic provider byte for byte apart from
# the model (thinking blocks, signatures, redacted_thinking, cache_control,
# anthropic-beta survive, stream included), messages/count_tokens, Gemini's
# own generateContent / streamGenerateContent to a gemini provider (Google
# SDK credentials accepted), the Responses API to an openai provider with
# responses=native (kept for GET responses/{id}), errors in each API's shape,
# cut streams ending with the API's error event, and IndoxHub's envelope.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

plan tests => 111, need_module('llmgw');

my $KEY = provider_key();
my $SIG = 'EqQBCkgIARABGAIiQL+/mock/Sig+nature==0123456789abcdefABCDEF/+=';
my $ANT = '/ant/v1/messages';
my %AH = ('x-api-key' => 'client-key', 'anthropic-version' => '2023-06-01');

# Events of an SSE body as [event name, decoded data].
sub events_of {
    my $body = shift;
    my @out;
    for my $block (split /\n\n/, $body) {
        my ($name, @data);
        for (split /\n/, $block) {
            $name = $1 if /^event: ?(.*)$/;
            push @data, $1 if /^data: ?(.*)$/;
        }
        next unless @data;
        push @out, [$name, dec(join "\n", @data)];
    }
    return @out;
}

# ---- Messages to an anthropic provider: relayed -----------------------------
{
    mock_reset();
    my $body = {
        model => 'inspect', max_tokens => 64,
        system => [ { type => 'text', text => 'be brief', cache_control => { type => 'ephemeral' } } ],
        messages => [
            { role => 'user', content => 'think first' },
            { role => 'assistant', content => [
                { type => 'thinking', thinking => 'hmm', signature => $SIG },
                { type => 'redacted_thinking', data => 'c2VjcmV0+/==' },
                { type => 'text', text => 'ok' } ] },
            { role => 'user', content => [ { type => 'text', text => "again \x{e9}",
                                             cache_control => { type => 'ephemeral' } } ] },
        ],
        thinking => { type => 'enabled', budget_tokens => 1024 },
    };
    my $res = post_json($ANT, $body, %AH, 'anthropic-beta' => 'prompt-caching-2024-07-31',
                        'anthropic-version' => '2023-06-01');
    my $up = mock_last();
    is $res->code, 200, 'messages relay: 200' or diag $res->content;
    is $up->{path}, '/v1/messages', 'messages relay: upstream path /v1/messages';
    is_deeply $up->{body}, $body, 'messages relay: the body went upstream unchanged '
        . '(thinking, signature, redacted_thinking, cache_control)';
    is $up->{headers}{'anthropic-beta'}, 'prompt-caching-2024-07-31', 'messages relay: anthropic-beta relayed';
    is $up->{headers}{'anthropic-version'}, '2023-06-01', 'messages relay: anthropic-version relayed';
    is $up->{headers}{'x-api-key'}, $KEY, "messages relay: the provider's key, not the client's";
    my $j = dec($res) // {};
    is $j->{type}, 'message', 'messages relay: an Anthropic message';
    ok $res->header('x-tokens-prompt') > 0, 'messages relay: usage read (x-tokens-prompt)';
    like $res->header('x-llmgw') // '', qr/^route=mockant:inspect;/, 'messages relay: x-llmgw route';

    $res = post_json($ANT, { model => 'thinking', max_tokens => 64,
                             messages => [ { role => 'user', content => 'hi' } ] }, %AH);
    $j = dec($res) // {};
    is $j->{content}[0]{type}, 'thinking', 'thinking answer: thinking block first';
    is $j->{content}[0]{signature}, $SIG, 'thinking answer: the signature is byte-identical';
    like $res->content, qr/\Q"signature":"$SIG"\E/, 'thinking answer: signature bytes unchanged in the text';

    # a provider prefix is stripped from the model, nothing else changes:
    # not a space, not an escape, not a number's form
    mock_reset();
    my $text = qq({ "max_tokens" : 8, "temperature": 1.0, "model":"mockant/echo",\n)
             . qq(  "messages":[{"role":"user","content":"pr\\u00e9fix\\u0000ed \\/ 1e2"}] });
    $res = post_json('/v1/messages', $text, %AH);
    is $res->code, 200, 'messages relay with provider/model: 200' or diag $res->content;
    (my $want = $text) =~ s{"mockant/echo"}{"echo"};
    is mock_last()->{raw}, $want, 'messages relay with provider/model: the same bytes but the model';
    is $body->{model}, 'inspect', '(the first request was not changed by the test)';
}

# ---- the Messages stream, relayed ------------------------------------------
{
    my $r = raw_request(method => 'POST', path => $ANT, headers => \%AH,
        body => $JSON->encode({ model => 'thinking', max_tokens => 64, stream => JSON::PP::true,
                                messages => [ { role => 'user', content => 'stream me' } ] }));
    is $r->{status}, 200, 'messages stream relay: 200';
    like $r->{headers}{'content-type'} // '', qr{^text/event-stream}, 'messages stream relay: SSE';
    my @ev = events_of($r->{body});
    is_deeply [ map { $_->[0] } @ev ],
        [ qw(message_start content_block_start content_block_delta content_block_delta content_block_stop
             content_block_start), ('content_block_delta') x (@ev - 9), qw(content_block_stop message_delta message_stop) ],
        'messages stream relay: the event sequence with its event names';
    my ($sig) = grep { ($_->[1]{delta}{type} // '') eq 'signature_delta' } @ev;
    is $sig && $sig->[1]{delta}{signature}, $SIG, 'messages stream relay: signature_delta byte-identical';
    unlike $r->{body}, qr/\[DONE\]/, 'messages stream relay: no [DONE] (not an OpenAI stream)';
    like $r->{body}, qr/\Q"signature":"$SIG"\E/, 'messages stream relay: signature bytes unchanged';

    # an error event of the provider is relayed and ends the stream
    $r = raw_request(method => 'POST', path => $ANT, headers => \%AH,
        body => $JSON->encode({ model => 'stream-error', max_tokens => 64, stream => JSON::PP::true,
                                messages => [ { role => 'user', content => 'x' } ] }));
    @ev = events_of($r->{body});
    is $ev[-1][0], 'error', 'messages stream error: the last event is the error event';
    is $ev[-1][1]{error}{type}, 'overloaded_error', "messages stream error: the provider's error";

    # a cut stream ends with an Anthropic error event, never message_stop
    $r = raw_request(method => 'POST', path => $ANT, headers => \%AH,
        body => $JSON->encode({ model => 'drop', max_tokens => 64, stream => JSON::PP::true,
                                messages => [ { role => 'user', content => 'cut short please' } ] }));
    @ev = events_of($r->{body});
    is $ev[-1][0], 'error', 'messages cut stream: ends with event: error';
    is $ev[-1][1]{type}, 'error', 'messages cut stream: Anthropic error shape';
    ok !(grep { ($_->[0] // '') eq 'message_stop' } @ev), 'messages cut stream: no message_stop';
}

# ---- errors on the messages route: Anthropic's shape -------------------------
sub anthropic_error_ok {
    my ($res, $status, $type, $name) = @_;
    my $j = dec($res) // {};
    is $res->code, $status, "$name: status $status" or diag $res->content;
    is $j->{type}, 'error', "$name: type error";
    is $j->{error}{type}, $type, "$name: error.type $type";
    ok length($j->{error}{message} // ''), "$name: error.message";
    is $j->{request_id}, $res->header('x-request-id'), "$name: request_id = x-request-id";
}
{
    anthropic_error_ok(post_json($ANT, '{"model":', %AH), 400, 'invalid_request_error', 'messages: bad JSON');
    anthropic_error_ok(post_json($ANT, { model => 'error-429', max_tokens => 8,
        messages => [ { role => 'user', content => 'x' } ] }, %AH), 429, 'rate_limit_error',
        'messages: upstream 429');
    anthropic_error_ok(post_json($ANT, { model => 'nope/x', provider => 'nope', max_tokens => 8,
        messages => [ { role => 'user', content => 'x' } ] }, %AH), 400, 'invalid_request_error',
        'messages: unknown provider');
    anthropic_error_ok(gw_request('GET', $ANT), 405, 'invalid_request_error', 'messages: GET');
}

# ---- count_tokens ------------------------------------------------------------
{
    mock_reset();
    my $res = post_json('/ant/v1/messages/count_tokens', { model => 'echo',
        messages => [ { role => 'user', content => 'count these words please' } ] }, %AH);
    is $res->code, 200, 'count_tokens: 200' or diag $res->content;
    ok((dec($res) // {})->{input_tokens} > 0, 'count_tokens: input_tokens');
    is mock_last()->{path}, '/v1/messages/count_tokens', 'count_tokens: upstream path';
    $res = post_json('/v1/messages/count_tokens', { model => 'mock/echo',
        messages => [ { role => 'user', content => 'x' } ] }, %AH);
    anthropic_error_ok($res, 400, 'invalid_request_error', 'count_tokens on an openai provider');
}

# ---- Gemini's own format --------------------------------------------------------
{
    mock_reset();
    my $body = { contents => [ { role => 'user', parts => [ { text => 'hello gemini' } ] } ],
                 generationConfig => { temperature => 0.5 } };
    my $res = post_json('/gem/v1beta/models/echo:generateContent', $body, 'x-goog-api-key' => 'client-key');
    my $up = mock_last();
    is $res->code, 200, 'gemini relay: 200' or diag $res->content;
    is $up->{path}, '/v1beta/models/echo:generateContent', 'gemini relay: upstream path';
    is_deeply $up->{body}, $body, 'gemini relay: body unchanged';
    is $up->{headers}{'x-goog-api-key'}, $KEY, "gemini relay: the provider's key";
    my $j = dec($res) // {};
    is $j->{candidates}[0]{content}{parts}[0]{text}, 'hello gemini', 'gemini relay: the answer as Gemini sent it';
    ok $res->header('x-tokens-prompt') > 0, 'gemini relay: usage read';

    $res = post_json('/v1/models/mockgem%2Fecho:generateContent', $body);
    is $res->code, 200, 'gemini relay by provider/model in the path: 200' or diag $res->content;

    my $r = raw_request(method => 'POST', path => '/gem/v1beta/models/echo:streamGenerateContent?alt=sse',
        body => $JSON->encode($body));
    is $r->{status}, 200, 'gemini stream relay: 200';
    my @ev = events_of($r->{body});
    ok @ev >= 1 && $ev[-1][1]{candidates}[0]{finishReason}, 'gemini stream relay: ends with a finishReason';
    is join('', map { $_->[1]{candidates}[0]{content}{parts}[0]{text} // '' } @ev), 'hello gemini',
        'gemini stream relay: the text';

    # errors in Google's shape
    $res = post_json('/gem/v1beta/models/error-429:generateContent', $body);
    my $e = (dec($res) // {})->{error} // {};
    is $res->code, 429, 'gemini error: 429';
    is $e->{status}, 'RESOURCE_EXHAUSTED', 'gemini error: google.rpc status';
    is $e->{code}, 429, 'gemini error: code';
    $res = post_json('/v1/models/mock%2Fecho:generateContent', $body);
    is $res->code, 400, 'gemini route to an openai provider: 400';
    is((dec($res) // {})->{error}{status}, 'INVALID_ARGUMENT', 'gemini route to an openai provider: Google shape');
    $res = post_json('/gem/v1beta/models/echo:generateContent', { contents => 'x' });
    is $res->code, 400, 'gemini: contents not an array: 400';
}

# ---- the Responses API relayed (responses=native) -------------------------------
{
    mock_reset();
    my $res = post_json('/native/v1/responses', { model => 'echo', input => 'native hello' });
    my $j = dec($res) // {};
    is $res->code, 200, 'responses native: 200' or diag $res->content;
    is mock_last()->{path}, '/v1/responses', 'responses native: upstream /v1/responses';
    is $j->{object}, 'response', 'responses native: a response object';
    is $j->{output}[0]{content}[0]{text}, 'native hello', 'responses native: the answer';
    ok $res->header('x-tokens-completion') > 0, 'responses native: usage read';
    my $got = gw_request('GET', "/native/v1/responses/$j->{id}");
    is $got->code, 200, 'responses native: GET responses/{id}' or diag $got->content;
    is((dec($got) // {})->{id}, $j->{id}, 'responses native: the stored response');

    my $r = raw_request(method => 'POST', path => '/native/v1/responses',
        body => $JSON->encode({ model => 'echo', input => 'native stream', stream => JSON::PP::true }));
    my @ev = events_of($r->{body});
    is $ev[0][0], 'response.created', 'responses native stream: response.created first';
    is $ev[-1][0], 'response.completed', 'responses native stream: response.completed last';
    $r = raw_request(method => 'POST', path => '/native/v1/responses',
        body => $JSON->encode({ model => 'drop', input => 'native stream cut', stream => JSON::PP::true }));
    @ev = events_of($r->{body});
    ok !(grep { ($_->[0] // '') eq 'response.completed' } @ev), 'responses native cut stream: no response.completed';
    ok((grep { ($_->[0] // '') =~ /^(error|response\.failed)$/ } @ev), 'responses native cut stream: an error event');

    $res = post_json('/native/v1/responses', { model => 'error-503', input => 'x' });
    envelope_ok($res, 502, 'provider_error', 'responses native: upstream 503',
                provider => 'mockresp', upstream_status => 503);
}

# ---- GET / DELETE responses/{id}: unknown ids, methods ---------------------------
{
    my $res = gw_request('GET', '/v1/responses/resp_doesnotexist');
    envelope_ok($res, 404, 'invalid_request_error', 'GET unknown response', code => 'not_found');
    $res = gw_request('PUT', '/v1/responses/resp_x', '{}');
    is $res->code, 405, 'PUT responses/{id}: 405';
    is $res->header('Allow'), 'GET, DELETE', 'PUT responses/{id}: Allow';
}

# ---- IndoxHub's envelope -----------------------------------------------------
{
    my $res = post_json('/indox/v1/chat/completions', chat_body('echo', 'indox hello'));
    my $j = dec($res) // {};
    is $res->code, 200, 'indoxhub: 200' or diag $res->content;
    is $j->{data}, 'indox hello', 'indoxhub: data is the text';
    ok JSON::PP::is_bool($j->{success}) && $j->{success}, 'indoxhub: success true';
    is $j->{request_id}, $res->header('x-request-id'), 'indoxhub: request_id';
    is $j->{raw_response}{choices}[0]{message}{content}, 'indox hello', 'indoxhub: raw_response is the OpenAI answer';
    ok $j->{usage}{tokens_total} > 0, 'indoxhub: usage.tokens_total';
    is $j->{provider}, 'mock', 'indoxhub: provider';
    $res = post_json('/indox/v1/chat/completions', chat_body('error-429', 'x'));
    $j = dec($res) // {};
    is $res->code, 429, 'indoxhub error: same status';
    ok JSON::PP::is_bool($j->{success}) && !$j->{success}, 'indoxhub error: success false';
    is $j->{data}, '', 'indoxhub error: data ""';
}
