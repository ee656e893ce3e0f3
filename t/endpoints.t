# The other OpenAI routes under a mount: GET models, POST embeddings,
# POST images/generations.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

plan tests => 2 * 7 + 12 + 3 + 8 + 6 + 2 + 1, need_module('llmgw');

my $KEY = provider_key();

# ---- models ----
for my $mount ('/v1', '/api/v1') {
    my $res = gw_request('GET', "$mount/models");
    my $j = dec($res) // {};
    is $res->code, 200, "$mount/models: 200";
    like $res->header('Content-Type') // '', qr{^application/json}i, "$mount/models: JSON";
    is $j->{object}, 'list', "$mount/models: object list";
    my @data = ref $j->{data} eq 'ARRAY' ? @{ $j->{data} } : ();
    my %ids = map { ($_->{id} // '') => $_ } @data;
    ok $ids{'mock/echo'} && $ids{'mock/inspect'}, "$mount/models: mock/echo and mock/inspect listed"
        or diag explain [ sort keys %ids ];
    ok !grep({ ($_->{object} // '') ne 'model' } @data), "$mount/models: every entry is object model";
    ok !grep({ ($_->{id} // '') !~ m{^[^/]+/.} } @data), "$mount/models: ids are provider/model";
    like $res->header('x-request-id') // '', uuid_re, "$mount/models: x-request-id";
}

# ---- embeddings ----
{
    mock_reset();
    my $res = post_json('/v1/embeddings', { model => 'mock/x', input => 'hello world' });
    my $j = dec($res) // {};
    is $res->code, 200, 'embeddings: 200' or diag $res->content;
    is $j->{object}, 'list', 'embeddings: object list';
    my $d = ref $j->{data} eq 'ARRAY' ? $j->{data} : [];
    is scalar(@$d), 1, 'embeddings: one embedding';
    is $d->[0]{object}, 'embedding', 'embeddings: object embedding';
    ok ref $d->[0]{embedding} eq 'ARRAY' && @{ $d->[0]{embedding} } > 0
       && !grep({ !defined || /[^0-9eE.+-]/ } @{ $d->[0]{embedding} }),
       'embeddings: vector of numbers';
    ok $j->{usage} && $j->{usage}{prompt_tokens} > 0, 'embeddings: usage';
    is $res->header('x-provider'), 'mock', 'embeddings: x-provider';
    is $res->header('x-llmgw'), 'route=mock:x; cache=none; attempts=1', 'embeddings: x-llmgw';
    my $last = mock_last();
    is $last->{path}, '/v1/embeddings', 'embeddings: upstream path';
    is $last->{body}{model}, 'x', 'embeddings: upstream model stripped';
    is $last->{headers}{authorization}, "Bearer $KEY", 'embeddings: configured key upstream';
    $res = post_json('/v1/embeddings', { model => 'mock/x', input => [ 'one', 'two' ] });
    is scalar(@{ (dec($res) // {})->{data} // [] }), 2, 'embeddings: two inputs, two vectors';
}
{
    my $res = post_json('/v1/embeddings', { model => 'mock/error-400', input => 'x' });
    is $res->code, 400, 'embeddings upstream 400: 400';
    is eval { dec($res)->{error}{type} }, 'invalid_request_error', 'embeddings upstream 400: envelope';
    $res = post_json('/v1/embeddings', { model => 'nope/x', input => 'x' });
    ok $res->code == 400 || $res->code == 404, 'embeddings unknown provider: 400/404';
}

# ---- images ----
{
    mock_reset();
    my $res = post_json('/v1/images/generations', { model => 'mock/x', prompt => 'a cat', n => 2 });
    my $j = dec($res) // {};
    is $res->code, 200, 'images: 200' or diag $res->content;
    ok $j->{created}, 'images: created';
    is scalar(@{ $j->{data} // [] }), 2, 'images: two images';
    like eval { $j->{data}[0]{url} } // '', qr{^https://}, 'images: url';
    my $last = mock_last();
    is $last->{path}, '/v1/images/generations', 'images: upstream path';
    is $last->{body}{model}, 'x', 'images: upstream model stripped';
    is $last->{body}{prompt}, 'a cat', 'images: prompt passed';
    is $res->header('x-provider'), 'mock', 'images: x-provider';
}

# ---- the same routes under /llm/v1 and plain models with the default provider ----
{
    my $res = post_json('/llm/v1/embeddings', { model => 'x', input => 'y' });
    is $res->code, 200, 'embeddings via /llm/v1 with the default provider: 200';
    is mock_last()->{body}{model}, 'x', 'embeddings default provider: model x';
    $res = post_json('/api/v1/images/generations', { model => 'mock/x', prompt => 'p' });
    is $res->code, 200, 'images via /api/v1: 200';
    $res = gw_request('GET', '/llm/v1/models');
    is $res->code, 200, 'models via /llm/v1: 200';
    $res = gw_request('GET', '/v1/embeddings');
    is $res->code, 405, 'GET embeddings: 405';
    is eval { dec($res)->{error}{type} }, 'invalid_request_error', 'GET embeddings: envelope';
}
# ---- request notes, usable in LogFormat (include/llmgw.h) ----
{
    my $res = post_json('/v1/chat/completions', chat_body('mock/echo', 'note me'));
    my $rid = $res->header('x-request-id') // 'none';
    my $log = Apache::Test::vars('t_logs') . '/llmgw_notes_log';
    my $line;
    for (1 .. 30) {                    # the log line is written after the response
        if (open my $fh, '<', $log) { ($line) = grep { /^\Q$rid\E / } <$fh> }
        last if $line;
        select undef, undef, undef, 0.1;
    }
    ok $line, 'notes: access log line with the request id' or diag "no $rid in $log";
    my @f = split ' ', $line // '';
    is_deeply [ @f[1 .. 6] ],
        [ 'mock', 'echo', 200, $res->header('x-tokens-prompt'), $res->header('x-tokens-completion'), 200 ],
        'notes: provider, model, status, tokens';
}
no_key_leak();
