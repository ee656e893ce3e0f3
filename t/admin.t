# The management API (`llmgw-admin`, issue 12) on SQLite, one node: every
# route of SPEC.md's table and its /v1/projects alias; who may call it (the
# operator's LLMGWAdminKey, a workspace admin key for its own workspace,
# member keys, static keys, other tenants, forged and revoked keys); 400
# with param, 404, 409, 405; injection strings in every field; a key made
# here used on chat/completions with its plan's limits and models=, the
# workspace's stored provider key sent upstream, the context-quota policy
# (reject, truncate, cap), billing from the limits' own counters, and no
# secret in clear in the database file or the logs.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use File::Temp ();
use Digest::SHA qw(sha256_hex);
use LLMGW::Test;
use LLMGW::Node;

unless (Apache::Test::need_module('llmgw', 'llmgw_quota', 'dbd')) {
    print "1..0 # skipped: mod_llmgw, mod_llmgw_quota and mod_dbd are needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $tag = "$$" . int(time);
my $ADMIN = "adm-secret-$tag";
my $STORED = "sk-ws-stored-$tag-abcd";
my $dir = File::Temp::tempdir('llmgw-admin-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $db = "$dir/llmgw.db";
{
    open my $fh, '>:raw', "$dir/secret.key" or die $!;
    print $fh join '', map { chr int rand 256 } 1 .. 32;
    close $fh;
    chmod 0600, "$dir/secret.key";
}
my $admin_hash = sha256_hex($ADMIN);

my $node = LLMGW::Node->start(name => 'admin', store => 'shm:8M', conf => <<"EOF");
DBDriver sqlite3
DBDParams "$db"
LLMGWAdminKey sha256:$admin_hash
LLMGWSecretKeyFile "$dir/secret.key"
LLMGWManagedKeys On
LLMGWPlan adm-three requests_month=3 overage=deny
LLMGWPlan adm-big   requests_month=1000 rpm=1000
LLMGWKey sk-static-$tag workspace=static-ws plan=adm-big
LLMGWProvider mockant anthropic http://127.0.0.1:$ENV{LLMGW_MOCK_PORT} key=env:LLMGW_TEST_PROVIDER_KEY
<Location /v1>
    LLMGWQuota On
</Location>
<LocationMatch "^/v1/(workspaces|projects|billing)(/|\$)">
    SetHandler llmgw-admin
</LocationMatch>
<Location /api/usage>
    SetHandler llmgw-usage
</Location>
EOF
ok $node, 'a node with the management API on SQLite';

# ---------------------------------------------------------------- helpers
sub call {
    my ($method, $path, $body, $key) = @_;
    my @h = defined $key ? (Authorization => "Bearer $key") : ();
    my $res = $node->request($method, $path, $body, @h);
    return ($res, dec($res));
}
sub adm { my ($m, $p, $b) = @_; call($m, $p, $b, $ADMIN) }
sub chat {
    my ($key, %extra) = @_;
    my $body = { model => 'mock/echo', messages => [ { role => 'user', content => 'hi' } ], %extra };
    return call('POST', '/v1/chat/completions', $body, $key);
}
sub err_is {
    my ($res, $j, $status, $code, $name, $param) = @_;
    is $res->code, $status, "$name: $status"
        or diag substr($res->content // '', 0, 300);
    is $j && $j->{error} && $j->{error}{code}, $code, "$name: code $code";
    if (@_ > 6) {
        is $j && $j->{error} && $j->{error}{param}, $param,
           "$name: param " . ($param // 'null');
    }
}

# ---------------------------------------------------------------- auth
{
    my ($r, $j) = call('GET', '/v1/workspaces');
    err_is($r, $j, 401, 'missing_api_key', 'no key');
    ($r, $j) = call('GET', '/v1/workspaces', undef, 'llmgw_forged0000000000000000000000000000000000000');
    err_is($r, $j, 401, 'invalid_api_key', 'a forged key');
    ($r, $j) = call('GET', '/v1/workspaces', undef, "sk-static-$tag");
    err_is($r, $j, 403, 'admin_key_required', 'a static LLMGWKey key');
    ($r, $j) = call('GET', '/v1/workspaces', undef, $admin_hash);
    err_is($r, $j, 401, 'invalid_api_key', 'the admin key\'s digest is no key');
}

# ---------------------------------------------------------------- workspaces
my $WS = "acme-$tag";
my $OTHER;
{
    my ($r, $j) = adm('POST', '/v1/workspaces', { name => 'Acme', plan => 'adm-three', id => $WS });
    is $r->code, 201, 'POST workspaces: 201';
    is_deeply [ @$j{qw(id object name plan status)} ], [ $WS, 'workspace', 'Acme', 'adm-three', 'active' ],
        'the WORKSPACE object';
    like $j->{created_at}, qr/^\d{10}$/, 'created_at in Unix seconds';

    ($r, $j) = adm('POST', '/v1/workspaces', { name => 'Again', plan => 'adm-three', id => $WS });
    err_is($r, $j, 409, 'workspace_exists', 'a duplicate id', 'id');

    ($r, $j) = adm('POST', '/v1/workspaces', { name => "Robert'); DROP TABLE llmgw_workspaces;--", plan => 'adm-big' });
    is $r->code, 201, 'an id is made when none is given';
    like $j->{id}, qr/^ws_[0-9a-f]{24}$/, 'ws_ and 24 hex digits';
    is $j->{name}, "Robert'); DROP TABLE llmgw_workspaces;--", 'an injection string is kept as a name, verbatim';
    $OTHER = $j->{id};

    ($r, $j) = adm('GET', '/v1/workspaces');
    is $r->code, 200, 'GET workspaces';
    is $j->{object}, 'list', 'a list';
    is_deeply [ sort map { $_->{id} } @{ $j->{data} } ], [ sort $WS, $OTHER ],
        'both workspaces listed (the table survived the injection string)';

    my @bad = (
        [ { plan => 'adm-big' }, 'name', 'no name' ],
        [ { name => '', plan => 'adm-big' }, 'name', 'an empty name' ],
        [ { name => "a\r\nb", plan => 'adm-big' }, 'name', 'a name with CR LF' ],
        [ { name => 'x' x 201, plan => 'adm-big' }, 'name', 'a name too long' ],
        [ { name => 'a' }, 'plan', 'no plan' ],
        [ { name => 'a', plan => 'nope' }, 'plan', 'a plan no LLMGWPlan defines' ],
        [ { name => 'a', plan => "adm-big' OR '1'='1" }, 'plan', 'an injection string as plan' ],
        [ { name => 'a', plan => 'adm-big', id => "x'; DELETE FROM llmgw_keys;--" }, 'id', 'an injection string as id' ],
        [ { name => 'a', plan => 'adm-big', id => '../etc' }, 'id', 'a path as id' ],
        [ { name => 'a', plan => 'adm-big', status => 'suspended' }, 'status', 'an unknown field' ],
        [ { name => [1], plan => 'adm-big' }, 'name', 'a name of the wrong type' ],
    );
    for my $b (@bad) {
        ($r, $j) = adm('POST', '/v1/workspaces', $b->[0]);
        err_is($r, $j, 400, $b->[1] eq 'plan' && $b->[2] =~ /defines/ ? 'unknown_plan' : 'invalid_parameter',
               "POST workspaces, $b->[2]", $b->[1]);
    }
    ($r, $j) = adm('POST', '/v1/workspaces', '{"name":');
    err_is($r, $j, 400, 'invalid_json', 'bad JSON');
    ($r, $j) = adm('POST', '/v1/workspaces', '[1,2]');
    err_is($r, $j, 400, 'invalid_parameter', 'a JSON array');

    ($r, $j) = adm('GET', "/v1/workspaces/$WS");
    is $r->code, 200, 'GET a workspace';
    is $j->{id}, $WS, '... that workspace';
    ($r, $j) = adm('GET', '/v1/workspaces/no-such-ws');
    err_is($r, $j, 404, 'workspace_not_found', 'an unknown workspace');
    ($r, $j) = adm('GET', "/v1/workspaces/x'%20OR%20'1'='1");
    err_is($r, $j, 404, 'workspace_not_found', 'an injection string as workspace id');

    ($r, $j) = adm('PATCH', "/v1/workspaces/$OTHER", { name => 'Renamed', plan => 'adm-three' });
    is $r->code, 200, 'PATCH name and plan';
    is_deeply [ @$j{qw(name plan status)} ], [ 'Renamed', 'adm-three', 'active' ], '... changed';
    ($r, $j) = adm('PATCH', "/v1/workspaces/$OTHER", { status => 'gone' });
    err_is($r, $j, 400, 'invalid_parameter', 'PATCH a bad status', 'status');
    ($r, $j) = adm('PATCH', "/v1/workspaces/$OTHER", { plan => 'nope' });
    err_is($r, $j, 400, 'unknown_plan', 'PATCH an unknown plan', 'plan');
    ($r, $j) = adm('PATCH', "/v1/workspaces/$OTHER", { id => 'steal' });
    err_is($r, $j, 400, 'invalid_parameter', 'PATCH the id', 'id');

    ($r, $j) = adm('DELETE', '/v1/workspaces');
    err_is($r, $j, 405, 'method_not_allowed', 'DELETE workspaces');
    is $r->header('Allow'), 'GET, POST', '... Allow: GET, POST';
    ($r, $j) = adm('GET', "/v1/workspaces/$WS/nothing");
    err_is($r, $j, 404, 'unknown_route', 'an unknown route');
}

# ---------------------------------------------------------------- keys
my ($MEMBER, $MEMBER_ID, $WSADMIN, $OTHER_MEMBER);
{
    my ($r, $j) = adm('POST', "/v1/workspaces/$WS/keys", { name => 'ci-bot', models => [ 'mock/echo' ] });
    is $r->code, 201, 'POST keys: 201';
    like $j->{key}, qr/^llmgw_[A-Za-z0-9_-]{43}$/, 'the secret is shown once, llmgw_...';
    is $j->{object}, 'api_key', 'an api_key object';
    is $j->{role}, 'member', 'role member by default';
    is_deeply $j->{models}, [ 'mock/echo' ], 'models';
    is $j->{prefix}, substr($j->{key}, 0, 12), 'prefix: the secret\'s first 12 characters';
    ok exists $j->{revoked_at} && !defined $j->{revoked_at}, 'revoked_at null';
    ($MEMBER, $MEMBER_ID) = @$j{qw(key id)};
    like $MEMBER_ID, qr/^key_[0-9a-f]{24}$/, 'key_ and 24 hex digits';

    ($r, $j) = adm('POST', "/v1/workspaces/$WS/keys", { name => 'boss', role => 'admin' });
    is $r->code, 201, 'an admin key';
    $WSADMIN = $j->{key};
    ($r, $j) = adm('POST', "/v1/workspaces/$OTHER/keys", { name => 'other' });
    $OTHER_MEMBER = $j->{key};

    ($r, $j) = adm('GET', "/v1/workspaces/$WS/keys");
    is $r->code, 200, 'GET keys';
    is scalar @{ $j->{data} }, 2, 'two keys';
    ok !(grep { exists $_->{key} } @{ $j->{data} }), 'the list shows no secret';

    for my $b ([ { role => 'admin' }, 'name' ], [ { name => 'x', role => 'root' }, 'role' ],
               [ { name => 'x', models => 'mock/*' }, 'models' ], [ { name => 'x', models => [ 'ok', {} ] }, 'models[1]' ],
               [ { name => 'x', expires_at => 1 }, 'expires_at' ], [ { name => 'x', key => 'mine' }, 'key' ]) {
        ($r, $j) = adm('POST', "/v1/workspaces/$WS/keys", $b->[0]);
        err_is($r, $j, 400, 'invalid_parameter', "POST keys, bad $b->[1]", $b->[1]);
    }
    ($r, $j) = adm('POST', '/v1/workspaces/no-such-ws/keys', { name => 'x' });
    err_is($r, $j, 404, 'workspace_not_found', 'keys of an unknown workspace');
    ($r, $j) = adm('POST', "/v1/workspaces/$WS/keys/key_000000000000000000000000/revoke");
    err_is($r, $j, 404, 'key_not_found', 'revoking an unknown key');
    ($r, $j) = adm('POST', "/v1/workspaces/$OTHER/keys/$MEMBER_ID/revoke");
    err_is($r, $j, 404, 'key_not_found', 'revoking a key through another workspace');
}

# ---------------------------------------------------------------- keys at work
{
    my ($r, $j) = chat($MEMBER);
    is $r->code, 200, 'a key made here works on chat/completions';
    is $j->{choices}[0]{message}{content}, 'hi', '... answered by the mock';
    is $r->header('x-quota-limit'), 3, "... under its workspace's plan (x-quota-limit 3)";
    is $r->header('x-quota-remaining'), 2, '... x-quota-remaining 2';

    ($r, $j) = chat($MEMBER, model => 'mock/inspect');
    err_is($r, $j, 403, 'model_not_allowed', 'models= of the key: another model');

    ($r, $j) = call('GET', '/api/usage', undef, $MEMBER);
    is $r->code, 200, '/api/usage with a managed key';
    is $j->{consumer_id}, $WS, '... its workspace';
    is $j->{username}, 'ci-bot', '... username is the key\'s name';
    is $j->{custom_id}, $MEMBER_ID, '... custom_id is the key\'s id';
    is $j->{requests}, 1, '... one request';

    ($r, $j) = chat($WSADMIN);
    is $r->code, 200, 'the admin key works on chat/completions too';
    ($r, $j) = chat($WSADMIN);
    is $r->code, 200, 'third request of the month';
    ($r, $j) = chat($MEMBER);
    err_is($r, $j, 402, 'quota_exceeded', "the plan's requests_month=3 holds for managed keys");

    ($r, $j) = adm('GET', "/v1/billing/workspaces/$WS/entitlements");
    is $r->code, 200, 'entitlements';
    is $j->{object}, 'entitlements', '... object';
    is $j->{workspace_id}, $WS, '... workspace_id';
    is $j->{plan}{requests_month}, 3, '... the plan\'s limits';
    is $j->{usage}{requests}, 3, '... usage.requests from the counters (3)';
    is $j->{remaining}{requests}, 0, '... nothing remains';
    ok $j->{usage}{prompt_tokens} > 0 && $j->{usage}{completion_tokens} > 0, '... tokens by kind';
    ok $j->{period}{end} > $j->{period}{start}, '... the period';
    my $usage_requests = (dec(call('GET', '/api/usage', undef, $MEMBER)))->{requests};
    is $usage_requests, $j->{usage}{requests}, 'entitlements agree with /api/usage';

    ($r, $j) = adm('GET', "/v1/billing/workspaces/$WS/usage");
    is $r->code, 200, 'usage by model';
    is_deeply [ map { "$_->{provider}/$_->{model}:$_->{requests}" } @{ $j->{data} } ],
        [ 'mock/echo:3' ], '... mock/echo, 3 requests';
}

# ---------------------------------------------------------------- tenants
{
    my ($r, $j) = call('GET', "/v1/workspaces/$WS", undef, $WSADMIN);
    is $r->code, 200, 'a workspace admin reads its own workspace';
    ($r, $j) = call('GET', '/v1/workspaces', undef, $WSADMIN);
    is_deeply [ map { $_->{id} } @{ $j->{data} } ], [ $WS ], '... and lists only it';
    ($r, $j) = call('GET', "/v1/workspaces/$OTHER", undef, $WSADMIN);
    err_is($r, $j, 403, 'workspace_forbidden', "another tenant's workspace");
    ($r, $j) = call('GET', "/v1/workspaces/$OTHER/keys", undef, $WSADMIN);
    err_is($r, $j, 403, 'workspace_forbidden', "another tenant's keys");
    ($r, $j) = call('POST', "/v1/workspaces/$OTHER/keys/x/revoke", undef, $WSADMIN);
    err_is($r, $j, 403, 'workspace_forbidden', "revoking in another tenant's workspace");
    ($r, $j) = call('GET', "/v1/billing/workspaces/$OTHER/entitlements", undef, $WSADMIN);
    err_is($r, $j, 403, 'workspace_forbidden', "another tenant's billing");
    ($r, $j) = call('GET', '/v1/workspaces/does-not-exist', undef, $WSADMIN);
    err_is($r, $j, 403, 'workspace_forbidden', 'an unknown workspace: 403 too (nothing learnt)');
    ($r, $j) = call('POST', '/v1/workspaces', { name => 'mine', plan => 'adm-big' }, $WSADMIN);
    err_is($r, $j, 403, 'admin_key_required', 'a workspace admin creates no workspace');
    ($r, $j) = call('PATCH', "/v1/workspaces/$WS", { plan => 'adm-big' }, $WSADMIN);
    err_is($r, $j, 403, 'admin_key_required', 'nor changes its plan', 'plan');
    ($r, $j) = call('PATCH', "/v1/workspaces/$WS", { name => 'Acme Inc' }, $WSADMIN);
    is $r->code, 200, 'it renames its workspace';
    ($r, $j) = call('GET', "/v1/workspaces/$WS/keys", undef, $MEMBER);
    err_is($r, $j, 403, 'admin_key_required', 'a member key manages nothing');
    ($r, $j) = call('GET', "/v1/workspaces/$WS", undef, $OTHER_MEMBER);
    err_is($r, $j, 403, 'admin_key_required', "another tenant's member key");
}

# ---------------------------------------------------------------- provider keys
{
    my ($r, $j) = adm('PATCH', "/v1/workspaces/$WS", { plan => 'adm-big' });
    is $r->code, 200, 'a bigger plan';
    ($r, $j) = adm('POST', "/v1/workspaces/$WS/provider-keys", { provider => 'mock', key => $STORED });
    is $r->code, 201, 'POST provider-keys: 201';
    is_deeply [ @$j{qw(object provider last4)} ], [ 'provider_key', 'mock', 'abcd' ], '... last4 only';
    ok !grep({ index($_ // '', $STORED) >= 0 } values %$j), '... never the key';
    ($r, $j) = adm('GET', "/v1/workspaces/$WS/provider-keys");
    is_deeply [ map { "$_->{provider}:$_->{last4}" } @{ $j->{data} } ], [ 'mock:abcd' ], 'GET provider-keys: last4';
    unlike $r->content, qr/\Q$STORED\E/, '... the key is not in the list';
    ($r, $j) = adm('POST', "/v1/workspaces/$WS/provider-keys", { provider => 'mock', key => 'sk-again-1234' });
    err_is($r, $j, 409, 'provider_key_exists', 'a second key for the provider', 'provider');
    ($r, $j) = adm('POST', "/v1/workspaces/$WS/provider-keys", { provider => 'nope', key => 'sk-1234567' });
    err_is($r, $j, 400, 'provider_not_found', 'an unknown provider', 'provider');
    ($r, $j) = adm('POST', "/v1/workspaces/$WS/provider-keys", { provider => 'mock', key => "sk\r\nX-Evil: 1" });
    err_is($r, $j, 400, 'invalid_parameter', 'a key with CR LF', 'key');
    ($r, $j) = adm('POST', "/v1/workspaces/$WS/provider-keys", { provider => "mock' --", key => 'sk-1234567' });
    err_is($r, $j, 400, 'invalid_parameter', 'an injection string as provider', 'provider');

    my $got = wait_for(sub {
        my ($cr) = chat($MEMBER);
        return $cr->code == 200 && (mock_last()->{headers}{authorization} // '') eq "Bearer $STORED";
    }, 3);
    ok $got, "the workspace's stored key goes upstream (Method A)";
    ($r, $j) = chat($MEMBER, provider_key => 'sk-byok-request-5678');
    is mock_last()->{headers}{authorization}, 'Bearer sk-byok-request-5678', "the request's provider_key wins";

    ($r, $j) = adm('DELETE', "/v1/workspaces/$WS/provider-keys/mock");
    is $r->code, 200, 'DELETE provider-keys';
    is_deeply $j, { object => 'provider_key', provider => 'mock', deleted => JSON::PP::true }, '... deleted';
    ($r, $j) = adm('DELETE', "/v1/workspaces/$WS/provider-keys/mock");
    err_is($r, $j, 404, 'provider_key_not_found', 'DELETE again');
    $got = wait_for(sub {
        my ($cr) = chat($MEMBER);
        return $cr->code == 200 && (mock_last()->{headers}{authorization} // '') eq 'Bearer ' . provider_key();
    }, 3);
    ok $got, "then the provider's configured key is used again";
}

# ---------------------------------------------------------------- policy
{
    my ($r, $j) = adm('GET', "/v1/billing/workspaces/$WS/context-quota-policy");
    is $r->code, 200, 'GET context-quota-policy';
    is_deeply $j, { object => 'context_quota_policy', max_prompt_tokens => undef, max_completion_tokens => undef,
                    on_exceed => 'reject', memory => { mode => 'none', max_turns => 20, ttl_seconds => 86400 } },
        '... the default';
    ($r, $j) = adm('PUT', "/v1/billing/workspaces/$WS/context-quota-policy",
                   { max_prompt_tokens => 60, on_exceed => 'reject', memory => { mode => 'session', max_turns => 4 } });
    is $r->code, 200, 'PUT a policy';
    is_deeply $j->{memory}, { mode => 'session', max_turns => 4, ttl_seconds => 86400 }, '... memory kept';
    for my $b ([ { max_prompt_tokens => -5 }, 'max_prompt_tokens' ], [ { on_exceed => 'explode' }, 'on_exceed' ],
               [ { memory => { mode => 'all' } }, 'memory.mode' ], [ { max_tokens => 1 }, 'max_tokens' ]) {
        ($r, $j) = adm('PUT', "/v1/billing/workspaces/$WS/context-quota-policy", $b->[0]);
        err_is($r, $j, 400, 'invalid_parameter', "PUT policy, bad $b->[1]", $b->[1]);
    }
    my $long = 'word ' x 80;
    my $refused = wait_for(sub {
        my ($cr, $cj) = chat($MEMBER, messages => [ { role => 'user', content => $long } ]);
        return $cr->code == 400 && $cj->{error}{code} eq 'context_quota_exceeded';
    }, 3);
    ok $refused, 'a prompt over max_prompt_tokens: 400 context_quota_exceeded (reject)';
    ($r, $j) = chat($MEMBER);
    is $r->code, 200, 'a short prompt passes';

    ($r, $j) = adm('PUT', "/v1/billing/workspaces/$WS/context-quota-policy",
                   { max_prompt_tokens => 60, on_exceed => 'truncate', max_completion_tokens => 7 });
    is $r->code, 200, 'PUT truncate with max_completion_tokens';
    my $convo = [ { role => 'system', content => 'be brief' },
                  { role => 'user', content => $long }, { role => 'assistant', content => 'ok' },
                  { role => 'user', content => 'last question' } ];
    my $ok = wait_for(sub {
        my ($cr) = chat($MEMBER, messages => $convo, max_tokens => 500);
        my $sent = mock_last()->{body} // {};
        return $cr->code == 200 && ($sent->{max_tokens} // 0) == 7;
    }, 3);
    ok $ok, 'truncate: the request goes through';
    my $sent = mock_last()->{body};
    is_deeply [ map { $_->{role} } @{ $sent->{messages} } ], [ 'system', 'user' ],
        '... without its oldest turns (system and last message kept)';
    is $sent->{messages}[-1]{content}, 'last question', '... the last message';
    is $sent->{max_tokens}, 7, 'max_tokens capped at max_completion_tokens';

    # the same policy on the Messages API (translated to the openai mock and
    # relayed to the anthropic one) and the Responses API: whole turns go
    # (a tool_use's tool_result or a function call's output with its turn)
    my $mconvo = [ { role => 'user', content => $long },
                   { role => 'assistant', content => [ { type => 'tool_use', id => 'tu1', name => 'f', input => {} } ] },
                   { role => 'user', content => [ { type => 'tool_result', tool_use_id => 'tu1', content => '42' } ] },
                   { role => 'user', content => 'last question' } ];
    for my $model ('mock/echo', 'mockant/claude-echo') {
        ($r, $j) = call('POST', '/v1/messages', { model => $model, max_tokens => 500, system => 'be brief',
                                                  messages => $mconvo }, $WSADMIN);
        is $r->code, 200, "messages API truncated ($model): 200"
            or diag substr($r->content // '', 0, 300);
        $sent = mock_last()->{body} // {};
        my @users = grep { ($_->{role} // '') eq 'user' } @{ $sent->{messages} // [] };
        is scalar @users, 1, "... one user message left upstream ($model)";
        is((ref $users[0]{content} ? $users[0]{content}[0]{text} : $users[0]{content}), 'last question',
           "... the last one ($model)");
        ok !(grep { ref $_->{content} && grep { ($_->{type} // '') =~ /^tool_/ } @{ $_->{content} } }
             @{ $sent->{messages} // [] }) && !(grep { ($_->{role} // '') eq 'tool' || $_->{tool_calls} }
             @{ $sent->{messages} // [] }), "... the tool call went with its turn ($model)";
        is $sent->{max_tokens} // $sent->{max_completion_tokens}, 7, "... max_tokens capped ($model)";
    }
    ($r, $j) = call('POST', '/v1/responses', { model => 'mock/echo', store => JSON::PP::false,
                                               input => [ { role => 'user', content => $long },
                                                          { type => 'function_call', call_id => 'c1', name => 'f', arguments => '{}' },
                                                          { type => 'function_call_output', call_id => 'c1', output => '42' },
                                                          { role => 'user', content => 'last question' } ] }, $MEMBER);
    is $r->code, 200, 'responses API truncated: 200' or diag substr($r->content // '', 0, 300);
    $sent = mock_last()->{body} // {};
    is_deeply [ map { $_->{role} } @{ $sent->{messages} // [] } ], [ 'user' ],
        '... only the last turn goes upstream';
    is $sent->{max_tokens} // $sent->{max_completion_tokens}, 7, '... max_output_tokens capped';
    ($r, $j) = call('POST', '/v1/messages', { model => 'mock/echo', max_tokens => 5,
                                              messages => [ { role => 'user', content => $long } ] }, $MEMBER);
    is $r->code, 400, 'messages API: one message over the limit is refused';
    is $j && $j->{type}, 'error', '... in the Anthropic shape';
    is $j && $j->{error}{type}, 'invalid_request_error', '... invalid_request_error';
}

# ---------------------------------------------------------------- projects alias
{
    my ($r, $j) = adm('GET', '/v1/projects');
    is $r->code, 200, 'GET /v1/projects';
    is $r->header('Deprecation'), 'true', '... Deprecation: true';
    is scalar @{ $j->{data} }, 2, '... the same workspaces';
    ($r, $j) = adm('GET', "/v1/projects/$WS/keys");
    is $r->header('Deprecation'), 'true', '/v1/projects/:id/keys deprecated';
    is scalar @{ $j->{data} }, 2, '... the same keys';
    ($r, $j) = adm('GET', "/v1/billing/projects/$WS/entitlements");
    is $r->code, 200, '/v1/billing/projects/:id/entitlements';
    is $r->header('Deprecation'), 'true', '... deprecated';
    ($r, $j) = adm('GET', "/v1/workspaces/$WS");
    ok !defined $r->header('Deprecation'), '/v1/workspaces is not deprecated';
}

# ---------------------------------------------------------------- suspend, revoke, expire
{
    my ($r, $j) = adm('PATCH', "/v1/workspaces/$WS", { status => 'suspended' });
    is $j->{status}, 'suspended', 'suspend the workspace';
    my $refused = wait_for(sub { my ($cr, $cj) = chat($MEMBER); $cr->code == 403 && $cj->{error}{code} eq 'workspace_suspended' }, 1);
    ok $refused, "a suspended workspace's keys get 403 within a second";
    ($r, $j) = call('GET', "/v1/workspaces/$WS/keys", undef, $WSADMIN);
    err_is($r, $j, 403, 'workspace_suspended', "its admin key manages nothing");
    adm('PATCH', "/v1/workspaces/$WS", { status => 'active' });
    ok wait_for(sub { (chat($MEMBER))[0]->code == 200 }, 1), 'active again: the key works';

    ($r, $j) = adm('POST', "/v1/workspaces/$WS/keys/$MEMBER_ID/revoke");
    is $r->code, 200, 'revoke';
    like $j->{revoked_at}, qr/^\d{10}$/, '... revoked_at set';
    my $t0 = time;
    my $gone = wait_for(sub { my ($cr, $cj) = chat($MEMBER); $cr->code == 401 && $cj->{error}{code} eq 'revoked_api_key' }, 1);
    ok $gone, 'a revoked key gets 401 revoked_api_key within a second';
    ($r, $j) = adm('POST', "/v1/workspaces/$WS/keys/$MEMBER_ID/revoke");
    is $r->code, 200, 'revoking again answers the key';
    my ($listed) = grep { $_->{id} eq $MEMBER_ID } @{ (adm('GET', "/v1/workspaces/$WS/keys"))[1]{data} };
    is $j->{revoked_at}, $listed->{revoked_at}, '... revoked_at unchanged';

    ($r, $j) = adm('POST', "/v1/workspaces/$WS/keys", { name => 'short-lived', expires_at => int(time) + 2 });
    my $short = $j->{key};
    is((chat($short))[0]->code, 200, 'a key before its expires_at works');
    my $expired = wait_for(sub { my ($cr, $cj) = chat($short); $cr->code == 401 && $cj->{error}{code} eq 'expired_api_key' }, 6, 0.25);
    ok $expired, 'after expires_at: 401 expired_api_key';
}

# ---------------------------------------------------------------- nothing in clear
{
    my $all = '';
    for my $f (glob("$db*")) {
        open my $fh, '<:raw', $f or next;
        local $/;
        $all .= <$fh> // '';
    }
    ok length $all > 0, 'the database file was read';
    like $all, qr/\Q$MEMBER_ID\E/, '... it holds the keys (ids)';
    unlike $all, qr/\Q$STORED\E/, 'the stored provider key is not in the database in clear';
    unlike $all, qr/\Q$MEMBER\E/, "a key's secret is not in the database";
    unlike $all, qr/\Q$WSADMIN\E/, "an admin key's secret is not in the database";
    like $all, qr/\Q@{[ sha256_hex($MEMBER) ]}\E/, "... only its SHA-256";
    my $log = do { open my $fh, '<', $node->error_log or die $!; local $/; <$fh> // '' };
    for ([ $STORED, 'the stored provider key' ], [ $MEMBER, 'a key' ], [ $ADMIN, 'the admin secret' ]) {
        unlike $log, qr/\Q$_->[0]\E/, "$_->[1] is not in the error log";
    }
}

# ---------------------------------------------------------------- config errors
{
    my $base = Apache::Test::vars('t_dir') . '/conf/base.conf';
    my $httpd = $ENV{HTTPD} // '/usr/sbin/apache2';
    open my $fh, '>:raw', "$dir/short.key" or die $!;
    print $fh 'x' x 16;
    close $fh;
    my $n = 0;
    my $check = sub {
        my ($line) = @_;
        my $file = "$dir/bad" . ++$n . '.conf';
        open my $cf, '>', $file or die $!;
        print $cf qq(Include "$base"\nServerName localhost\nListen 127.0.0.1:1\nPidFile $dir/x.pid\n)
            . qq(DefaultRuntimeDir $dir\nErrorLog $dir/x.log\n$line\n);
        close $cf;
        my $out = `$httpd -t -f $file 2>&1`;
        return ($? >> 8, $out, $file);
    };
    my ($rc, $out, $file) = $check->("LLMGWSecretKeyFile $dir/missing.key");
    isnt $rc, 0, 'a missing LLMGWSecretKeyFile fails httpd -t';
    like $out, qr/LLMGWSecretKeyFile at \Q$file\E:7: .*missing\.key/, '... naming the directive, file, line and path';
    ($rc, $out, $file) = $check->("LLMGWSecretKeyFile $dir/short.key");
    isnt $rc, 0, 'a short LLMGWSecretKeyFile fails httpd -t';
    like $out, qr/LLMGWSecretKeyFile.*32 random bytes.*16 bytes/s, '... saying it wants 32 bytes';
    ($rc, $out) = $check->("LLMGWAdminKey plain-admin-secret-$tag");
    isnt $rc, 0, 'LLMGWAdminKey with a plain secret fails httpd -t';
    like $out, qr/LLMGWAdminKey.*sha256:HEX/s, '... asking for sha256:HEX';
    unlike $out, qr/plain-admin-secret/, '... without echoing the secret';
}

$node->stop;
done_testing();
