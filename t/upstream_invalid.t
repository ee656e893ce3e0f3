# Upstream answers that are not answers of their API (issue 9, SPEC
# "Semantics that users rely on"): a 2xx that is truncated JSON, {}, [1,2,3],
# the wrong provider's shape, has conflicting lengths, or is not SSE where a
# stream was asked for, is a 502 invalid_upstream_response envelope; a
# stream cut before its terminal event ends with the error event, never an
# invented finish_reason or [DONE]. None is ever cached. A provider's
# retry-after is clamped to 60 s. Mock models: t/mock/provider.js "hostile
# answers" (bad-*); native client (mock, mockant, mockgem) and libcurl
# (cmock, cant).
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

my $T = JSON::PP::true();
my $C = '/cache/v1/chat/completions';
my $nonce = "$$-" . time;

# non-stream chat answers: route => models
my @json_cases = (
    (map { "mock/$_" }    qw(bad-truncated bad-empty-object bad-array bad-cl-conflict bad-cl-te bad-cl-short)),
    (map { "cmock/$_" }   qw(bad-truncated bad-empty-object bad-array bad-cl-conflict bad-cl-te bad-cl-short)),
    (map { "mockant/$_" } qw(bad-truncated bad-empty-object bad-array bad-openai-shape bad-cl-conflict)),
    (map { "cant/$_" }    qw(bad-empty-object bad-openai-shape bad-cl-short)),
    (map { "mockgem/$_" } qw(bad-truncated bad-empty-object bad-array bad-openai-shape bad-cl-te)),
);
# not SSE answering stream: true
my @nosse_cases = qw(mock/bad-html-stream mock/bad-json-stream cmock/bad-html-stream
                     cmock/bad-json-stream mockant/bad-json-stream mockant/bad-html-stream
                     mockgem/bad-json-stream mockgem/bad-html-stream);
# streams cut before their terminal event
my @cut_cases = qw(mock/bad-trunc-stream mock/bad-done-nofinish cmock/bad-trunc-stream
                   cmock/bad-done-nofinish mockgem/bad-trunc-stream mockant/bad-trunc-stream
                   cant/bad-trunc-stream);
my @ra_cases = qw(mock/bad-retry-after cmock/bad-retry-after mockant/bad-retry-after
                  mockgem/bad-retry-after);

plan tests => 12 * @json_cases + 12 * @nosse_cases + 9 * @cut_cases + 7 + 4 * @ra_cases
              + 11 + 2 + 1,
     need_module('llmgw'), need_module('llmgw_cache');

my $n = 0;
sub upstream { mock_stats()->{requests} }

# One bad answer on the cached location: the envelope, then the same
# request again is no HIT and goes upstream again.
sub invalid_twice {
    my ($model, $name, %extra) = @_;
    my $body = chat_body($model, "invalid $nonce " . ++$n, %extra);
    my ($prov) = $model =~ m{^([^/]+)/};
    my $before = upstream();
    my $r1 = post_json($C, $body);
    envelope_ok($r1, 502, 'provider_error', $name, provider => $prov,
                upstream_status => 200, retryable => 1, code => 'invalid_upstream_response');
    my $r2 = post_json($C, $body);
    is $r2->code, 502, "$name: again 502";
    isnt $r2->header('x-cache-status') // '', 'HIT', "$name: never cached";
    is upstream() - $before, 2, "$name: both went upstream";
}

invalid_twice($_, "$_ non-stream") for @json_cases;
invalid_twice($_, "$_ stream", stream => $T) for @nosse_cases;

# a stream cut before its terminal event
for my $model (@cut_cases) {
    my $name = "$model cut stream";
    my ($prov) = $model =~ m{^([^/]+)/};
    my $body = chat_body($model, "cut $nonce " . ++$n, stream => $T);
    my $before = upstream();
    my $res = post_json($C, $body);
    is $res->code, 200, "$name: 200 (the stream had started)";
    my @ev = sse_events($res->decoded_content(charset => 'none'));
    my $last = dec($ev[-1] // '') // {};
    is $last->{error}{code}, 'invalid_upstream_response', "$name: ends with the error event"
        or diag "last event: " . ($ev[-1] // 'none');
    is $last->{error}{provider}, $prov, "$name: error names the provider";
    is $last->{error}{type}, 'provider_error', "$name: provider_error";
    ok !(grep { $_ eq '[DONE]' } @ev), "$name: no [DONE]";
    my @fin = grep { ref $_ eq 'HASH' && ref $_->{choices} eq 'ARRAY'
                     && grep { defined $_->{finish_reason} } @{ $_->{choices} } }
              map { dec($_) } grep { $_ ne '[DONE]' } @ev;
    ok !@fin, "$name: no finish_reason made up";
    ok((grep { (dec($_) // {})->{choices} } @ev), "$name: the chunks before the cut were relayed");
    my $r2 = post_json($C, $body);
    is $r2->header('x-cache-status') // '', 'MISS', "$name: never cached";
    is upstream() - $before, 2, "$name: both went upstream";
}

# finish_reason came, only [DONE] is missing: complete, the gateway ends it
{
    my $name = 'finish without [DONE]';
    my $body = chat_body('mock/bad-finish-nodone', "nodone $nonce", stream => $T);
    my $res = post_json($C, $body);
    is $res->code, 200, "$name: 200";
    my @ev = sse_events($res->decoded_content(charset => 'none'));
    is $ev[-1], '[DONE]', "$name: [DONE] written by the gateway";
    ok !(grep { (dec($_) // {})->{error} } @ev), "$name: no error event";
    my @fin = grep { ($_->{choices}[0] // {})->{finish_reason} } map { dec($_) // {} } grep { $_ ne '[DONE]' } @ev;
    is scalar(@fin), 1, "$name: the provider's one finish_reason";
    is join('', map { (dec($_) // {})->{choices}[0]{delta}{content} // '' } grep { $_ ne '[DONE]' } @ev),
       'hello', "$name: content relayed";
    my $r2 = post_json($C, $body);
    is $r2->header('x-cache-status'), 'HIT', "$name: a complete answer is stored";
    my @ev2 = sse_events($r2->decoded_content(charset => 'none'));
    is $ev2[-1], '[DONE]', "$name: replayed with [DONE]";
}

# retry-after from the provider: at most 60 s, header and envelope
for my $model (@ra_cases) {
    my $res = post_json('/v1/chat/completions', chat_body($model, 'ra'));
    is $res->code, 429, "$model: 429 passed through";
    is $res->header('retry-after'), '60', "$model: retry-after 999999 clamped to 60";
    my $e = (dec($res) // {})->{error} // {};
    is $e->{type}, 'rate_limit_error', "$model: rate_limit_error";
    my $d = $e->{details} // {};
    ok !defined $d->{retry_after_secs} || $d->{retry_after_secs} <= 60,
       "$model: no retry_after_secs over 60 in the envelope";
}

# embeddings need data
{
    my $res = post_json('/v1/embeddings', { model => 'mock/bad-empty-object', input => 'x' });
    envelope_ok($res, 502, 'provider_error', 'embeddings {}', provider => 'mock',
                upstream_status => 200, code => 'invalid_upstream_response');
    my $ok = post_json('/v1/embeddings', { model => 'mock/echo', input => 'x' });
    is $ok->code, 200, 'embeddings: a valid answer still passes';
    is ref((dec($ok) // {})->{data}), 'ARRAY', 'embeddings: data relayed';
}

# an invalid answer falls back like a 5xx
{
    my $res = post_json('/v1/chat/completions',
        { models => [ 'mock/bad-array', 'mock/echo' ],
          messages => [ { role => 'user', content => 'fall back' } ] });
    is $res->code, 200, 'fallback: the next model answers';
    like $res->header('x-llmgw') // '', qr/^route=mock:echo; .*attempts=2/,
         'fallback: echo answered, on the second attempt';
}

no_key_leak();
