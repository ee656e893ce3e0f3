# llmgw-metrics (SPEC "Observability"): Prometheus text that promtool
# accepts, every metric of the SPEC list, counters summed over every child
# process and exact under concurrency (200 requests at once on a node of
# several children), streams with their tokens and cost, cache results,
# limit decisions, retries, fallbacks, errors, and at most 200 models per
# provider (the rest `other`).
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Temp ();
use LLMGW::Test;
use LLMGW::Node;
use LLMGW::Metrics qw(parse_metrics metric_value metric_sum promtool_ok);

plan tests => 61, need_module('llmgw', 'llmgw_cache', 'llmgw_quota');

my $N = 200;
my $CC = '/v1/chat/completions';

my $node = LLMGW::Node->start(name => 'metrics', store => 'shm', conf => <<'EOF');
LLMGWProvider dead openai http://127.0.0.1:9/v1
LLMGWPrice mock/priced 1000 2000
LLMGWPlan mrpm rpm=2
LLMGWKey sk-metrics-rpm workspace=metrics-rpm plan=mrpm
<Location /metrics>
    SetHandler llmgw-metrics
</Location>
<Location /c/v1>
    SetHandler llmgw
    LLMGWCache On
</Location>
<Location /r/v1>
    SetHandler llmgw
    LLMGWRetries 1
</Location>
<Location /q/v1>
    SetHandler llmgw
    LLMGWQuota On
</Location>
EOF
ok $node, 'a node with several children (StartServers 2, 8 threads each)';

sub scrape {
    my $res = $node->get('/metrics');
    return ($res, parse_metrics($res->content // ''));
}

# $N requests at once (curl --parallel); returns status => count
sub burst {
    my ($n, $body) = @_;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    open my $bf, '>', "$dir/body.json" or die $!;
    print $bf $body;
    close $bf;
    open my $cf, '>', "$dir/curl.conf" or die $!;
    for my $i (0 .. $n - 1) {
        print $cf "next\n" if $i;
        print $cf 'url = "', $node->url($CC), "\"\n",
                  "header = \"Content-Type: application/json\"\n",
                  "header = \"Connection: close\"\n",
                  "data-binary = \"\@$dir/body.json\"\n",
                  "output = \"/dev/null\"\n",
                  "write-out = \"%{http_code}\\n\"\n",
                  "max-time = 60\n";
    }
    close $cf;
    my $out = `curl -s -Z --parallel-immediate --parallel-max $n -K $dir/curl.conf 2>/dev/null`;
    my %codes;
    $codes{$_}++ for split /\n/, $out;
    return \%codes;
}

# ---- an empty server: every family is there, promtool accepts it
{
    my ($res, $m) = scrape();
    is $res->code, 200, 'llmgw-metrics: 200';
    like $res->header('Content-Type') // '', qr{^text/plain; version=0\.0\.4}, 'exposition content type';
    for my $f (qw(llmgw_requests_total llmgw_request_duration_seconds
                  llmgw_upstream_duration_seconds llmgw_time_to_first_token_seconds
                  llmgw_tokens_total llmgw_cost_usd_total llmgw_cache_total
                  llmgw_limit_decisions_total llmgw_store_errors_total
                  llmgw_streams_active llmgw_retries_total llmgw_fallbacks_total
                  llmgw_circuit_open)) {
        ok $m->{types}{$f}, "family $f is declared ($f: " . ($m->{types}{$f} // 'none') . ')';
    }
    is metric_value($m, 'llmgw_circuit_open', provider => 'mock'), 0, 'circuit_open{provider="mock"} 0';
    is metric_value($m, 'llmgw_circuit_open', provider => 'dead'), 0, 'circuit_open{provider="dead"} 0';
    promtool_ok($res->content, 'promtool check metrics: empty server');
    my $p = $node->post('/metrics', '{}');
    is $p->code, 405, 'POST llmgw-metrics: 405';
}

# ---- the usage of one request of the burst's body
my $body = $JSON->encode(chat_body('mock/echo', 'metrics burst, the same words each time'));
my $probe = dec($node->post($CC, $body)) // {};
my ($pt, $ct) = ($probe->{usage}{prompt_tokens} // 0, $probe->{usage}{completion_tokens} // 0);
ok $pt > 0 && $ct > 0, "probe: usage $pt + $ct";

# ---- 200 at once over the children: exact counts
my $codes = burst($N, $body);
is $codes->{200} // 0, $N, "$N requests at once: all 200";
{
    my (undef, $m) = scrape();
    my $sel = [endpoint => 'chat/completions', provider => 'mock', model => 'echo',
               status => '200', cache => 'none'];
    is metric_value($m, 'llmgw_requests_total', @$sel), $N + 1,
       'requests_total of mock/echo 200 = the requests made (burst + probe)';
    is metric_value($m, 'llmgw_tokens_total', provider => 'mock', model => 'echo', kind => 'prompt'),
       ($N + 1) * $pt, 'prompt tokens = requests x usage';
    is metric_value($m, 'llmgw_tokens_total', provider => 'mock', model => 'echo', kind => 'completion'),
       ($N + 1) * $ct, 'completion tokens = requests x usage';
    is metric_value($m, 'llmgw_request_duration_seconds_count', provider => 'mock'), $N + 1,
       'request duration histogram: one observation per request';
    is metric_value($m, 'llmgw_request_duration_seconds_bucket', provider => 'mock', le => '+Inf'), $N + 1,
       'the +Inf bucket = _count';
    is metric_value($m, 'llmgw_upstream_duration_seconds_count', provider => 'mock'), $N + 1,
       'upstream duration histogram: every request went upstream';
    is metric_value($m, 'llmgw_time_to_first_token_seconds_count', provider => 'mock'), $N + 1,
       'ttft histogram: every answer';
    my @b = map { $_->{value} } grep { $_->{labels}{provider} eq 'mock' }
            @{ $m->{samples}{llmgw_request_duration_seconds_bucket} // [] };
    ok @b > 10 && !grep({ $b[$_] < $b[$_ - 1] } 1 .. $#b), 'buckets are cumulative (' . scalar(@b) . ' buckets)';
    is metric_value($m, 'llmgw_streams_active'), 0, 'no stream active';
}

# ---- streams: tokens and cost at the end of the stream
{
    my $sb = chat_body('mock/priced', 'a priced stream of a few words', stream => JSON::PP::true(),
                       stream_options => { include_usage => JSON::PP::true() });
    my ($spt, $sct) = (0, 0);
    for (1 .. 3) {
        my $r = raw_request(method => 'POST', path => $CC, body => $JSON->encode($sb), timeout => 20,
                            port => $node->port);
        my ($u) = grep { ref $_ && $_->{usage} } map { dec($_) } grep { $_ ne '[DONE]' } sse_events($r->{body} // '');
        $spt += $u->{usage}{prompt_tokens} // 0;
        $sct += $u->{usage}{completion_tokens} // 0;
    }
    my (undef, $m) = scrape();
    is metric_value($m, 'llmgw_requests_total', endpoint => 'chat/completions', provider => 'mock',
                    model => 'priced', status => '200', cache => 'none'), 3, 'streams counted';
    is metric_value($m, 'llmgw_tokens_total', provider => 'mock', model => 'priced', kind => 'completion'),
       $sct, "stream completion tokens ($sct)";
    my $cost = metric_value($m, 'llmgw_cost_usd_total', provider => 'mock', model => 'priced');
    my $want = ($spt * 1000 + $sct * 2000) / 1e6;
    ok defined $cost && abs($cost - $want) < 1e-6, "stream cost = usage x price ($want)"
        or diag 'cost ' . ($cost // 'undef');
    is metric_value($m, 'llmgw_time_to_first_token_seconds_count', provider => 'mock'), $N + 4,
       'streams have a time to first token';
    is metric_value($m, 'llmgw_streams_active'), 0, 'streams_active back to 0';
}

# ---- errors, retries, fallbacks, cache, limits
{
    is $node->post($CC, '{"model":')->code, 400, 'bad JSON: 400';
    is $node->post('/r/v1/chat/completions', chat_body('dead/x', 'retry'))->code, 502, 'dead provider: 502';
    is $node->post($CC, { model => 'dead/x', models => ['mock/echo'],
                          messages => [{ role => 'user', content => 'fallback' }] })->code, 200,
       'fallback: 200';
    my $cb = chat_body('mock/echo', "cache me $$");
    is $node->post('/c/v1/chat/completions', $cb)->header('x-cache-status'), 'MISS', 'cache: MISS';
    is $node->post('/c/v1/chat/completions', $cb)->header('x-cache-status'), 'HIT', 'cache: HIT';
    is $node->post('/c/v1/chat/completions', $cb, 'Cache-Control' => 'no-store')->header('x-cache-status'),
       'BYPASS', 'cache: BYPASS';
    my @q = map { $node->post('/q/v1/chat/completions', chat_body('mock/echo', "q $_"),
                              Authorization => 'Bearer sk-metrics-rpm')->code } 1 .. 3;
    is "@q", '200 200 429', 'rpm=2: 200 200 429';

    my ($res, $m) = scrape();
    is metric_value($m, 'llmgw_requests_total', endpoint => 'chat/completions', provider => 'none',
                    model => 'none', status => '400', cache => 'none'), 1, 'the 400 is counted (provider none)';
    is metric_value($m, 'llmgw_requests_total', endpoint => 'chat/completions', provider => 'dead',
                    model => 'x', status => '502', cache => 'none'), 1, 'the 502 is counted';
    is metric_value($m, 'llmgw_retries_total', provider => 'dead'), 1 + 0, 'retries_total{provider="dead"} 1';
    is metric_value($m, 'llmgw_fallbacks_total'), 1, 'fallbacks_total 1';
    is metric_value($m, 'llmgw_cache_total', result => 'hit'), 1, 'cache hit 1';
    is metric_value($m, 'llmgw_cache_total', result => 'miss'), 1, 'cache miss 1';
    is metric_value($m, 'llmgw_cache_total', result => 'bypass'), 1, 'cache bypass 1';
    is metric_value($m, 'llmgw_requests_total', endpoint => 'chat/completions', provider => 'mock',
                    model => 'echo', status => '200', cache => 'hit'), 1, 'requests_total cache="hit"';
    is metric_value($m, 'llmgw_limit_decisions_total', decision => 'allow', window => 'none'), 2, 'limit: 2 allowed';
    is metric_value($m, 'llmgw_limit_decisions_total', decision => 'deny', window => 'minute'), 1, 'limit: 1 denied (minute)';
    is metric_value($m, 'llmgw_requests_total', endpoint => 'chat/completions', provider => 'none',
                    model => 'none', status => '429', cache => 'none'), 1, 'the 429 is counted';
    is metric_sum($m, 'llmgw_requests_total'), $N + 1 + 3 + 1 + 1 + 1 + 3 + 3,
       'requests_total sums to every gateway request made';
    promtool_ok($res->content, 'promtool check metrics: after traffic');
}

# ---- at most 200 models per provider, then "other"
{
    my $codes = {};
    for my $i (1 .. 205) {
        my $c = $node->post($CC, chat_body("mock/card-$i", 'x'))->code;
        $codes->{$c}++;
    }
    is $codes->{200} // 0, 205, '205 distinct models: 200';
    my ($res, $m) = scrape();
    my %models = map { $_->{labels}{model} => 1 }
                 grep { $_->{labels}{provider} eq 'mock' } @{ $m->{samples}{llmgw_tokens_total} };
    is scalar(keys %models), 200 + 1, 'provider mock: 200 model label values + other';
    ok $models{other}, 'the rest is model="other"';
    my $other = metric_value($m, 'llmgw_requests_total', endpoint => 'chat/completions', provider => 'mock',
                             model => 'other', status => '200', cache => 'none');
    # echo, priced and card-1.. took 200 places: 205 - 198 cards are "other"
    is $other, 205 - 198, 'the requests of the models past 200 are counted as other';
    promtool_ok($res->content, 'promtool check metrics: 200 models');
}
$node->stop;
