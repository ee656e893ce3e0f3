# Routing and credentials: what reaches the provider. Uses the mock's
# `inspect` model (its reply is the request the mock received) and
# /__mock/last.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

plan tests => 32 + 4 * 5 + 5 * 4 + 4, need_module('llmgw');

my $KEY = provider_key();

sub inspect {
    my ($path, $body, @h) = @_;
    local $LLMGW::Test::NO_LEAK_CHECK = 1;
    my $res = post_json($path, $body, @h);
    my $j = dec($res) // {};
    my $text = eval { $j->{choices}[0]{message}{content} };
    return ($res, dec($text // '') // {});
}

# --- configured key, gateway fields stripped, client credentials dropped ---
{
    my ($res, $up) = inspect('/v1/chat/completions',
        { model => 'inspect', provider => 'mock',
          models => ['mock/echo'], messages => [ { role => 'user', content => 'hi' } ],
          temperature => 0.5, max_tokens => 7, user => 'u-1' },
        'Authorization' => 'Bearer sk-client-should-not-pass',
        'x-api-key' => 'sk-client-xapi', 'apikey' => 'sk-client-apikey');
    is $res->code, 200, 'inspect: 200' or diag $res->content;
    is $up->{method}, 'POST', 'upstream method POST';
    is $up->{path}, '/v1/chat/completions', 'upstream path = base URL + /chat/completions';
    is_deeply $up->{query}, {}, 'upstream query empty';
    my $b = $up->{body} // {};
    is $b->{model}, 'inspect', 'upstream model as the client wrote it (provider field)';
    ok !exists $b->{provider}, 'provider field removed';
    ok !exists $b->{provider_key}, 'provider_key field removed';
    ok !exists $b->{models}, 'models field removed';
    is $b->{temperature}, 0.5, 'temperature passed through';
    is $b->{max_tokens}, 7, 'max_tokens passed through';
    is $b->{user}, 'u-1', 'other OpenAI fields passed through';
    is_deeply $b->{messages}, [ { role => 'user', content => 'hi' } ], 'messages passed through';
    my $h = $up->{headers} // {};
    is $h->{authorization}, "Bearer $KEY", 'upstream Authorization is the configured key';
    ok !exists $h->{'x-api-key'}, 'client x-api-key not forwarded';
    ok !exists $h->{apikey}, 'client apikey not forwarded';
    like $h->{'content-type'} // '', qr{^application/json}i, 'upstream content-type JSON';
    unlike join(' ', values %$h), qr/sk-client/, 'no client credential in any upstream header';
}

# --- header=N:V of the provider ---
{
    my ($res, $up) = inspect('/v1/chat/completions', chat_body('extra/inspect', 'x'));
    is $res->code, 200, 'extra/inspect: 200';
    is $up->{headers}{'x-extra'}, 'from-config', 'configured header=X-Extra:from-config sent';
    is $up->{body}{model}, 'inspect', 'extra: model stripped';
    ok !exists $up->{headers}{authorization}, 'provider without key: no Authorization upstream';
    is $res->header('x-provider'), 'extra', 'x-provider extra';
}

# --- BYOK: provider_key in the body replaces the configured key ---
{
    my ($res, $up) = inspect('/v1/chat/completions',
        chat_body('mock/inspect', 'x', provider_key => 'sk-byok-body-456'));
    is $res->code, 200, 'provider_key: 200';
    is $up->{headers}{authorization}, 'Bearer sk-byok-body-456', 'provider_key sent upstream';
    ok !exists $up->{body}{provider_key}, 'provider_key not in the upstream body';
    $res = post_json('/v1/chat/completions',
                     chat_body('mock/echo', 'x', provider_key => 'sk-byok-body-456'));
    unlike $res->headers->as_string . $res->content, qr/sk-byok-body-456/,
        'provider_key never in the response';
}

# --- LLMGWPassthroughAuth On: the client bearer is the provider key ---
{
    my ($res, $up) = inspect('/byok/v1/chat/completions', chat_body('mock/inspect', 'x'),
                             'Authorization' => 'Bearer sk-client-own');
    is $res->code, 200, 'passthrough: 200';
    is $up->{headers}{authorization}, 'Bearer sk-client-own', 'passthrough: client key sent upstream';
    unlike $res->content, qr/\Q$KEY\E/, 'passthrough: configured key not used';
    ($res, $up) = inspect('/byok/v1/chat/completions', chat_body('mock/inspect', 'x'),
                          'x-api-key' => 'sk-client-xapi-own');
    is $res->code, 200, 'passthrough x-api-key: 200';
    is $up->{headers}{authorization}, 'Bearer sk-client-xapi-own',
        'passthrough: x-api-key becomes the Bearer token of an openai provider';
    ($res, $up) = inspect('/v1/chat/completions', chat_body('mock/inspect', 'x'),
                          'Authorization' => 'Bearer sk-client-own');
    is $up->{headers}{authorization}, "Bearer $KEY", 'no passthrough outside /byok: configured key';
}

# --- hostile model names never change the upstream request line or headers ---
my @hostile = (
    [ 'path traversal',  "mock/../../admin?x=1" ],
    [ 'CRLF injection',  "mock/echo\r\nX-Injected: yes\r\n" ],
    [ 'fragment',        "mock/echo#frag" ],
    [ 'very long',       'mock/' . ('a' x 20000) ],
);
for my $h (@hostile) {
    my ($name, $model) = @$h;
    mock_reset();
    my $res = post_json('/v1/chat/completions', chat_body($model, 'x'));
    my $st = mock_stats();
    my $last = mock_last();
    ok $res->code == 200 || ($res->code >= 400 && $res->code < 500),
       "$name: 200 or a 4xx (" . $res->code . ")";
    ok !defined $res->header('X-Injected'), "$name: no injected response header";
    if ($st->{requests}) {
        is $last->{path}, '/v1/chat/completions', "$name: upstream path unchanged";
        is_deeply $last->{query}, {}, "$name: upstream query empty";
        ok !exists $last->{headers}{'x-injected'}, "$name: no injected upstream header";
    } else {
        like +(dec($res) // {})->{error}{type} // '', qr/invalid_request_error|not_found/, "$name: rejected with an envelope";
        pass "$name: nothing sent upstream";
        pass "$name: nothing sent upstream (headers)";
    }
}

# --- the same for providers whose URL carries the model (Gemini) or not
# (Anthropic): the model never escapes its path segment ---
my @hostile_url = (
    [ 'gemini traversal', 'mockgem/../../admin?x=1', qr{^/v1beta/models/[^/?#]+:generateContent$} ],
    [ 'gemini slash',     'mockgem/a/b',             qr{^/v1beta/models/[^/?#]+:generateContent$} ],
    [ 'gemini fragment',  'mockgem/echo#frag',       qr{^/v1beta/models/[^/?#]+:generateContent$} ],
    [ 'gemini CRLF',      "mockgem/echo\r\nX-Injected: yes", qr{^/v1beta/models/[^/?#]+:generateContent$} ],
    [ 'anthropic traversal', 'mockant/../../admin?x=1', qr{^/v1/messages$} ],
);
for my $h (@hostile_url) {
    my ($name, $model, $path_re) = @$h;
    mock_reset();
    my $res = post_json('/v1/chat/completions', chat_body($model, 'x'));
    my $st = mock_stats();
    my $last = mock_last();
    ok $res->code < 500, "$name: not a 5xx (" . $res->code . ')';
    if ($st->{requests}) {
        like $last->{path} // '', $path_re, "$name: upstream path stays under the provider's route"
            or diag "upstream path: " . ($last->{path} // 'none');
        is_deeply $last->{query}, {}, "$name: upstream query empty";
        ok !exists $last->{headers}{'x-injected'}, "$name: no injected upstream header";
    } else {
        like +(dec($res) // {})->{error}{type} // '', qr/invalid_request_error|not_found/,
            "$name: rejected with an envelope";
        pass "$name: nothing sent upstream";
        pass "$name: nothing sent upstream (headers)";
    }
}

# --- unknown provider: 400/404 envelope, nothing upstream ---
{
    mock_reset();
    my $res = post_json('/v1/chat/completions', chat_body('nope/x', 'x'));
    ok $res->code == 400 || $res->code == 404, 'nope/x: 400 or 404 (' . $res->code . ')';
    my $e = (dec($res) // {})->{error} // {};
    like $e->{type} // '', qr/^(invalid_request_error|not_found_error)$/, 'nope/x: error type';
    is mock_stats()->{requests}, 0, 'nope/x: nothing sent upstream';
}
no_key_leak();
