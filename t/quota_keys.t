# mod_llmgw_quota, issue 9: LLMGWPlan quota_status=429 (item 15); a key's
# models= allow-list, name= and tier= (item 16); numbers printed in their
# shortest round-trip form and has_quota while a cache hit's weight fits
# (item 17); the llmgw-key request note (item 21); and a missing plan or an
# unknown option failing `apache2 -t` with the directive, file and line
# (item 18). Runs its own node (LLMGW::Node) with its own plans.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use File::Temp ();
use LLMGW::Test;
use LLMGW::Node;

unless (Apache::Test::need_module('llmgw', 'llmgw_quota', 'llmgw_cache')) {
    print "1..0 # skipped: mod_llmgw, mod_llmgw_cache and mod_llmgw_quota are needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $tag = "$$-" . int(time);
my $mock = $ENV{LLMGW_MOCK_PORT};
my $CC = '/k/v1/chat/completions';
my $HC = '/kc/v1/chat/completions';
my $t_dir = Apache::Test::vars('t_dir');
my $notes = "$t_dir/logs/node-keys.notes_log";

my $conf = <<"EOF_CONF";
LLMGWProvider other openai http://127.0.0.1:$mock/v1 key=env:LLMGW_TEST_PROVIDER_KEY models=echo
LLMGWModelAlias kfast mock/echo
LLMGWModelAlias kother other/echo
LLMGWRouter kauto
LLMGWRoute kauto -> mock/error-500,other/echo
LLMGWPrice mock/echo 0.4 1.6 0.1
LLMGWPrice mock/qpriced 1000 1000

LLMGWPlan k429    requests_month=2 quota_status=429 tier=free
LLMGWPlan k402    requests_month=1
LLMGWPlan kbasic  requests_month=1000 tier=gold
LLMGWPlan kbudget budget_month_usd=0.001
LLMGWPlan khit    requests_month=2 cache_hit_weight=0.1 quota_status=402
LLMGWKey sk-k-429   workspace=k429-$tag   plan=k429
LLMGWKey sk-k-402   workspace=k402-$tag   plan=k402 name=four-oh-two
LLMGWKey sk-k-glob  workspace=kglob-$tag  plan=kbasic models=mock/echo*,mock/slow-* name=globber tier=silver
LLMGWKey sk-k-alias workspace=kalias-$tag plan=kbasic models=kfast
LLMGWKey sk-k-any   workspace=kany-$tag   plan=kbasic
LLMGWKey sk-k-mixed workspace=kmix-$tag   plan=kbasic models=mock/*
LLMGWKey sk-k-router workspace=krt-$tag  plan=kbasic models=kauto
LLMGWKey sk-k-budget workspace=kbud-$tag  plan=kbudget
LLMGWKey sk-k-hit   workspace=khit-$tag   plan=khit
LogFormat "%{llmgw-key}n %{llmgw-workspace}n %>s %U" keynotes
CustomLog "$notes" keynotes
<Location /k/v1>
    SetHandler llmgw
    LLMGWQuota On
</Location>
<Location /kc/v1>
    SetHandler llmgw
    LLMGWQuota On
    LLMGWCache On
</Location>
<Location /api/usage>
    SetHandler llmgw-usage
</Location>
<Location /api/quota-check>
    SetHandler llmgw-quota-check
</Location>
EOF_CONF

my $n = LLMGW::Node->start(name => 'keys', conf => $conf);
ok $n, 'node with the plans and keys of this suite';

sub kpost {
    my ($key, $model, %o) = @_;
    my $body = chat_body($model, $o{text} // "keys $model", %{ $o{extra} // {} });
    return $n->post($o{path} // $CC, $body, Authorization => "Bearer $key");
}
sub node_envelope {
    my ($res, $status, $type, $name, %o) = @_;
    is $res->code, $status, "$name: $status";
    my $e = (dec($res) // {})->{error} // {};
    is $e->{type}, $type, "$name: type $type";
    is $e->{code}, $o{code}, "$name: code $o{code}" if exists $o{code};
    return $e;
}

# ---------------------------------------------------------------- item 15: quota_status=429
{
    is kpost('sk-k-429', 'mock/echo')->code, 200, 'quota_status=429: 1st';
    is kpost('sk-k-429', 'mock/echo')->code, 200, 'quota_status=429: 2nd';
    my $r = kpost('sk-k-429', 'mock/echo');
    my $e = node_envelope($r, 429, 'rate_limit_error', 'quota_status=429: month spent',
                          code => 'quota_exceeded');
    my $ra = $r->header('retry-after') // '';
    like $ra, qr/^\d+$/, "quota_status=429: retry-after ($ra)";
    my $reset = $r->header('x-quota-reset') // '';
    my ($y, $m) = $reset =~ /^(\d{4})-(\d\d)-01T00:00:00Z$/;
    ok $y, "x-quota-reset $reset";
    if ($y) {
        require POSIX;
        my $at = POSIX::mktime(0, 0, 0, 1, $m - 1, $y - 1900);
        $at -= (POSIX::mktime(gmtime(0)) // 0);      # mktime is local time
        ok abs($ra - ($at - time)) <= 2, 'retry-after runs until the month resets';
    }
    is $e->{details}{window}, 'month', 'details.window month';
    is $e->{details}{retry_after_secs}, $ra, 'details.retry_after_secs = retry-after';
    ok $e->{retryable}, 'retryable';
    my $r402 = kpost('sk-k-402', 'mock/echo');
    $r402 = kpost('sk-k-402', 'mock/echo');
    node_envelope($r402, 402, 'insufficient_quota', 'default quota_status: 402',
                  code => 'quota_exceeded');
    ok !defined $r402->header('retry-after'), '402: no retry-after';
}

# ---------------------------------------------------------------- item 16: models=
{
    my $before = mock_stats()->{requests};
    is kpost('sk-k-glob', 'mock/echo')->code, 200, 'models=mock/echo*: mock/echo allowed';
    is kpost('sk-k-glob', 'echo')->code, 200, 'a plain name resolved to mock/echo is allowed';
    my $r = kpost('sk-k-glob', 'mock/inspect');
    my $e = node_envelope($r, 403, 'permission_error', 'mock/inspect is not in models=',
                          code => 'model_not_allowed');
    like $e->{message} // '', qr{mock/inspect}, '403 names the model';
    is kpost('sk-k-glob', 'other/echo')->code, 403, 'the same model on another provider: 403';
    is kpost('sk-k-glob', 'kother')->code, 403, 'an alias to another provider: 403';
    is kpost('sk-k-glob', 'echo', extra => { provider => 'other' })->code, 403,
        'the provider field naming another provider: 403';
    # an allowed name with a provider field naming another provider: never
    # answered by that provider (403, or mock/echo where the prefix wins)
    my $pf = kpost('sk-k-glob', 'mock/echo', extra => { provider => 'other' });
    ok $pf->code == 403 || ($pf->code == 200 && ($pf->header('x-provider') // '') eq 'mock'),
        'mock/echo with provider=other: not served by other (' . $pf->code . ')';
    my $upstream_pf = $pf->code == 200 ? 1 : 0;
    is kpost('sk-k-glob', 'echo', extra => { provider => 'mock' })->code, 200,
        'the provider field naming an allowed provider/model: 200';
    # fallbacks: one the key may not use refuses the request before any attempt
    $r = kpost('sk-k-glob', 'mock/echo', extra => { models => ['mock/echo', 'other/echo'] });
    is $r->code, 403, 'a fallback outside models=: 403 (nothing is tried)';
    like((dec($r) // {})->{error}{message} // '', qr{other/echo}, 'the 403 names the fallback');
    $r = kpost('sk-k-glob', 'mock/echo', extra => { models => ['mock/echo', 'mock/slow-1'] });
    is $r->code, 200, 'fallbacks all inside models=: 200';
    is mock_stats()->{requests} - $before, 4 + $upstream_pf, 'refused requests sent nothing upstream';
    # the requested name may match too: models=kfast allows the alias only
    is kpost('sk-k-alias', 'kfast')->code, 200, 'models=kfast: the alias kfast is allowed';
    is kpost('sk-k-alias', 'mock/echo')->code, 403, 'models=kfast: mock/echo written directly is not';
    is kpost('sk-k-any', 'other/echo')->code, 200, 'a key without models= uses any model';

    # a router's later targets are fallbacks the client did not name: one
    # outside models= is skipped (never reached); a key granted the router
    # by name (models=kauto) may reach them all
    my $k = 'sk-k-mixed';
    for my $name ('kauto') {
        my $b0 = mock_stats()->{by_model} // {};
        $r = kpost($k, $name);
        is $r->code, 502, "$name: its first target fails, the fallback outside models= is not tried";
        is $r->header('x-provider') // 'mock', 'mock', "... the error is the first target's";
        my $b1 = mock_stats()->{by_model} // {};
        is(($b1->{echo} // 0) - ($b0->{echo} // 0), 0, "... nothing reached other/echo ($name)");
        for my $key ('sk-k-any', 'sk-k-router') {
            $r = kpost($key, $name);
            is $r->code, 200, "$name, $key (no models=, or models=$name): the fallback answers";
            is $r->header('x-provider'), 'other', '... from other';
        }
    }
}

# ---------------------------------------------------------------- item 21: llmgw-key note
{
    my @lines;
    wait_for(sub {     # the notes are logged after the responses
        open my $fh, '<', $notes or die "$notes: $!";
        @lines = <$fh>;
        close $fh;
        (grep { /^globber kglob-\Q$tag\E 200 / } @lines)
            && (grep { /^globber kglob-\Q$tag\E 403 / } @lines)
            && (grep { /^four-oh-two k402-/ } @lines);
    });
    ok((grep { /^globber kglob-\Q$tag\E 200 / } @lines), 'llmgw-key: the name= of the key');
    ok((grep { /^globber kglob-\Q$tag\E 403 / } @lines), 'llmgw-key: also on a 403');
    ok((grep { /^four-oh-two k402-/ } @lines), 'llmgw-key: another key, another name');
    my ($anon) = map { /^(\S+) kany-/ ? $1 : () } @lines;
    like $anon // '', qr/^key-[0-9a-f]{12}$/, 'a key without a name: a short id ('
        . ($anon // 'none') . ')';
    ok !(grep { /sk-k-/ } @lines), 'never the secret';
}

# ---------------------------------------------------------------- item 17: numbers
{
    my $m = $n->get('/v1/models');
    is $m->code, 200, 'GET models';
    like $m->content, qr/"id":"mock\/echo"[^}]*"pricing":\{[^}]*"input":0\.4\b/, 'pricing input 0.4';
    like $m->content, qr/"output":1\.6\b/, 'pricing output 1.6';
    unlike $m->content, qr/\d\.\d{15,}/, 'no 17-digit reals in GET models';

    my $r = kpost('sk-k-any', 'mock/echo', text => 'what does this cost');
    my $cost = $r->header('x-cost') // '';
    my $u = dec($r)->{usage};
    my $want = ($u->{prompt_tokens} * 0.4 + $u->{completion_tokens} * 1.6) / 1e6;
    like $cost, qr/^\d(?:\.\d+)?(?:e-\d+)?$|^0\.\d+$/, "x-cost is a plain number ($cost)";
    ok abs($cost - $want) < 1e-15, "x-cost = $want";
    (my $digits = $cost) =~ s/e.*//;
    $digits =~ s/[^0-9]//g;
    $digits =~ s/^0+//;
    ok length($digits) <= 15, "x-cost in its shortest form ($cost)";

    # budget 0.001: the 402's details and message
    is kpost('sk-k-budget', 'mock/qpriced')->code, 200, 'budget: first request';
    $r = kpost('sk-k-budget', 'mock/qpriced');
    is $r->code, 402, 'budget spent: 402';
    like $r->content, qr/"limit":0\.001[,}]/, 'details.limit 0.001 as written';
    like $r->content, qr/budget of 0\.001 USD/, 'the message says 0.001 USD';
    my $usage = $n->get('/api/usage', Authorization => 'Bearer sk-k-budget');
    like $usage->content, qr/"budget_usd":0\.001[,}]/, '/api/usage: budget_usd 0.001';
    unlike $usage->content, qr/\d\.\d{15,}/, '/api/usage: no 17-digit reals';
}

# ---------------------------------------------------------------- item 17: has_quota and cache hits
# /api/quota-check of sk-k-hit once "used" has reached $want (hits settle
# after their response)
sub used_at_least {
    my $want = shift;
    my $qc;
    wait_for(sub {
        $qc = $n->get('/api/quota-check', Authorization => 'Bearer sk-k-hit');
        ((dec($qc) // {})->{used} // 0) >= $want - 1e-9;
    });
    return $qc;
}
{
    my $hit_text = "cache hit weight $tag";
    my $first = kpost('sk-k-hit', 'mock/echo', path => $HC, text => $hit_text);
    is $first->header('x-cache-status'), 'MISS', 'a miss: one request';
    my @hits = map { kpost('sk-k-hit', 'mock/echo', path => $HC, text => $hit_text) } 1 .. 5;
    is_deeply [ map { $_->header('x-cache-status') // '-' } @hits ], [ ('HIT') x 5 ],
        'five hits';
    my $qc = used_at_least(1.5);
    like $qc->content, qr/"used":1\.5[,}]/, 'quota-check: used 1.5 printed as 1.5';
    ok dec($qc)->{has_quota}, 'has_quota: 1.5 of 2, a request still fits';
    # 1.5 used: a new request (1) does not fit, a hit (0.1) does
    my $before = mock_stats()->{requests};
    my $miss = kpost('sk-k-hit', 'mock/echo', path => $HC, text => "not cached $tag");
    node_envelope($miss, 402, 'insufficient_quota', 'a miss that would pass the quota',
                  code => 'quota_exceeded');
    is mock_stats()->{requests}, $before, 'nothing went upstream';
    my $hit = kpost('sk-k-hit', 'mock/echo', path => $HC, text => $hit_text);
    is $hit->code, 200, 'a hit still fits: 200';
    is $hit->header('x-cache-status'), 'HIT', 'and is a HIT';
    # to 1.9 used: has_quota while 0.1 fits, false at 2.0
    kpost('sk-k-hit', 'mock/echo', path => $HC, text => $hit_text) for 1 .. 3;
    $qc = dec(used_at_least(1.9));
    ok abs($qc->{used} - 1.9) < 1e-9, "used 1.9 ($qc->{used})";
    ok $qc->{has_quota}, 'has_quota at 1.9 of 2: a hit still fits';
    is kpost('sk-k-hit', 'mock/echo', path => $HC, text => $hit_text)->code, 200, 'the last hit: 200';
    $qc = dec(used_at_least(2));
    is $qc->{used}, 2, 'used 2';
    ok !$qc->{has_quota}, 'has_quota false at 2 of 2';
    is kpost('sk-k-hit', 'mock/echo', path => $HC, text => $hit_text)->code, 402,
        'not even a hit fits now: 402';
}
$n->stop;

# ---------------------------------------------------------------- item 18: apache2 -t
{
    my $httpd = $ENV{HTTPD} // '/usr/sbin/apache2';
    my $base = "$t_dir/conf/base.conf";
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my $check = sub {
        my ($name, $body) = @_;
        my $file = "$dir/$name.conf";
        open my $fh, '>', $file or die $!;
        print $fh qq(Include "$base"\nServerName llmgw-t\nListen 127.0.0.1:1\n),
                  qq(PidFile "$dir/$name.pid"\nDefaultRunTimeDir "$dir"\n),
                  qq(ErrorLog "$dir/$name.error_log"\n), $body;
        close $fh;
        my $out = `$httpd -t -d $t_dir -f $file 2>&1`;
        return ($? >> 8, $out, $file);
    };
    my ($rc, $out) = $check->('ok', "LLMGWPlan p1 rpm=1\nLLMGWKey sk-ok workspace=w plan=p1\n");
    is $rc, 0, 'apache2 -t: a key on a defined plan is fine';
    like $out, qr/Syntax OK/, 'Syntax OK';

    my $file;
    ($rc, $out, $file) = $check->('noplan', "LLMGWPlan p1 rpm=1\n\n"
        . "LLMGWKey sk-ok workspace=w plan=nosuchplan\n");
    isnt $rc, 0, 'apache2 -t: plan=nosuchplan fails';
    like $out, qr/LLMGWKey/, 'the message names the directive';
    like $out, qr/\Q$file\E:9\b/, 'the message names the file and line';
    like $out, qr/nosuchplan/, 'the message names the plan';
    unlike $out, qr/sk-ok/, 'the message does not show the key';

    # a plan defined after the key is fine
    ($rc) = $check->('later', "LLMGWKey sk-ok workspace=w plan=p2\nLLMGWPlan p2 rpm=1\n");
    is $rc, 0, 'a plan defined after the key that uses it';

    ($rc, $out, $file) = $check->('keyopt', "LLMGWPlan p1 rpm=1\n"
        . "LLMGWKey sk-ok workspace=w plan=p1 colour=blue\n");
    isnt $rc, 0, 'an unknown LLMGWKey option fails';
    like $out, qr/LLMGWKey/, 'naming the directive';
    like $out, qr/line 8 of \Q$file\E/, 'the file and line';

    ($rc, $out, $file) = $check->('planopt', "LLMGWPlan p1 rpm=1 colour=blue\n");
    isnt $rc, 0, 'an unknown LLMGWPlan option fails';
    like $out, qr/LLMGWPlan.*colour/, 'naming the directive and the option';
    like $out, qr/line 7 of \Q$file\E/, 'the file and line';

    ($rc, $out) = $check->('qstatus', "LLMGWPlan p1 quota_status=403\n");
    isnt $rc, 0, 'quota_status must be 402 or 429';
    like $out, qr/quota_status/, 'naming the option';
}

done_testing();
