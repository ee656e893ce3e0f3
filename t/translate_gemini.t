# OpenAI Chat Completions through a `gemini` provider (mockgem: the mock
# speaking generateContent): what the provider receives (contents/parts,
# systemInstruction, generationConfig, functionDeclarations, toolConfig,
# inline images, functionCall/functionResponse history, the key in
# x-goog-api-key and never in the URL, :generateContent vs
# :streamGenerateContent?alt=sse), what the client gets back (text,
# tool_calls with generated ids, finish reasons, usage with cached tokens),
# streams (role first, tool-call deltas, finish reason, usage chunk, [DONE]
# last), google.rpc errors as SPEC envelopes (RetryInfo -> retry-after),
# embeddings, and kept-alive upstream connections.
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
                        properties => { location => { type => 'string', description => 'city' } },
                        required => [ 'location' ] },
    },
};

sub stream_req {
    my ($path, $body, %o) = @_;
    return raw_request(method => 'POST', path => $path, body => $JSON->encode($body), %o);
}

sub parts_text { join '', map { defined $_->{text} ? $_->{text} : '' } @{ $_[0] // [] } }

sub stream_ok {
    my ($r, $name) = @_;
    is $r->{status}, 200, "$name: 200";
    like $r->{headers}{'content-type'} // '', qr{^text/event-stream}i, "$name: text/event-stream";
    my $s = assemble($r->{body});
    is scalar(@{ $s->{bad} }), 0, "$name: every event is JSON or [DONE]" or diag "bad: @{ $s->{bad} }";
    is $s->{done}, 1, "$name: one data: [DONE]";
    ok $s->{done_last}, "$name: [DONE] is the last event";
    like $r->{body}, qr/data: \[DONE\]\n\n\z/, "$name: the raw body ends with data: [DONE]";
    ok !$s->{error}, "$name: no error event" or diag $JSON->encode($s->{error});
    is $s->{not_chunk}, 0, "$name: every JSON event is a chat.completion.chunk";
    is scalar(keys %{ $s->{ids} }), 1, "$name: one id for every chunk";
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
        model => 'mockgem/echo',
        messages => [
            { role => 'system', content => 'You are terse.' },
            { role => 'user', content => 'first question' },
            { role => 'user', content => [ { type => 'text', text => 'and a picture' },
                                           { type => 'image_url',
                                             image_url => { url => "data:image/png;base64,$PNG" } } ] },
            { role => 'assistant', content => 'an answer' },
            { role => 'user', content => 'last words' },
        ],
        stop => [ 'END', 'HALT' ], temperature => 0.25, top_p => 0.5, max_tokens => 99, n => 1,
    }, Authorization => 'Bearer sk-client-own-credential');
    is $res->code, 200, 'gemini request: 200' or diag $res->content;
    my $b = upstream();
    is $last->{method}, 'POST', 'gemini request: POST';
    is $last->{path}, '/v1beta/models/echo:generateContent', 'gemini request: BASE/models/MODEL:generateContent';
    is_deeply $last->{query}, {}, 'gemini request: no query string (the key is not in the URL)';
    is $last->{headers}{'x-goog-api-key'}, $KEY, 'gemini request: x-goog-api-key is the configured key';
    ok !exists $last->{headers}{authorization}, 'gemini request: no Authorization header upstream';
    unlike $JSON->encode($last), qr/sk-client-own-credential/, "gemini request: the client's credential is not forwarded";
    is parts_text($b->{systemInstruction}{parts}), 'You are terse.', 'gemini request: system message to systemInstruction';
    is_deeply [ map { $_->{role} } @{ $b->{contents} } ], [ 'user', 'model', 'user' ],
        'gemini request: contents roles user/model/user (consecutive user turns merged)';
    my $p0 = $b->{contents}[0]{parts} // [];
    is parts_text($p0), 'first questionand a picture', 'gemini request: merged text parts';
    my ($img) = grep { $_->{inlineData} } @$p0;
    is_deeply $img && $img->{inlineData}, { mimeType => 'image/png', data => $PNG },
        'gemini request: data URL image to inlineData';
    is parts_text($b->{contents}[1]{parts}), 'an answer', 'gemini request: assistant turn as role model';
    my $gc = $b->{generationConfig} // {};
    is $gc->{maxOutputTokens}, 99, 'gemini request: max_tokens to generationConfig.maxOutputTokens';
    is $gc->{temperature}, 0.25, 'gemini request: temperature';
    is $gc->{topP}, 0.5, 'gemini request: top_p to topP';
    is_deeply $gc->{stopSequences}, [ 'END', 'HALT' ], 'gemini request: stop to stopSequences';
    is $gc->{candidateCount}, 1, 'gemini request: n to candidateCount';
    my %allowed = map { $_ => 1 } qw(contents systemInstruction generationConfig tools toolConfig
                                     safetySettings cachedContent);
    is_deeply [ grep { !$allowed{$_} } sort keys %$b ], [],
        'gemini request: only generateContent fields upstream (no model/messages/stop...)';

    my $j = dec($res) // {};
    is $j->{object}, 'chat.completion', 'gemini response: chat.completion';
    is $j->{choices}[0]{message}{content}, 'last words', 'gemini response: text';
    is $j->{choices}[0]{message}{role}, 'assistant', 'gemini response: role';
    is $j->{choices}[0]{finish_reason}, 'stop', 'gemini response: STOP -> stop';
    is $res->header('x-llmgw'), 'route=mockgem:echo; cache=none; attempts=1', 'gemini response: x-llmgw';
    my $u = $j->{usage} // {};
    ok $u->{prompt_tokens} > 0 && $u->{completion_tokens} > 0, 'gemini response: usage';
    is $u->{total_tokens}, ($u->{prompt_tokens} // 0) + ($u->{completion_tokens} // 0), 'gemini response: total_tokens';
}
{
    post_json($CC, chat_body('mockgem/echo', 'x', max_completion_tokens => 42, stop => 'ONE', n => 2));
    my $gc = upstream()->{generationConfig} // {};
    is $gc->{maxOutputTokens}, 42, 'gemini request: max_completion_tokens to maxOutputTokens';
    is_deeply $gc->{stopSequences}, [ 'ONE' ], 'gemini request: a string stop';
    is $gc->{candidateCount}, 2, 'gemini request: n 2 to candidateCount 2';
    post_json($CC, chat_body('mockgem/echo', 'x'));
    ok !exists((upstream()->{generationConfig} // {})->{maxOutputTokens}),
        'gemini request: no maxOutputTokens when the client sets none';
    # a model name can never change the upstream path
    my $n0 = mock_stats()->{requests};
    my $res = post_json($CC, chat_body('mockgem/a b:c?key=x', 'x'));
    my $path = mock_last()->{path};
    ok +($res->code == 200 && $path eq '/v1beta/models/a%20b%3Ac%3Fkey%3Dx:generateContent'
         && !%{ mock_last()->{query} })
        || ($res->code == 400 && mock_stats()->{requests} == $n0),
        'gemini request: a model name with " :?=" is percent-encoded into one path segment (or refused)'
        or diag $res->code . " $path " . $res->content;
}

# BYOK: LLMGWPassthroughAuth On sends the client's token as x-goog-api-key;
# provider_key in the body replaces the configured key for one request
{
    my $res = post_json('/byok/v1/chat/completions', chat_body('mockgem/echo', 'byok'),
                        Authorization => 'Bearer sk-client-byok-1');
    is $res->code, 200, 'mockgem passthrough: 200';
    my $l = mock_last();
    is $l->{headers}{'x-goog-api-key'}, 'sk-client-byok-1', 'mockgem passthrough: the client token as x-goog-api-key';
    ok !exists $l->{headers}{authorization}, 'mockgem passthrough: no Authorization header upstream';
    post_json($CC, chat_body('mockgem/echo', 'byok', provider_key => 'sk-body-key-2'));
    $l = mock_last();
    is $l->{headers}{'x-goog-api-key'}, 'sk-body-key-2', 'mockgem provider_key: sent as x-goog-api-key';
    ok !exists(($l->{body} // {})->{provider_key}), 'mockgem provider_key: not in the upstream body';
}

# ------------------------------------------------------------ tools
my %modes = (
    auto => { mode => 'AUTO' },
    none => { mode => 'NONE' },
    required => { mode => 'ANY' },
    named => { mode => 'ANY', allowedFunctionNames => [ 'get_weather' ] },
);
for my $case (qw(auto none required named)) {
    my $tc = $case eq 'named' ? { type => 'function', function => { name => 'get_weather' } } : $case;
    my $res = post_json($CC, chat_body('mockgem/tools', 'weather in Paris?', tools => [ $WEATHER ],
                                       tool_choice => $tc));
    is $res->code, 200, "gemini tools ($case): 200";
    my $b = upstream();
    is_deeply $b->{toolConfig}, { functionCallingConfig => $modes{$case} },
        "gemini tools ($case): toolConfig.functionCallingConfig " . $JSON->encode($modes{$case});
    next unless $case eq 'auto';
    my $decls = $b->{tools}[0]{functionDeclarations} // [];
    is scalar(@$decls), 1, 'gemini tools: tools[0].functionDeclarations has the tool';
    is $decls->[0]{name}, 'get_weather', 'gemini tools: name';
    is $decls->[0]{description}, 'Current weather of a city', 'gemini tools: description';
    is $decls->[0]{parameters}{properties}{location}{type}, 'string', 'gemini tools: parameters';
    is_deeply $decls->[0]{parameters}{required}, [ 'location' ], 'gemini tools: required';

    my $j = dec($res) // {};
    my $m = $j->{choices}[0]{message} // {};
    my $calls = $m->{tool_calls} // [];
    is scalar(@$calls), 1, 'gemini tools response: one tool call';
    like $calls->[0]{id} // '', qr/^\S{6,}$/, 'gemini tools response: a generated id';
    is $calls->[0]{type}, 'function', 'gemini tools response: type function';
    is $calls->[0]{function}{name}, 'get_weather', 'gemini tools response: name';
    ok defined $calls->[0]{function}{arguments} && !ref $calls->[0]{function}{arguments},
        'gemini tools response: arguments is a JSON string';
    is_deeply dec($calls->[0]{function}{arguments} // ''), { location => 'Paris' },
        'gemini tools response: arguments parse to functionCall.args';
    is $j->{choices}[0]{finish_reason}, 'tool_calls', 'gemini tools response: STOP with a functionCall -> tool_calls';
}
{
    my $r1 = dec(post_json($CC, chat_body('mockgem/tools', 'a', tools => [ $WEATHER ]))) // {};
    my $r2 = dec(post_json($CC, chat_body('mockgem/tools', 'b', tools => [ $WEATHER ]))) // {};
    my ($i1, $i2) = map { $_->{choices}[0]{message}{tool_calls}[0]{id} // '' } $r1, $r2;
    isnt $i1, $i2, 'gemini tools response: tool-call ids differ between requests';
}

# functionCall / functionResponse history
{
    my $res = post_json($CC, {
        model => 'mockgem/echo', tools => [ $WEATHER ],
        messages => [
            { role => 'user', content => 'weather?' },
            { role => 'assistant', content => undef,
              tool_calls => [ { id => 'call_abc', type => 'function',
                                function => { name => 'get_weather', arguments => '{"location":"Paris"}' } } ] },
            { role => 'tool', tool_call_id => 'call_abc', content => '{"temp":21}' },
            { role => 'user', content => 'thanks' },
        ] });
    is $res->code, 200, 'gemini tool history: 200' or diag $res->content;
    my $b = upstream();
    is_deeply [ map { $_->{role} } @{ $b->{contents} } ], [ 'user', 'model', 'user' ],
        'gemini tool history: user, model (call), user (response + text)';
    my ($fc) = grep { $_->{functionCall} } @{ $b->{contents}[1]{parts} // [] };
    is_deeply $fc && $fc->{functionCall}, { name => 'get_weather', args => { location => 'Paris' } },
        'gemini tool history: tool_calls to functionCall with parsed args';
    my ($fr) = grep { $_->{functionResponse} } @{ $b->{contents}[2]{parts} // [] };
    is $fr && $fr->{functionResponse}{name}, 'get_weather',
        'gemini tool history: the tool message to functionResponse named after its call';
    is_deeply $fr && $fr->{functionResponse}{response}, { temp => 21 },
        'gemini tool history: a JSON tool result becomes the response object';
    is parts_text($b->{contents}[2]{parts}), 'thanks', 'gemini tool history: then the user text';
}

# ------------------------------------------------------------ responses
{
    my $j = dec(post_json($CC, chat_body('mockgem/max-tokens', 'cut'))) // {};
    is $j->{choices}[0]{finish_reason}, 'length', 'gemini response: MAX_TOKENS -> length';
    $j = dec(post_json($CC, chat_body('mockgem/cached-30-0', 'cached prompt'))) // {};
    is $j->{usage} && $j->{usage}{prompt_tokens_details}{cached_tokens}, 30,
        'gemini usage: cachedContentTokenCount to prompt_tokens_details.cached_tokens';
}

# ------------------------------------------------------------ streams
{
    my $text = 'Gemini streams end with the close.';
    my $r = stream_req($CC, chat_body('mockgem/echo', $text, stream => $T));
    my $s = stream_ok($r, 'gemini stream');
    is mock_last()->{path}, '/v1beta/models/echo:streamGenerateContent',
        'gemini stream: BASE/models/MODEL:streamGenerateContent';
    is_deeply mock_last()->{query}, { alt => 'sse' }, 'gemini stream: ?alt=sse and nothing else (no key)';
    is $s->{choices}{0}{text}, $text, 'gemini stream: assembled text';
    is_deeply $s->{choices}{0}{finish}, [ 'stop' ], 'gemini stream: finish_reason stop';
    is $s->{usage_chunks}, 0, 'gemini stream: no usage chunk without include_usage';
    is $r->{headers}{'x-llmgw'}, 'route=mockgem:echo; cache=none; attempts=1', 'gemini stream: x-llmgw';
}
{
    my $body = chat_body('mockgem/cached-5-0', 'count these tokens please');
    my $plain = dec(post_json($CC, $body)) // {};
    my $r = stream_req($CC, { %$body, stream => $T, stream_options => { include_usage => $T } });
    my $s = stream_ok($r, 'gemini stream include_usage');
    is $s->{usage_chunks}, 1, 'gemini stream include_usage: one usage chunk';
    ok $s->{usage_choices_empty}, 'gemini stream include_usage: the usage chunk has choices: []';
    ok $s->{usage_after_finish}, 'gemini stream include_usage: usage after the finish_reason';
    is_deeply [ @{ $s->{usage} // {} }{qw(prompt_tokens completion_tokens total_tokens)} ],
              [ @{ $plain->{usage} // {} }{qw(prompt_tokens completion_tokens total_tokens)} ],
        'gemini stream include_usage: the same usage as the non-stream answer';
    is $s->{usage} && $s->{usage}{prompt_tokens_details}{cached_tokens}, 5, 'gemini stream include_usage: cached_tokens';
}
{
    my $r = stream_req($CC, chat_body('mockgem/tools', 'weather?', tools => [ $WEATHER ], stream => $T,
                                      stream_options => { include_usage => $T }));
    my $s = stream_ok($r, 'gemini tool stream');
    my $tc = $s->{choices}{0}{tool_calls} // [];
    is scalar(@$tc), 1, 'gemini tool stream: one tool call (index 0)';
    my $f = $tc->[0]{first} // {};
    is $f->{index}, 0, 'gemini tool stream: first tool delta has index 0';
    like $f->{id} // '', qr/^\S{6,}$/, 'gemini tool stream: first tool delta has an id';
    is $f->{type}, 'function', 'gemini tool stream: first tool delta has type function';
    is $f->{function} && $f->{function}{name}, 'get_weather', 'gemini tool stream: first tool delta has the name';
    is_deeply dec($tc->[0]{arguments} // ''), { location => 'Paris' }, 'gemini tool stream: arguments';
    is_deeply $s->{choices}{0}{finish}, [ 'tool_calls' ], 'gemini tool stream: finish_reason tool_calls';
    ok $s->{usage} && $s->{usage}{prompt_tokens} > 0, 'gemini tool stream: usage chunk';
}
{
    my $r = stream_req($CC, chat_body('mockgem/max-tokens', 'long answer', stream => $T));
    my $s = stream_ok($r, 'gemini MAX_TOKENS stream');
    is_deeply $s->{choices}{0}{finish}, [ 'length' ], 'gemini MAX_TOKENS stream: finish_reason length';
}
{   # the upstream drops mid-stream: the SPEC error event
    my $r = stream_req($CC, chat_body('mockgem/drop', 'this stream will be cut', stream => $T));
    is $r->{status}, 200, 'gemini dropped stream: 200';
    my $s = assemble($r->{body});
    ok $s->{error} && $s->{error_last}, 'gemini dropped stream: last event is data: {"error":...}' or diag $r->{body};
    is $s->{error} && $s->{error}{type}, 'provider_error', 'gemini dropped stream: provider_error';
    is $s->{done}, 0, 'gemini dropped stream: no [DONE]';
}

# ------------------------------------------------------------ google.rpc errors
my @errors = (
    [ 'error-400', 400, 'invalid_request_error', 400, 0 ],
    [ 'error-401', 401, 'authentication_error', 401, 0 ],
    [ 'error-403', 403, 'permission_error', 403, 0 ],
    [ 'error-404', 404, qr/^(invalid_request_error|not_found_error)$/, 404, 0 ],
    [ 'error-429', 429, 'rate_limit_error', 429, 1 ],
    [ 'error-500', 502, 'provider_error', 500, 1 ],
    [ 'error-503', 502, 'provider_error', 503, 1 ],
);
for my $c (@errors) {
    my ($model, $status, $type, $ust, $retryable) = @$c;
    my $res = post_json($CC, chat_body("mockgem/$model", 'x'));
    my $e = envelope_ok($res, $status, $type, "gemini $model", provider => 'mockgem',
                        upstream_status => $ust, retryable => $retryable);
    if ($status < 500) {
        (my $n = $model) =~ s/error-//;
        like $e->{message} // '', qr/mock error $n/, "gemini $model: the provider message is kept";
    }
    if ($status == 429) {
        is $res->header('retry-after'), 3, "gemini $model: retry-after: 3 from google.rpc.RetryInfo";
    }
}
{
    my $r = stream_req($CC, chat_body('mockgem/error-429', 'x', stream => $T));
    is $r->{status}, 429, 'gemini stream + 429 before the first byte: 429';
    like $r->{headers}{'content-type'} // '', qr{^application/json}i, 'gemini stream + 429: a JSON envelope';
    is $r->{headers}{'retry-after'}, 3, 'gemini stream + 429: retry-after: 3';
}

# ------------------------------------------------------------ embeddings
{
    my $res = post_json('/v1/embeddings', { model => 'mockgem/text-embedding-004', input => [ 'one', 'two' ] });
    is $res->code, 200, 'gemini embeddings: 200' or diag $res->content;
    my $j = dec($res) // {};
    is scalar(@{ $j->{data} // [] }), 2, 'gemini embeddings: two vectors';
    ok ref $j->{data}[0]{embedding} eq 'ARRAY' && @{ $j->{data}[0]{embedding} } == 8,
        'gemini embeddings: the mock\'s 8-dimensional vector';
    is_deeply [ map { $_->{index} } @{ $j->{data} // [] } ], [ 0, 1 ], 'gemini embeddings: indexes';
    my $l = mock_last();
    like $l->{path}, qr{^/v1beta/models/text-embedding-004:(batchEmbedContents|embedContent)$},
        'gemini embeddings: embedContent / batchEmbedContents upstream';
    is $l->{headers}{'x-goog-api-key'}, $KEY, 'gemini embeddings: x-goog-api-key';
}

# ------------------------------------------------------------ upstream keep-alive
for my $stream (0, 1) {
    my $what = $stream ? 'streams' : 'non-stream requests';
    mock_reset();
    my $ok = 0;
    for my $i (1 .. 8) {
        my $res = post_json($CC, chat_body('mockgem/echo', "keep-alive $i", $stream ? (stream => $T) : ()));
        $ok++ if $res->code == 200;
    }
    is $ok, 8, "gemini keep-alive: 8 sequential $what answered";
    my $st = mock_stats();
    is $st->{requests}, 8, 'gemini keep-alive: the mock saw 8 requests';
    ok $st->{connections} <= 2, "gemini keep-alive: 8 sequential $what used $st->{connections} upstream connection(s) (<= 2)";
}

no_key_leak();
done_testing();
