# Choosing the provider and whose key goes where (SPEC "Choosing the
# provider and model"): an explicit `provider` field wins and the model goes
# upstream verbatim; `provider_key` goes only to the provider chosen for it,
# never to a fallback on another provider; `model` is tried before every
# `models` entry; the legacy llm_provider / llm_api_key fields are aliases
# answered with Deprecation: true and never forwarded; a BYOK answer is
# cached under its provider key only; \u0000 in content is relayed.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

plan tests => 72, need_module('llmgw'), need_module('llmgw_cache');

my $KEY = provider_key();
my $CC = '/v1/chat/completions';
my $nonce = "$$-" . time;
sub by_model { mock_stats()->{by_model}{ $_[0] } // 0 }
sub content_of { my $j = dec($_[0]) // {}; return $j->{choices}[0]{message}{content} }

mock_reset();

# ---- 1. the provider field wins; the model goes upstream verbatim ---------
{
    # The HardCarrx quickstart: an OpenRouter model id whose prefix happens
    # to name another configured provider (here `mock`).
    my $res = post_json($CC, chat_body('mock/gpt-4.1-mini', 'via orouter',
        provider => 'orouter', provider_key => 'sk-or-test-1'));
    my $up = mock_last();
    is $res->code, 200, 'provider field: 200' or diag $res->content;
    is $res->header('x-provider'), 'orouter', 'provider field: orouter answered';
    is $up->{body}{model}, 'mock/gpt-4.1-mini', 'provider field: model sent verbatim, slash included';
    is $up->{headers}{authorization}, 'Bearer sk-or-test-1',
        'provider field: the BYOK key goes to the provider it was chosen for';
    like $res->header('x-llmgw') // '', qr/^route=orouter:mock\/gpt-4\.1-mini;/, 'provider field: x-llmgw route';

    $res = post_json($CC, chat_body('mock/echo', 'x', provider => 'nope'));
    envelope_ok($res, 400, 'invalid_request_error', 'unknown provider field, whatever the model',
                code => 'provider_not_found');
}

# ---- provider_key never reaches a fallback on another provider ------------
{
    mock_reset();
    my $res = post_json($CC, { provider => 'orouter', provider_key => 'sk-or-test-2',
        model => 'error-503', models => ['mock/echo'],
        messages => [ { role => 'user', content => 'fallback' } ] });
    my $up = mock_last();
    is $res->code, 200, 'BYOK fallback: 200 from the fallback' or diag $res->content;
    is $res->header('x-provider'), 'mock', 'BYOK fallback: mock answered';
    is by_model('error-503'), 1, 'BYOK fallback: the first choice was tried';
    is $up->{headers}{authorization}, "Bearer $KEY",
        "BYOK fallback: the other provider gets its own configured key";
    unlike $JSON->encode($up), qr/sk-or-test-2/, 'BYOK fallback: the BYOK key is nowhere in that request';

    # a fallback on the same provider keeps the client's key
    mock_reset();
    $res = post_json($CC, { provider_key => 'sk-same-3',
        model => 'mock/error-503', models => ['mock/echo'],
        messages => [ { role => 'user', content => 'same provider' } ] });
    $up = mock_last();
    is $res->code, 200, 'BYOK same-provider fallback: 200';
    is $up->{headers}{authorization}, 'Bearer sk-same-3', 'BYOK same-provider fallback: the BYOK key';

    # passthrough: the client's bearer token is the provider key of the
    # chosen provider only
    mock_reset();
    $res = post_json('/byok/v1/chat/completions', { model => 'mock/error-503',
        models => ['orouter/echo'], messages => [ { role => 'user', content => 'pt' } ] },
        Authorization => 'Bearer sk-client-pt-4');
    $up = mock_last();
    is $res->code, 200, 'passthrough fallback: 200';
    is $up->{headers}{authorization}, "Bearer $KEY",
        'passthrough fallback: the other provider gets its own key, not the client token';
}

# ---- 2. `model` first, then every `models` entry ---------------------------
{
    mock_reset();
    my $res = post_json($CC, { model => 'mock/error-503', models => ['mock/echo'],
        messages => [ { role => 'user', content => 'first fallback' } ] });
    is $res->code, 200, 'model + models: the first models entry is tried' or diag $res->content;
    is content_of($res), 'first fallback', 'model + models: answered by models[0]';
    like $res->header('x-llmgw') // '', qr/attempts=2/, 'model + models: two attempts';
    is by_model('error-503'), 1, 'model + models: model tried once';

    mock_reset();
    $res = post_json($CC, { models => ['mock/error-503', 'mock/error-502', 'mock/echo'],
        messages => [ { role => 'user', content => 'third' } ] });
    is $res->code, 200, 'models alone: 200';
    like $res->header('x-llmgw') // '', qr/^route=mock:echo; .*attempts=3/,
        'models alone: its entries in order, each once';
    is by_model('error-503') + by_model('error-502'), 2, 'models alone: first two tried once each';
}

# ---- 3. legacy llm_provider / llm_api_key ----------------------------------
{
    mock_reset();
    my $res = post_json($CC, chat_body('mock/legacy-x', 'legacy',
        llm_provider => 'orouter', llm_api_key => 'sk-legacy-5'));
    my $up = mock_last();
    is $res->code, 200, 'legacy fields: 200' or diag $res->content;
    is $res->header('Deprecation'), 'true', 'legacy fields: Deprecation: true';
    is $res->header('x-provider'), 'orouter', 'legacy llm_provider: names the provider';
    is $up->{headers}{authorization}, 'Bearer sk-legacy-5', 'legacy llm_api_key: the BYOK key';
    ok !exists $up->{body}{llm_api_key} && !exists $up->{body}{llm_provider},
        'legacy fields: never forwarded in the body';
    unlike $JSON->encode($up->{body}), qr/sk-legacy-5/, 'legacy fields: the key is not in the upstream body';

    $res = post_json($CC, chat_body('echo', 'new names'));
    ok !defined $res->header('Deprecation'), 'no legacy field: no Deprecation header';

    $res = post_json($CC, chat_body('echo', 'x', llm_provider => 'ghost'));
    envelope_ok($res, 400, 'invalid_request_error', 'legacy llm_provider unknown',
                code => 'provider_not_found');
}

# ---- 4. a BYOK answer is cached under its provider key only ---------------
{
    my $C = '/cache/v1/chat/completions';
    my $body = chat_body('echo', "byok cache $nonce");
    my $r = post_json($C, { %$body, provider_key => 'pk-victim' });
    is $r->header('x-cache-status'), 'MISS', 'BYOK cache: first MISS';
    is post_json($C, { %$body, provider_key => 'pk-victim' })->header('x-cache-status'), 'HIT',
        'BYOK cache: the same key HITs';
    is post_json($C, $body)->header('x-cache-status'), 'MISS',
        'BYOK cache: no key never gets the BYOK answer';
    is post_json($C, { %$body, provider_key => 'pk-attacker' })->header('x-cache-status'), 'MISS',
        'BYOK cache: another key never gets it';
    is post_json($C, { %$body, llm_api_key => 'pk-other-legacy' })->header('x-cache-status'), 'MISS',
        'BYOK cache: a legacy-named key is a key too';
}

# ---- 13. \u0000 is valid JSON and is relayed -------------------------------
{
    my $nul = '{"model":"mock/echo","messages":[{"role":"user","content":"a\u0000b"}]}';
    my $res = post_json($CC, $nul);
    is $res->code, 200, '\u0000 (fast path): 200' or diag $res->content;
    is mock_last()->{body}{messages}[0]{content}, "a\0b", '\u0000 (fast path): relayed';

    $res = post_json($CC, '{"model":"echo","provider":"mock","messages":[{"role":"user","content":"c\u0000d"}]}');
    is $res->code, 200, '\u0000 (parsed): 200' or diag $res->content;
    is mock_last()->{body}{messages}[0]{content}, "c\0d", '\u0000 (parsed): relayed';

    $res = post_json($CC, '{"model":"mockant/echo","messages":[{"role":"user","content":"e\u0000f"}]}');
    is $res->code, 200, '\u0000 (to Anthropic): 200' or diag $res->content;
    my $c = mock_last()->{body}{messages}[0]{content};
    is ref $c ? $c->[0]{text} : $c, "e\0f", '\u0000 (to Anthropic): relayed';

    is content_of($res), "e\0f", '\u0000 (from Anthropic): the answer keeps it';
    $res = post_json($CC, '{"model":"mockgem/echo","messages":[{"role":"user","content":"g\u0000h"}]}');
    is content_of($res), "g\0h", '\u0000 (Gemini): relayed both ways';
    for my $m ('mockant/echo', 'mockgem/echo', 'mock/echo') {
        my $r = raw_request(method => 'POST', path => $CC, timeout => 20,
            body => qq({"model":"$m","stream":true,"messages":[{"role":"user","content":"i\\u0000j"}]}));
        like $r->{body} // '', qr/"i\\u0000j"/, "\\u0000 in a $m stream: relayed";
    }

    $res = post_json($CC, '{"model":"mock/ec\u0000ho","messages":[{"role":"user","content":"x"}]}');
    envelope_ok($res, 400, 'invalid_request_error', 'a NUL in the model name');
}

no_key_leak();
