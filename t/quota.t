# mod_llmgw_quota on one node: gateway keys (401 before anything else, three
# header forms, hashed keys), each window's limit (rpm, rph, tpm, month,
# budget) with its envelope and headers, overage=allow, tpm reservation and
# settlement with streamed usage, x-ratelimit-* / x-quota-* on every
# response, /api/usage and /api/quota-check. Plans and keys: the
# mod_llmgw_quota section of t/conf/extra.conf.in.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use LLMGW::Test;

unless (Apache::Test::need_module('llmgw', 'llmgw_quota')) {
    print "1..0 # skipped: mod_llmgw and mod_llmgw_quota are needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $QP = '/q/v1/chat/completions';
my $ISO = qr/^\d{4}-\d\d-01T00:00:00Z$/;

sub q_chat {
    my ($key, %o) = @_;
    my $body = $o{raw} // chat_body($o{model} // 'mock/echo', $o{text} // 'hi',
                                    %{ $o{extra} // {} });
    my @h = !defined $key ? ()
          : ($o{header} // 'bearer') eq 'x-api-key' ? ('x-api-key' => $key)
          : ($o{header} // 'bearer') eq 'apikey'    ? ('apikey' => $key)
          : ('Authorization' => "Bearer $key");
    return post_json($o{path} // $QP, $body, @h);
}

# Waits for a fresh minute when the current one is about to end, so that a
# sequence of requests stays in one rpm/tpm window.
sub fresh_minute {
    my $s = time - 60 * int(time / 60);
    sleep(60.2 - $s) if $s > 45;
}

sub upstream_requests { mock_stats()->{requests} }

sub hdr { my ($res, $h) = @_; $res->header($h) }

# ---------------------------------------------------------------- 401
{
    my $before = upstream_requests();
    my $r = q_chat(undef);
    my $e = envelope_ok($r, 401, 'authentication_error', 'no key', code => 'missing_api_key',
                        retryable => 0);
    like $r->header('WWW-Authenticate') // '', qr/^Bearer/, 'no key: WWW-Authenticate';
    ok !defined hdr($r, 'x-quota-limit') && !defined hdr($r, 'x-ratelimit-limit-requests'),
        'no key: no quota headers (no workspace)';
    for my $form (qw(bearer x-api-key apikey)) {
        my $res = q_chat('sk-q-not-a-key', header => $form);
        envelope_ok($res, 401, 'authentication_error', "unknown key ($form)",
                    code => 'invalid_api_key', retryable => 0);
        unlike $res->content, qr/sk-q-not-a-key/, "unknown key ($form): the key is not echoed";
    }
    # 401 comes before the body is read: invalid JSON with a bad key is 401, not 400
    my $bad = q_chat('sk-q-nope', raw => '{"model":');
    is $bad->code, 401, 'bad key and bad JSON: 401 first';
    # a Basic credential is not a gateway key
    my $basic = post_json($QP, chat_body('mock/echo', 'x'), Authorization => 'Basic dXNlcjpwYXNz');
    is $basic->code, 401, 'Authorization: Basic is no key: 401';
    is upstream_requests(), $before, 'nothing went upstream for a 401';
}

# ---------------------------------------------------------------- keys
{
    for my $form (qw(bearer x-api-key apikey)) {
        my $r = q_chat('sk-q-basic', header => $form, text => "form $form");
        is $r->code, 200, "valid key as $form: 200";
        is dec($r)->{choices}[0]{message}{content}, "form $form", "valid key as $form: answered";
        is hdr($r, 'x-ratelimit-limit-requests'), 1000, "valid key as $form: x-ratelimit-limit-requests";
    }
    my $h = q_chat('sk-q-hashed-key-1');
    is $h->code, 200, 'hashed key (LLMGWKey sha256:HEX) accepted';
    is hdr($h, 'x-quota-limit'), 1000, 'hashed key: its plan applies';
    my $d = q_chat('sha256:7cc1dbe5385df94dac79cc83be3c4326de15ab1e712af6e5f6dad772d248188a');
    is $d->code, 401, 'the digest itself is not a key';
    my $case = q_chat('SK-Q-BASIC');
    is $case->code, 401, 'keys are case-sensitive';
    my $prefix = q_chat('sk-q-basi');
    is $prefix->code, 401, 'a prefix of a key is refused';

    # the gateway key never goes upstream
    local $LLMGW::Test::NO_LEAK_CHECK = 1;
    my $i = q_chat('sk-q-basic', model => 'mock/inspect');
    is $i->code, 200, 'inspect through quota: 200';
    my $seen = dec($i)->{choices}[0]{message}{content} // '';
    unlike $seen, qr/sk-q-basic/, 'the gateway key is not sent upstream';
    like $seen, qr/\Q${\ provider_key()}\E/, 'the provider key is sent upstream instead';
}

# ---------------------------------------------------------------- headers everywhere
{
    my $ok = q_chat('sk-q-basic');
    for my $h (qw(x-ratelimit-limit-requests x-ratelimit-remaining-requests
                  x-ratelimit-reset-requests x-ratelimit-limit-tokens
                  x-ratelimit-remaining-tokens x-ratelimit-reset-tokens
                  x-quota-limit x-quota-remaining x-quota-reset)) {
        ok defined hdr($ok, $h), "200 has $h";
    }
    like hdr($ok, 'x-ratelimit-reset-requests') // '', qr/^(\d+m)?\d+s$/, 'reset-requests like "12s"';
    like hdr($ok, 'x-ratelimit-reset-tokens') // '', qr/^(\d+m)?\d+s$/, 'reset-tokens like "12s"';
    like hdr($ok, 'x-quota-reset') // '', $ISO, 'x-quota-reset is the next month (ISO-8601 UTC)';

    my $bad = q_chat('sk-q-basic', raw => '{"model":');
    is $bad->code, 400, 'invalid JSON with a key: 400';
    ok defined hdr($bad, 'x-quota-limit') && defined hdr($bad, 'x-ratelimit-remaining-requests'),
        '400 carries the quota headers too';
    my $up = q_chat('sk-q-basic', model => 'mock/error-500');
    ok $up->code >= 500, 'upstream 500 through quota';
    ok defined hdr($up, 'x-quota-remaining'), 'upstream error carries the quota headers';

    my $plain = post_json('/v1/chat/completions', chat_body('mock/echo', 'x'));
    is $plain->code, 200, 'a location without LLMGWQuota needs no key';
    ok !defined hdr($plain, 'x-quota-limit') && !defined hdr($plain, 'x-ratelimit-limit-requests'),
        'and has no quota headers';
}

# ---------------------------------------------------------------- rpm
{
    fresh_minute();
    my $before = upstream_requests();
    for my $i (1 .. 3) {
        my $r = q_chat('sk-q-rpm', text => "rpm $i");
        is $r->code, 200, "rpm=3: request $i admitted";
        is hdr($r, 'x-ratelimit-limit-requests'), 3, "rpm=3: request $i limit header";
        is hdr($r, 'x-ratelimit-remaining-requests'), 3 - $i, "rpm=3: request $i remaining " . (3 - $i);
    }
    my $r = q_chat('sk-q-rpm', text => 'rpm 4');
    my $e = envelope_ok($r, 429, 'rate_limit_error', 'rpm=3: 4th', code => 'rate_limit_exceeded',
                        retryable => 1);
    my $ra = $r->header('retry-after') // '';
    like $ra, qr/^\d+$/, 'rpm: retry-after in seconds';
    ok $ra >= 1 && $ra <= 60, "rpm: retry-after $ra within the minute";
    is ref $e->{details}, 'HASH', 'rpm: details';
    is $e->{details}{limit}, 3, 'rpm: details.limit';
    is $e->{details}{window}, 'minute', 'rpm: details.window';
    ok abs(($e->{details}{retry_after_secs} // -99) - $ra) <= 1, 'rpm: details.retry_after_secs = retry-after';
    is hdr($r, 'x-ratelimit-remaining-requests'), 0, 'rpm: 429 says 0 remaining';
    like hdr($r, 'x-ratelimit-reset-requests') // '', qr/^(?:\d+m)?\d+s$/, 'rpm: 429 has the reset';
    is q_chat('sk-q-rpm')->code, 429, 'rpm: 5th refused too';
    is upstream_requests() - $before, 3, 'rpm: only the admitted requests went upstream';
    # another workspace is not affected
    is q_chat('sk-q-basic')->code, 200, 'rpm: other workspaces unaffected';
}

# ---------------------------------------------------------------- rph
{
    my $s = time - 3600 * int(time / 3600);
    sleep(3600.2 - $s) if $s > 3590;
    is q_chat('sk-q-rph')->code, 200, 'rph=2: 1st';
    my $second = q_chat('sk-q-rph');
    is $second->code, 200, 'rph=2: 2nd';
    is hdr($second, 'x-ratelimit-limit-requests'), 2, 'rph: the hour is the request window';
    like hdr($second, 'x-ratelimit-reset-requests') // '', qr/^(?:\d+h)?(?:\d+m)?\d+s$/, 'rph: reset like "59m12s" (or "1h0m0s" on the hour)';
    my $r = q_chat('sk-q-rph');
    my $e = envelope_ok($r, 429, 'rate_limit_error', 'rph=2: 3rd', code => 'rate_limit_exceeded');
    is $e->{details}{window}, 'hour', 'rph: details.window hour';
    is $e->{details}{limit}, 2, 'rph: details.limit';
    my $ra = $r->header('retry-after') // 0;
    ok $ra >= 1 && $ra <= 3600, "rph: retry-after $ra within the hour";
}

# ---------------------------------------------------------------- month
{
    for my $i (1 .. 5) {
        my $r = q_chat('sk-q-month', text => "m $i");
        is $r->code, 200, "requests_month=5: $i admitted";
        is hdr($r, 'x-quota-remaining'), 5 - $i, "requests_month=5: $i x-quota-remaining";
    }
    my $r = q_chat('sk-q-month');
    my $e = envelope_ok($r, 402, 'insufficient_quota', 'month spent', code => 'quota_exceeded',
                        retryable => 0);
    ok !defined $r->header('retry-after'), '402: no retry-after';
    is hdr($r, 'x-quota-limit'), 5, '402: x-quota-limit';
    is hdr($r, 'x-quota-remaining'), 0, '402: x-quota-remaining 0';
    like hdr($r, 'x-quota-reset') // '', $ISO, '402: x-quota-reset';
    is $e->{details}{window}, 'month', '402: details.window month';
    is q_chat('sk-q-month')->code, 402, 'month: still 402';
    my $qc = dec(gw_request('GET', '/api/quota-check', undef, Authorization => 'Bearer sk-q-month'));
    ok JSON::PP::is_bool($qc->{has_quota}) && !$qc->{has_quota}, 'quota-check: has_quota false';
    is $qc->{used}, 5, 'quota-check: refused requests are not counted';
    is $qc->{remaining}, 0, 'quota-check: remaining 0';

    # overage=allow: over the month, still served
    my @c = map { q_chat('sk-q-allow', text => "a $_")->code } 1 .. 3;
    is "@c", '200 200 200', 'overage=allow: served past requests_month';
}

# ---------------------------------------------------------------- budget
{
    my $r1 = q_chat('sk-q-budget', model => 'mock/qpriced', text => 'spend');
    is $r1->code, 200, 'budget: first request admitted';
    ok(($r1->header('x-cost') // 0) > 0.001, 'budget: x-cost over the budget ' . ($r1->header('x-cost') // 'none'));
    my $r2 = q_chat('sk-q-budget', model => 'mock/qpriced', text => 'spend');
    my $e = envelope_ok($r2, 402, 'insufficient_quota', 'budget spent', code => 'budget_exceeded',
                        retryable => 0);
    is $e->{details}{window}, 'month', 'budget: details.window';
    my $u = dec(gw_request('GET', '/api/usage', undef, 'x-api-key' => 'sk-q-budget'));
    ok abs(($u->{total_cost} // 0) - $r1->header('x-cost')) < 1e-6, "usage: total_cost = x-cost ($u->{total_cost})";
    my $qc = dec(gw_request('GET', '/api/quota-check', undef, 'x-api-key' => 'sk-q-budget'));
    ok !$qc->{has_quota}, 'quota-check: no quota once the budget is spent';
}

# ---------------------------------------------------------------- tpm
{
    fresh_minute();
    my $est = sub { int((length($JSON->encode($_[0])) + 3) / 4) };
    # a request is counted in /api/usage once its settlement is done
    my $requests = sub {
        dec(gw_request('GET', '/api/usage', undef, Authorization => 'Bearer sk-q-tpm'))
            ->{requests} // 0;
    };
    my $n0 = $requests->();
    my $b1 = chat_body('mock/echo', 'tokens one', max_tokens => 100);
    my $r1 = post_json($QP, $b1, Authorization => 'Bearer sk-q-tpm');
    is $r1->code, 200, 'tpm: request 1 admitted';
    my $res1 = $est->($b1) + 100;
    is hdr($r1, 'x-ratelimit-limit-tokens'), 2000, 'tpm: x-ratelimit-limit-tokens';
    is hdr($r1, 'x-ratelimit-remaining-tokens'), 2000 - $res1,
        'tpm: the reservation (prompt estimate + max_tokens) is counted at admission';
    my $u1 = dec($r1)->{usage}{total_tokens};

    # a stream with usage: reserved, then settled with the streamed usage
    my $b2 = chat_body('mock/echo', 'tokens two streamed', max_tokens => 200, stream => JSON::PP::true,
                       stream_options => { include_usage => JSON::PP::true });
    my $r2 = post_json($QP, $b2, Authorization => 'Bearer sk-q-tpm');
    is $r2->code, 200, 'tpm: stream admitted';
    is hdr($r2, 'x-ratelimit-remaining-tokens'), 2000 - $u1 - ($est->($b2) + 200),
        'tpm: request 1 was settled at its real usage';
    my ($usage) = map { my $j = dec($_); $j && $j->{usage} ? $j->{usage} : () }
                  grep { $_ ne '[DONE]' } sse_events($r2->content);
    ok $usage && $usage->{total_tokens} > 0, 'tpm: the stream reported usage';
    my $u2 = $usage ? $usage->{total_tokens} : 0;
    wait_for(sub { $requests->() >= $n0 + 2 }, 5);

    my $b3 = chat_body('mock/echo', 'tokens three', max_tokens => 1990);
    my $r3 = post_json($QP, $b3, Authorization => 'Bearer sk-q-tpm');
    my $e = envelope_ok($r3, 429, 'rate_limit_error', 'tpm: over the minute',
                        code => 'rate_limit_exceeded');
    is $e->{details}{limit}, 2000, 'tpm: details.limit is the tpm';
    is $e->{details}{window}, 'minute', 'tpm: details.window minute';
    ok(($r3->header('retry-after') // 0) >= 1, 'tpm: retry-after');

    my $b4 = chat_body('mock/echo', 'tokens four', max_tokens => 10);
    my $r4 = post_json($QP, $b4, Authorization => 'Bearer sk-q-tpm');
    is $r4->code, 200, 'tpm: a small request fits again (the refusal reserved nothing)';
    is hdr($r4, 'x-ratelimit-remaining-tokens'), 2000 - $u1 - $u2 - ($est->($b4) + 10),
        'tpm: the stream was settled at its streamed usage';
}

# ---------------------------------------------------------------- usage endpoints
{
    my $no = gw_request('GET', '/api/usage');
    envelope_ok($no, 401, 'authentication_error', '/api/usage without key', code => 'missing_api_key');
    my $bad = gw_request('GET', '/api/quota-check', undef, Authorization => 'Bearer sk-q-zzz');
    envelope_ok($bad, 401, 'authentication_error', '/api/quota-check unknown key', code => 'invalid_api_key');
    my $post = gw_request('POST', '/api/usage', '{}', Authorization => 'Bearer sk-q-usage');
    is $post->code, 405, 'POST /api/usage: 405';

    my $u0 = gw_request('GET', '/api/usage', undef, apikey => 'sk-q-usage');
    is $u0->code, 200, '/api/usage: 200';
    like $u0->header('Content-Type') // '', qr{^application/json}, '/api/usage: JSON';
    like $u0->header('x-request-id') // '', uuid_re(), '/api/usage: x-request-id';
    my $j0 = dec($u0);
    is_deeply [ @{$j0}{qw(consumer_id quota used remaining requests total_tokens)} ],
              [ 'q-usage', 10, 0, 10, 0, 0 ], '/api/usage: fresh workspace';
    is $j0->{total_cost}, 0, '/api/usage: total_cost 0';

    my $tokens = 0;
    for my $i (1 .. 2) {
        my $r = q_chat('sk-q-usage', text => "usage $i");
        is $r->code, 200, "usage: request $i";
        $tokens += dec($r)->{usage}{total_tokens};
    }
    my $u;
    wait_for(sub {     # both settled
        $u = gw_request('GET', '/api/usage', undef, Authorization => 'Bearer sk-q-usage');
        (dec($u)->{requests} // 0) >= 2;
    });
    my $j = dec($u);
    for my $f (qw(consumer_id quota used remaining requests total_tokens total_cost)) {
        ok exists $j->{$f}, "/api/usage has $f";
    }
    is $j->{consumer_id}, 'q-usage', 'usage: consumer_id is the workspace';
    is $j->{quota}, 10, 'usage: quota';
    is $j->{used}, 2, 'usage: used';
    is $j->{remaining}, 8, 'usage: remaining';
    is $j->{requests}, 2, 'usage: requests';
    is $j->{total_tokens}, $tokens, "usage: total_tokens $tokens";
    is hdr($u, 'x-quota-limit'), 10, 'usage: x-quota-limit header';
    is hdr($u, 'x-quota-remaining'), 8, 'usage: x-quota-remaining header';

    my $qc = gw_request('GET', '/api/quota-check', undef, 'x-api-key' => 'sk-q-usage');
    is $qc->code, 200, '/api/quota-check: 200';
    my $q = dec($qc);
    is_deeply [ sort keys %$q ], [ sort qw(has_quota quota used remaining) ], 'quota-check: fields';
    ok JSON::PP::is_bool($q->{has_quota}) && $q->{has_quota}, 'quota-check: has_quota true';
    is_deeply [ @{$q}{qw(quota used remaining)} ], [ 10, 2, 8 ], 'quota-check: quota, used, remaining';
}

no_key_leak();
done_testing();
