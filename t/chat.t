# Non-streaming chat completions through every mount, with every way of
# choosing the provider: "provider/model", plain model + LLMGWDefaultProvider,
# LLMGWModelAlias, and the `provider` body field. Checks the OpenAI shape and
# the gateway's response headers (SPEC "Response headers").
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

my @cases = (
    # [ name, path, body extras, expected route ]
    [ 'mock/echo via /v1',       '/v1/chat/completions',     { model => 'mock/echo' }, 'mock:echo' ],
    [ 'mock/echo via /api/v1',   '/api/v1/chat/completions', { model => 'mock/echo' }, 'mock:echo' ],
    [ 'mock/echo via /llm/v1',   '/llm/v1/chat/completions', { model => 'mock/echo' }, 'mock:echo' ],
    [ 'plain model, default provider', '/v1/chat/completions', { model => 'echo' }, 'mock:echo' ],
    [ 'alias fast',              '/v1/chat/completions',     { model => 'fast' }, 'mock:echo' ],
    [ 'provider field',          '/v1/chat/completions',     { model => 'echo', provider => 'extra' }, 'extra:echo' ],
);
my $per_case = 14;

plan tests => @cases * $per_case + 3 + 3 + 3, need_module('llmgw');

my %ids;
my $n = 0;
for my $c (@cases) {
    my ($name, $path, $extra, $route) = @$c;
    my $text = "Hello number " . ++$n . ", caf\x{e9} \x{2603}!";
    my $body = { messages => [ { role => 'system', content => 'be brief' },
                               { role => 'user', content => $text } ],
                 %$extra };
    my $res = post_json($path, $body);
    my $j = dec($res) // {};
    is $res->code, 200, "$name: 200" or diag substr($res->content // '', 0, 300);
    like $res->header('Content-Type') // '', qr{^application/json}i, "$name: JSON";
    is $j->{object}, 'chat.completion', "$name: object chat.completion";
    ok defined $j->{id} && length $j->{id}, "$name: id";
    my $ch = ref $j->{choices} eq 'ARRAY' ? $j->{choices}[0] // {} : {};
    is $ch->{message}{role}, 'assistant', "$name: role assistant";
    is $ch->{message}{content}, $text, "$name: content is the echoed text (UTF-8 intact)";
    is $ch->{finish_reason}, 'stop', "$name: finish_reason stop";
    my $u = $j->{usage} // {};
    ok $u->{prompt_tokens} && $u->{completion_tokens}, "$name: usage"
        or diag explain $j;
    my $rid = $res->header('x-request-id') // '';
    like $rid, uuid_re, "$name: x-request-id is a UUID";
    ok !$ids{$rid}++, "$name: x-request-id unique";
    is $res->header('x-llmgw'), "route=$route; cache=none; attempts=1", "$name: x-llmgw";
    is $res->header('x-provider'), (split /:/, $route)[0], "$name: x-provider";
    is $res->header('x-tokens-prompt'), $u->{prompt_tokens}, "$name: x-tokens-prompt = usage";
    is $res->header('x-tokens-completion'), $u->{completion_tokens}, "$name: x-tokens-completion = usage";
}

# The client's X-Request-Id is not trusted: the response carries the
# gateway's own UUID, never a client value.
{
    my $res = post_json('/v1/chat/completions', chat_body('mock/echo', 'hi'),
                        'X-Request-Id' => 'not-a-uuid <script>alert(1)</script>');
    is $res->code, 200, 'hostile x-request-id: 200';
    like $res->header('x-request-id') // '', uuid_re, 'hostile x-request-id: replaced by a UUID';
}
# A large answer (300 kB) arrives whole.
{
    my $res = post_json('/v1/chat/completions', chat_body('mock/big-300000', 'x'));
    is $res->code, 200, 'big answer: 200';
    my $c = eval { dec($res)->{choices}[0]{message}{content} } // '';
    is length($c), 300000, 'big answer: all 300000 characters';
    ok $c =~ /\Ax+\z/, 'big answer: content intact';
}

# Behind SetOutputFilter DEFLATE a JSON answer is compressed as the operator asked.
{
    my $res = post_json('/gz/v1/chat/completions', chat_body('mock/echo', 'zip me'),
                        'Accept-Encoding' => 'gzip');
    is $res->code, 200, 'JSON via /gz/v1: 200';
    is $res->header('Content-Encoding'), 'gzip', 'JSON via /gz/v1: gzip-compressed';
    is eval { dec($res)->{choices}[0]{message}{content} }, 'zip me', 'JSON via /gz/v1: content';
}
no_key_leak();
