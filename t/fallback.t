# Retries (LLMGWRetries) and `models` fallbacks, only before the first byte
# reached the client: attempts counted in x-llmgw, retry-after honoured
# (header, and Gemini's google.rpc.RetryInfo), non-retryable errors returned
# at once, fallbacks across wire formats, a stream that broke mid-way never
# retried, one quota charge per client request, kept-alive upstream
# connections. Locations: /v1 (no retries), /retry/v1 (LLMGWRetries 2),
# /retryq/v1 (LLMGWRetries 2 + LLMGWQuota On, key sk-fb-once): the issue 3
# section of t/conf/extra.conf.in.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use LLMGW::Test;
use LLMGW::Chunks;

unless (Apache::Test::need_module('llmgw')) {
    print "1..0 # skipped: mod_llmgw is needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $CC = '/v1/chat/completions';
my $RC = '/retry/v1/chat/completions';
my $T = JSON::PP::true;
my $uniq = sprintf '%d-%d', $$, time;
my $seq = 0;
sub uniq { join '-', shift, ++$seq, $uniq }

sub llmgw_hdr {
    my ($res) = @_;
    return ref $res eq 'HASH' ? $res->{headers}{'x-llmgw'} // '' : $res->header('x-llmgw') // '';
}
sub by_model { mock_stats()->{by_model}{ $_[0] } // 0 }
sub stream_req {
    my ($path, $body) = @_;
    return raw_request(method => 'POST', path => $path, body => $JSON->encode($body), timeout => 30);
}
sub content_of { my $j = dec($_[0]) // {}; return $j->{choices}[0]{message}{content} }

# ------------------------------------------------------------ LLMGWRetries
{
    my $m = uniq('flaky-2');
    my $t0 = time;
    my $res = post_json($RC, chat_body("mock/$m", 'third time lucky'));
    my $dt = time - $t0;
    is $res->code, 200, 'retries: flaky upstream (503, 503, 200) answered 200 with LLMGWRetries 2'
        or diag $res->content;
    is content_of($res), 'third time lucky', 'retries: the answer of the third attempt';
    is llmgw_hdr($res), "route=mock:$m; cache=none; attempts=3", 'retries: x-llmgw attempts=3';
    is by_model($m), 3, 'retries: the provider saw 3 requests';
    ok $dt < 2, sprintf('retries: retry-after: 0 means no long wait (%.2fs)', $dt);
}
{
    my $m = uniq('flaky-2');
    my $res = post_json($CC, chat_body("mock/$m", 'x'));
    envelope_ok($res, 502, 'provider_error', 'no retries: flaky upstream', provider => 'mock',
                upstream_status => 503, retryable => 1);
    is llmgw_hdr($res), "route=mock:$m; cache=none; attempts=1", 'no retries: x-llmgw attempts=1';
    is by_model($m), 1, 'no retries: the provider saw 1 request';
}
{
    my $m = uniq('flaky-5');
    my $res = post_json($RC, chat_body("mock/$m", 'x'));
    is $res->code, 502, 'retries exhausted: 502';
    is llmgw_hdr($res), "route=mock:$m; cache=none; attempts=3", 'retries exhausted: attempts=3';
    is by_model($m), 3, 'retries exhausted: 1 + LLMGWRetries requests upstream';
}
{   # non-retryable statuses are not retried
    mock_reset();
    my $res = post_json($RC, chat_body('mock/error-400', 'x'));
    is $res->code, 400, 'retries: a 400 is returned at once';
    is llmgw_hdr($res), 'route=mock:error-400; cache=none; attempts=1', 'retries: 400 not retried (attempts=1)';
    is by_model('error-400'), 1, 'retries: the provider saw one 400 request';
    $res = post_json($RC, chat_body('mock/error-401', 'x'));
    is by_model('error-401'), 1, 'retries: a 401 is not retried';
}
{   # a connect failure is retried
    my $res = post_json($RC, chat_body('dead/x', 'x'));
    is $res->code, 502, 'retries: unreachable provider still 502 after retries';
    is llmgw_hdr($res), 'route=dead:x; cache=none; attempts=3', 'retries: connect failures are retried (attempts=3)';
}

# ------------------------------------------------------------ retry-after honoured
{   # OpenAI format: retry-after: 1 on a 429, then success
    my $m = uniq('ratelimit-1-1');
    my $t0 = time;
    my $res = post_json($RC, chat_body("mock/$m", 'after a pause'));
    my $dt = time - $t0;
    is $res->code, 200, 'retry-after (openai): 429 then 200';
    is llmgw_hdr($res), "route=mock:$m; cache=none; attempts=2", 'retry-after (openai): attempts=2';
    ok $dt >= 0.95 && $dt < 5, sprintf('retry-after (openai): waited the 1 s asked for (%.2fs; backoff alone is 0.1 s)', $dt);
}
{   # Anthropic: retry-after header
    my $m = uniq('ratelimit-1-1');
    my $t0 = time;
    my $res = post_json($RC, chat_body("mockant/$m", 'after a pause'));
    my $dt = time - $t0;
    is $res->code, 200, 'retry-after (anthropic): 429 then 200';
    is content_of($res), 'after a pause', 'retry-after (anthropic): translated answer';
    is llmgw_hdr($res), "route=mockant:$m; cache=none; attempts=2", 'retry-after (anthropic): attempts=2';
    ok $dt >= 0.95 && $dt < 5, sprintf('retry-after (anthropic): waited the 1 s asked for (%.2fs)', $dt);
}
{   # Gemini: no header, google.rpc.RetryInfo retryDelay "1s" in the body
    my $m = uniq('ratelimit-1-1');
    my $t0 = time;
    my $res = post_json($RC, chat_body("mockgem/$m", 'after a pause'));
    my $dt = time - $t0;
    is $res->code, 200, 'retry-after (gemini RetryInfo): 429 then 200';
    is llmgw_hdr($res), "route=mockgem:$m; cache=none; attempts=2", 'retry-after (gemini RetryInfo): attempts=2';
    ok $dt >= 0.95 && $dt < 5, sprintf('retry-after (gemini RetryInfo): waited the 1 s of retryDelay (%.2fs)', $dt);
}
{   # a persistent 429 with retry-after: 1: two waits, then the 429 itself
    my $t0 = time;
    my $res = post_json($RC, chat_body('mock/error-429', 'x'));
    my $dt = time - $t0;
    envelope_ok($res, 429, 'rate_limit_error', 'persistent 429 after retries', provider => 'mock',
                upstream_status => 429, retryable => 1);
    is $res->header('retry-after'), 1, 'persistent 429: the provider retry-after is passed on';
    is llmgw_hdr($res), 'route=mock:error-429; cache=none; attempts=3', 'persistent 429: attempts=3';
    ok $dt >= 1.9, sprintf('persistent 429: retry-after honoured twice (%.2fs)', $dt);
}

# ------------------------------------------------------------ stream retries
{
    my $m = uniq('flaky-2');
    my $r = stream_req($RC, chat_body("mock/$m", 'streamed after retries', stream => $T));
    is $r->{status}, 200, 'stream retries: 200';
    my $s = assemble($r->{body});
    is $s->{choices}{0}{text}, 'streamed after retries', 'stream retries: the whole text';
    ok $s->{done_last}, 'stream retries: [DONE] last';
    is llmgw_hdr($r), "route=mock:$m; cache=none; attempts=3", 'stream retries: x-llmgw attempts=3';
}

# ------------------------------------------------------------ models fallbacks
{
    mock_reset();
    my $res = post_json($CC, { models => [ 'dead/x', 'mock/echo' ],
                               messages => [ { role => 'user', content => 'fall back' } ] });
    is $res->code, 200, 'models: dead provider, then mock: 200' or diag $res->content;
    is content_of($res), 'fall back', 'models: answered by the fallback';
    is llmgw_hdr($res), 'route=mock:echo; cache=none; attempts=2', 'models: x-llmgw route=mock:echo, attempts=2';
    is $res->header('x-provider'), 'mock', 'models: x-provider of the route that answered';
    is by_model('echo'), 1, 'models: one request reached the fallback';
}
{
    local $LLMGW::Test::NO_LEAK_CHECK = 1;     # inspect reflects the provider key
    my $res = post_json($CC, { model => 'dead/x', models => [ 'dead/x', 'mock/inspect' ],
                               messages => [ { role => 'user', content => 'what did you get?' } ] });
    is $res->code, 200, 'models: fallback to an OpenAI provider: 200';
    my $seen = dec(content_of($res) // '') // {};
    is $seen->{body}{model}, 'inspect', 'models: the fallback gets its own model, without the provider prefix';
    ok !exists $seen->{body}{models} && !exists $seen->{body}{provider_key},
        'models: gateway fields are not sent to the fallback';
    is $seen->{path}, '/v1/chat/completions', 'models: fallback path';
}
{   # across wire formats
    my $res = post_json($CC, { models => [ 'mockant/error-529', 'mockgem/echo' ],
                               messages => [ { role => 'user', content => 'anthropic down, gemini up' } ] });
    is $res->code, 200, 'models: Anthropic 529 -> Gemini: 200';
    is content_of($res), 'anthropic down, gemini up', 'models: Anthropic 529 -> Gemini: translated answer';
    is llmgw_hdr($res), 'route=mockgem:echo; cache=none; attempts=2', 'models: Anthropic 529 -> Gemini: x-llmgw';
    $res = post_json($CC, { models => [ 'mockgem/error-429', 'mockant/echo' ],
                            messages => [ { role => 'user', content => 'gemini limited, anthropic up' } ] });
    is $res->code, 200, 'models: Gemini 429 -> Anthropic: 200';
    is content_of($res), 'gemini limited, anthropic up', 'models: Gemini 429 -> Anthropic: translated answer';
    is llmgw_hdr($res), 'route=mockant:echo; cache=none; attempts=2', 'models: Gemini 429 -> Anthropic: x-llmgw';
    ok !defined $res->header('retry-after'), 'models: no retry-after on the successful answer';
}
{   # a timeout is retryable: the next model answers
    my $t0 = time;
    my $res = post_json($CC, { models => [ 'mock/hang', 'mock/echo' ],
                               messages => [ { role => 'user', content => 'after a timeout' } ] });
    is $res->code, 200, 'models: timeout, then fallback: 200';
    is llmgw_hdr($res), 'route=mock:echo; cache=none; attempts=2', 'models: timeout, then fallback: x-llmgw';
    ok time - $t0 >= 2.5, 'models: the first model had its LLMGWTimeout';
}
{   # non-retryable: no fallback
    mock_reset();
    my $res = post_json($CC, { models => [ 'mock/error-400', 'mock/echo' ],
                               messages => [ { role => 'user', content => 'x' } ] });
    my $e = envelope_ok($res, 400, 'invalid_request_error', 'models: 400 first', provider => 'mock',
                        upstream_status => 400, retryable => 0);
    like $e->{message} // '', qr/mock error 400/, 'models: 400 first: the provider message';
    is llmgw_hdr($res), 'route=mock:error-400; cache=none; attempts=1', 'models: 400 first: attempts=1';
    is by_model('echo'), 0, 'models: 400 first: the fallback was not called';
    $res = post_json($CC, { models => [ 'mockant/error-401', 'mock/echo' ],
                            messages => [ { role => 'user', content => 'x' } ] });
    is $res->code, 401, 'models: Anthropic 401 first: 401 returned';
    is by_model('echo'), 0, 'models: Anthropic 401 first: no fallback';
}
{   # every model fails: the last error, every attempt counted
    my $res = post_json($CC, { models => [ 'mock/error-500', 'mock/error-503' ],
                               messages => [ { role => 'user', content => 'x' } ] });
    envelope_ok($res, 502, 'provider_error', 'models: all fail', provider => 'mock', upstream_status => 503,
                retryable => 1);
    is llmgw_hdr($res), 'route=mock:error-503; cache=none; attempts=2', 'models: all fail: the last route, attempts=2';
}
{   # an unknown model in the list: refused before anything is sent
    mock_reset();
    my $res = post_json($CC, { models => [ 'mock/echo', 'nope/x' ],
                               messages => [ { role => 'user', content => 'x' } ] });
    is $res->code, 400, 'models: an unknown provider in the list: 400';
    is mock_stats()->{requests}, 0, 'models: an unknown provider in the list: nothing sent upstream';
}
{   # retries on each model, then the fallback
    my $m = uniq('flaky-9');
    my $res = post_json($RC, { models => [ "mock/$m", 'mock/echo' ],
                               messages => [ { role => 'user', content => 'retried then fell back' } ] });
    is $res->code, 200, 'retries + models: 200';
    is llmgw_hdr($res), 'route=mock:echo; cache=none; attempts=4', 'retries + models: 3 attempts on the first, then the fallback';
    is by_model($m), 3, 'retries + models: the first model was tried 1 + LLMGWRetries times';
}

# ------------------------------------------------------------ streams and fallbacks
{   # before the first byte: a fallback
    my $r = stream_req($CC, { models => [ 'mock/error-503', 'mockant/echo' ], stream => $T,
                              messages => [ { role => 'user', content => 'streamed by the fallback' } ] });
    is $r->{status}, 200, 'stream + models: 200';
    like $r->{headers}{'content-type'} // '', qr{^text/event-stream}, 'stream + models: event stream';
    my $s = assemble($r->{body});
    is $s->{choices}{0}{text}, 'streamed by the fallback', 'stream + models: the fallback\'s text';
    ok $s->{done_last} && !$s->{error}, 'stream + models: [DONE] last, no error';
    is llmgw_hdr($r), 'route=mockant:echo; cache=none; attempts=2', 'stream + models: x-llmgw';
}
{   # after the first byte: never
    mock_reset();
    my $r = stream_req($RC, { models => [ 'mock/drop', 'mock/echo' ], stream => $T,
                              messages => [ { role => 'user', content => 'this stream breaks' } ] });
    is $r->{status}, 200, 'stream broken mid-way: 200 (it had started)';
    my $s = assemble($r->{body});
    ok $s->{error} && $s->{error_last}, 'stream broken mid-way: ends with the error event';
    is llmgw_hdr($r), 'route=mock:drop; cache=none; attempts=1', 'stream broken mid-way: attempts=1';
    is by_model('drop'), 1, 'stream broken mid-way: not retried (one upstream request)';
    is by_model('echo'), 0, 'stream broken mid-way: no fallback';
    $r = stream_req($RC, { models => [ 'mockant/stream-error', 'mock/echo' ], stream => $T,
                           messages => [ { role => 'user', content => 'x' } ] });
    $s = assemble($r->{body});
    ok $s->{error} && $s->{error_last}, 'Anthropic error event mid-stream: ends with the error event';
    is by_model('stream-error'), 1, 'Anthropic error event mid-stream: not retried';
    is by_model('echo'), 0, 'Anthropic error event mid-stream: no fallback';
}

# ------------------------------------------------------------ one quota charge per client request
if (Apache::Test::need_module('llmgw_quota')) {
    my $QC = '/retryq/v1/chat/completions';
    my @auth = (Authorization => 'Bearer sk-fb-once');
    my $u0 = dec(gw_request('GET', '/api/usage', undef, @auth)) // {};
    my $m = uniq('flaky-2');
    my $r1 = post_json($QC, chat_body("mock/$m", 'charged once'), @auth);
    is $r1->code, 200, 'quota + retries: 200' or diag $r1->content;
    is llmgw_hdr($r1), "route=mock:$m; cache=none; attempts=3", 'quota + retries: attempts=3';
    my $r2 = post_json($QC, { models => [ 'mock/error-503', 'mock/echo' ],
                              messages => [ { role => 'user', content => 'charged once too' } ] }, @auth);
    is $r2->code, 200, 'quota + fallback: 200';
    is llmgw_hdr($r2), 'route=mock:echo; cache=none; attempts=4', 'quota + fallback: attempts=4';
    my ($q1, $q2) = map { $_->header('x-quota-remaining') } $r1, $r2;
    ok defined $q1 && defined $q2 && $q1 - $q2 == 1,
        'quota: x-quota-remaining went down by one for one client request with 4 attempts ('
        . ($q1 // 'undef') . ' -> ' . ($q2 // 'undef') . ')';
    my ($l1, $l2) = map { $_->header('x-ratelimit-remaining-requests') } $r1, $r2;
    ok defined $l1 && defined $l2 && $l1 - $l2 == 1,
        'quota: x-ratelimit-remaining-requests went down by one (' . ($l1 // 'undef') . ' -> ' . ($l2 // 'undef') . ')';
    my $u1 = dec(gw_request('GET', '/api/usage', undef, @auth)) // {};
    is(($u1->{requests} // 0) - ($u0->{requests} // 0), 2,
       '/api/usage: two requests counted for two client requests (7 upstream attempts)');
    is(($u1->{used} // 0) - ($u0->{used} // 0), 2, '/api/usage: quota used by two');
} else {
    fail 'mod_llmgw_quota is not loaded: one charge per client request cannot be checked';
}

# ------------------------------------------------------------ upstream keep-alive (OpenAI format)
for my $stream (0, 1) {
    my $what = $stream ? 'streams' : 'non-stream requests';
    mock_reset();
    my $ok = 0;
    for my $i (1 .. 8) {
        my $res = post_json($CC, chat_body('mock/echo', "keep-alive $i", $stream ? (stream => $T) : ()));
        $ok++ if $res->code == 200;
    }
    is $ok, 8, "openai keep-alive: 8 sequential $what answered";
    my $st = mock_stats();
    ok $st->{connections} <= 2, "openai keep-alive: 8 sequential $what used $st->{connections} upstream connection(s) (<= 2)";
}
{
    mock_reset();
    my $m = uniq('flaky-2');
    post_json($RC, chat_body("mock/$m", 'x'));
    my $st = mock_stats();
    is $st->{requests}, 3, 'keep-alive: three attempts';
    ok $st->{connections} <= 1, "keep-alive: retries after a 503 reuse the connection ($st->{connections} new)";
}

no_key_leak();
done_testing();
