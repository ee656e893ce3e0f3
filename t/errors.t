# Every error of SPEC "Error envelope": the gateway's own validation errors
# and upstream failures, each with the full envelope
# {"error":{message,type,code,param,request_id,provider,upstream_status,retryable}}.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use LLMGW::Test;

my $CC = '/v1/chat/completions';
my $msgs = [ { role => 'user', content => 'hi' } ];

# [ name, method, path, raw body, headers, status, type ]
my @local = (
    [ 'bad JSON',            'POST', $CC, '{"model":"mock/echo","messages":[', [], 400, 'invalid_request_error' ],
    [ 'JSON array body',     'POST', $CC, '[1,2,3]', [], 400, 'invalid_request_error' ],
    [ 'JSON string body',    'POST', $CC, '"hello"', [], 400, 'invalid_request_error' ],
    [ 'empty body',          'POST', $CC, '', [], 400, 'invalid_request_error' ],
    [ 'missing model',       'POST', $CC, $JSON->encode({ messages => $msgs }), [], 400, 'invalid_request_error' ],
    [ 'empty model',         'POST', $CC, $JSON->encode({ model => '', messages => $msgs }), [], 400, 'invalid_request_error' ],
    [ 'model not a string',  'POST', $CC, $JSON->encode({ model => 42, messages => $msgs }), [], 400, 'invalid_request_error' ],
    [ 'missing messages',    'POST', $CC, $JSON->encode({ model => 'mock/echo' }), [], 400, 'invalid_request_error' ],
    [ 'empty messages',      'POST', $CC, $JSON->encode({ model => 'mock/echo', messages => [] }), [], 400, 'invalid_request_error' ],
    [ 'messages not array',  'POST', $CC, $JSON->encode({ model => 'mock/echo', messages => 'hi' }), [], 400, 'invalid_request_error' ],
    [ 'over LLMGWMaxBody',   'POST', '/small/v1/chat/completions',
      $JSON->encode(chat_body('mock/echo', 'x' x 4096)), [], 413, 'invalid_request_error' ],
    [ 'text/plain body',     'POST', $CC, $JSON->encode(chat_body('mock/echo', 'x')),
      [ 'Content-Type' => 'text/plain' ], 415, 'invalid_request_error' ],
    [ 'GET chat/completions','GET',  $CC, undef, [], 405, 'invalid_request_error' ],
    [ 'POST models',         'POST', '/v1/models', '{}', [], 405, 'invalid_request_error' ],
    [ 'unknown route',       'POST', '/v1/nothing/here', '{}', [], 404, qr/^(invalid_request_error|not_found_error)$/ ],
    [ 'unknown route GET',   'GET',  '/api/v1/completions/x', undef, [], 404, qr/^(invalid_request_error|not_found_error)$/ ],
);

# [ name, model, status, type, upstream_status, retryable, provider ]
my @upstream = (
    [ 'upstream 400', 'mock/error-400', 400, 'invalid_request_error', 400, 0 ],
    [ 'upstream 401', 'mock/error-401', 401, 'authentication_error', 401, 0 ],
    [ 'upstream 404', 'mock/error-404', 404, qr/^(invalid_request_error|not_found_error)$/, 404, 0 ],
    [ 'upstream 429', 'mock/error-429', 429, 'rate_limit_error', 429, 1 ],
    [ 'upstream 500', 'mock/error-500', 502, 'provider_error', 500, 1 ],
    [ 'upstream 503', 'mock/error-503', 502, 'provider_error', 503, 1 ],
    [ 'upstream 500 HTML', 'mock/error-500-html', 502, 'provider_error', 500, 1 ],
    [ 'unreachable upstream', 'dead/x', 502, 'provider_error', undef, 1, 'dead' ],
    [ 'upstream drops the connection', 'mock/drop', 502, 'provider_error', undef, 1 ],
);

plan tests => @local * 9 + 2 + 1 + @upstream * 9 + 1 + 4 + 10 + 1 + 1,
    need_module('llmgw');

mock_reset();
for my $c (@local) {
    my ($name, $method, $path, $body, $hdrs, $status, $type) = @$c;
    my $res = gw_request($method, $path, $body, @$hdrs);
    envelope_ok($res, $status, $type, $name, provider => undef, upstream_status => undef,
                retryable => 0);
    if ($status == 405) {
        like $res->header('Allow') // '', $method eq 'GET' ? qr/POST/ : qr/GET/, "$name: Allow header";
    }
}
is mock_stats()->{requests}, 0, 'no invalid request reached the provider';

for my $c (@upstream) {
    my ($name, $model, $status, $type, $ust, $retryable, $prov) = @$c;
    my $res = post_json($CC, chat_body($model, 'x'));
    my $e = envelope_ok($res, $status, $type, $name, provider => $prov // 'mock',
                        upstream_status => $ust, retryable => $retryable);
    if ($status == 429) {
        like $res->header('retry-after') // '', qr/^\d+$/, "$name: retry-after passed through";
    }
    if ($model =~ /error-4\d\d$/) {
        (my $code = $model) =~ s/.*error-//;
        like $e->{message} // '', qr/mock error $code/, "$name: upstream message kept";
    }
}

# Upstream hangs: 504 within LLMGWTimeout (3 s).
{
    my $t0 = time;
    my $res = post_json($CC, chat_body('mock/hang', 'x'));
    my $dt = time - $t0;
    envelope_ok($res, 504, 'timeout_error', 'upstream hangs', provider => 'mock',
                upstream_status => undef, retryable => 1);
    ok $dt >= 2.5 && $dt < 6, sprintf('504 after LLMGWTimeout 3 s (took %.1f s)', $dt);
}

# A JSON body whose Content-Type carries a charset is fine.
{
    my $res = post_json($CC, chat_body('mock/echo', 'charset'),
                        'Content-Type' => 'application/json; charset=utf-8');
    is $res->code, 200, 'application/json; charset=utf-8 accepted';
}
no_key_leak();
