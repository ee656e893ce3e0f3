# Conversation memory (issue 15, SPEC "Memory") on two nodes sharing
# memcached: a session (x-llmgw-session, or the body's user) remembers its
# turns across requests and nodes, after the request's system messages;
# DELETE /v1/workspaces/:id/memory/:user forgets it; another workspace sees
# nothing; x-llmgw-memory: none turns it off, a bad value is a 400; an
# aborted stream is not remembered; a profile (PUT .../memory/:user)
# reaches the model as a system message; the workspace policy's memory
# part (managed keys) chooses the mode and max_turns; a request extended by
# memory is cached under what was really sent; the Messages API too. The
# mock's `inspect` model answers with the body it received.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Temp ();
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use LLMGW::Test;
use LLMGW::Node;

unless (Apache::Test::need_module('llmgw', 'llmgw_quota', 'llmgw_cache', 'dbd')) {
    print "1..0 # skipped: mod_llmgw, mod_llmgw_cache, mod_llmgw_quota and mod_dbd are needed\n";
    exit;
}
Apache::Test::test_pm_refresh();
plan tests => 56;

my $tag = "$$" . time;
my $ADMIN = "mem-admin-$tag";
my $WS = "mem-$tag";
my $KA = "sk-mem-a-$tag";
my $KB = "sk-mem-b-$tag";
my $dir = File::Temp::tempdir('llmgw-mem-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my $common = <<"EOF";
LLMGWPlan memplan requests_month=1000
LLMGWKey $KA workspace=$WS plan=memplan
LLMGWKey $KB workspace=other-$tag plan=memplan
<Location /v1>
    LLMGWQuota On
</Location>
<Location /session/v1>
    SetHandler llmgw
    LLMGWQuota On
    LLMGWMemory session
</Location>
<Location /cached/v1>
    SetHandler llmgw
    LLMGWQuota On
    LLMGWMemory session
    LLMGWCache On
</Location>
<Location /ant/v1>
    SetHandler llmgw
    LLMGWQuota On
    LLMGWMemory session
</Location>
EOF
my $admin = <<"EOF";
DBDriver sqlite3
DBDParams "$dir/llmgw.db"
LLMGWAdminKey sha256:@{[ sha256_hex($ADMIN) ]}
LLMGWManagedKeys On
<LocationMatch "^/v1/(workspaces|projects|billing)(/|\$)">
    SetHandler llmgw-admin
</LocationMatch>
EOF

my $a = LLMGW::Node->start(name => 'mem-a', conf => $common . $admin);
my $b = LLMGW::Node->start(name => 'mem-b', conf => $common);

sub adm {
    my ($m, $p, $body) = @_;
    my $r = $a->request($m, $p, $body, Authorization => "Bearer $ADMIN");
    return ($r, dec($r));
}
# What the provider received, from the inspect model's answer.
sub sent {
    my $res = shift;
    my $j = dec($res) // {};
    my $c = $j->{choices} ? $j->{choices}[0]{message}{content} : undef;
    $c //= $j->{content} && $j->{content}[0] ? $j->{content}[0]{text} : undef;
    $c //= join '', map { $_->{text} // '' } map { @{ $_->{content} // [] } }
        grep { ($_->{type} // '') eq 'message' } @{ $j->{output} // [] } if $j->{output};
    my $info = dec($c // '') // {};
    return $info->{body} // {};
}
sub roles_texts {
    my $body = shift;
    return join ' | ', map { "$_->{role}:" . (ref $_->{content} ? JSON::PP->new->canonical->encode($_->{content}) : $_->{content} // '') }
        @{ $body->{messages} // [] };
}
sub say_to {
    my ($node, $path, $key, $model, $text, %h) = @_;
    my $extra = delete $h{body} // {};
    return $node->post("$path/v1/chat/completions",
                       { model => $model, messages => [ { role => 'user', content => $text } ], %$extra },
                       Authorization => "Bearer $key", %h);
}

my ($r, $j) = adm('POST', '/v1/workspaces', { name => 'Memory', plan => 'memplan', id => $WS });
is $r->code, 201, 'the workspace exists in the management API' or diag $r->content;

# ---- a session across requests and nodes ------------------------------------
my $S = "sess-$tag";
$r = say_to($a, '/session', $KA, 'echo', 'My name is Ada.', 'x-llmgw-session' => $S);
is $r->code, 200, 'first turn: 200' or diag $r->content;
like $r->header('x-llmgw') // '', qr/; mem=session/, 'x-llmgw says mem=session';
$r = $b->post('/session/v1/chat/completions',
              { model => 'inspect', messages => [ { role => 'system', content => 'Be brief.' },
                                                  { role => 'user', content => 'What is my name?' } ] },
              Authorization => "Bearer $KA", 'x-llmgw-session' => $S);
is $r->code, 200, 'second turn on node b: 200';
is roles_texts(sent($r)),
   'system:Be brief. | user:My name is Ada. | assistant:My name is Ada. | user:What is my name?',
   'node b sent the earlier turn after the system message';
(undef, $j) = adm('GET', "/v1/workspaces/$WS/memory/$S");
is $j->{object}, 'memory', 'GET memory: object memory';
is $j->{session_turns}, 2, 'GET memory: 2 turns remembered';
is $j->{profile}, undef, 'GET memory: no profile';

# another workspace, same session name: nothing
$r = say_to($b, '/session', $KB, 'inspect', 'Who am I?', 'x-llmgw-session' => $S);
is roles_texts(sent($r)), 'user:Who am I?', 'another workspace sees nothing of it';

# x-llmgw-memory: none
$r = say_to($b, '/session', $KA, 'inspect', 'plain', 'x-llmgw-session' => $S, 'x-llmgw-memory' => 'none');
is roles_texts(sent($r)), 'user:plain', 'x-llmgw-memory: none: nothing added';
unlike $r->header('x-llmgw') // '', qr/mem=/, 'x-llmgw-memory: none: no mem=';
$r = say_to($b, '/session', $KA, 'echo', 'x', 'x-llmgw-session' => $S, 'x-llmgw-memory' => 'forever');
is $r->code, 400, 'a bad x-llmgw-memory: 400';
is((dec($r) // {})->{error}{param}, 'x-llmgw-memory', 'a bad x-llmgw-memory: param names it');

# the body's `memory` field (a gateway field) does what the header does
$r = say_to($b, '/session', $KA, 'inspect', 'plain again', 'x-llmgw-session' => $S,
            body => { memory => 'none' });
is roles_texts(sent($r)), 'user:plain again', 'memory: "none" in the body: nothing added';
ok !exists sent($r)->{memory}, 'memory field: never sent upstream';
$r = say_to($b, '/session', $KA, 'echo', 'x', 'x-llmgw-session' => $S, body => { memory => 'forever' });
is $r->code, 400, 'a bad memory field: 400';
is((dec($r) // {})->{error}{param}, 'memory', 'a bad memory field: param names it');

# an aborted stream is not remembered
$r = say_to($a, '/session', $KA, 'stream-error', 'cut me', 'x-llmgw-session' => $S,
            body => { stream => JSON::PP::true() });
is $r->code, 200, 'a stream that fails: 200 (then an error event)';
(undef, $j) = adm('GET', "/v1/workspaces/$WS/memory/$S");
is $j->{session_turns}, 2, 'the failed stream added no turn';

# a complete stream is remembered
$r = say_to($a, '/session', $KA, 'echo', 'I live in Paris.', 'x-llmgw-session' => $S,
            body => { stream => JSON::PP::true() });
like $r->content, qr/\[DONE\]/, 'a complete stream';
(undef, $j) = adm('GET', "/v1/workspaces/$WS/memory/$S");
is $j->{session_turns}, 3, 'the complete stream added its turn';

# DELETE forgets
($r, $j) = adm('DELETE', "/v1/workspaces/$WS/memory/$S");
is $r->code, 200, 'DELETE memory: 200';
ok $j->{deleted}, 'DELETE memory: deleted';
$r = say_to($b, '/session', $KA, 'inspect', 'Still there?', 'x-llmgw-session' => $S);
is roles_texts(sent($r)), 'user:Still there?', 'after DELETE node b sends nothing earlier';

# ---- the body's user names the conversation ---------------------------------
my $U = "user-$tag";
say_to($a, '/session', $KA, 'echo', 'Remember 42.', body => { user => $U });
$r = say_to($b, '/session', $KA, 'inspect', 'What number?', body => { user => $U });
is roles_texts(sent($r)), 'user:Remember 42. | assistant:Remember 42. | user:What number?',
   'user names the conversation when there is no x-llmgw-session';
is sent($r)->{user}, $U, 'user still goes upstream';

# no name, no memory
$r = say_to($a, '/session', $KA, 'inspect', 'anonymous');
is roles_texts(sent($r)), 'user:anonymous', 'without a name nothing is remembered';
unlike $r->header('x-llmgw') // '', qr/mem=/, 'without a name: no mem=';

# ---- a profile ------------------------------------------------------------------
my $ADA = "ada-$tag";
($r, $j) = adm('PUT', "/v1/workspaces/$WS/memory/$ADA", { profile => 'Ada prefers short answers in French.' });
is $r->code, 200, 'PUT profile: 200' or diag $r->content;
is $j->{profile}, 'Ada prefers short answers in French.', 'PUT profile: the profile';
($r, $j) = adm('PUT', "/v1/workspaces/$WS/memory/$ADA", { profile => 'x', extra => 1 });
is $r->code, 400, 'PUT profile with an unknown field: 400';
is $j->{error}{param}, 'extra', 'PUT profile: param names the field';
($r, $j) = adm('PUT', "/v1/workspaces/$WS/memory/$ADA", { profile => 5 });
is $j->{error}{param}, 'profile', 'PUT profile of a number: param profile';
$r = $b->post('/v1/chat/completions',
              { model => 'inspect', user => $ADA,
                messages => [ { role => 'system', content => 'Be nice.' }, { role => 'user', content => 'Hi' } ] },
              Authorization => "Bearer $KA", 'x-llmgw-memory' => 'profile');
is roles_texts(sent($r)), 'system:Be nice. | system:Ada prefers short answers in French. | user:Hi',
   'the profile reaches the model as a system message (node b)';
like $r->header('x-llmgw') // '', qr/; mem=profile/, 'x-llmgw says mem=profile';
$r = $b->post('/v1/chat/completions', { model => 'inspect', user => $ADA,
              messages => [ { role => 'user', content => 'Hi' } ] }, Authorization => "Bearer $KB",
              'x-llmgw-memory' => 'profile');
is roles_texts(sent($r)), 'user:Hi', 'another workspace does not get the profile';
adm('DELETE', "/v1/workspaces/$WS/memory/$ADA");
(undef, $j) = adm('GET', "/v1/workspaces/$WS/memory/$ADA");
is $j->{profile}, undef, 'DELETE erased the profile';
$r = $b->post('/v1/chat/completions', { model => 'inspect', user => $ADA,
              messages => [ { role => 'user', content => 'Hi' } ] }, Authorization => "Bearer $KA",
              'x-llmgw-memory' => 'profile');
is roles_texts(sent($r)), 'user:Hi', 'after DELETE no profile goes upstream';

# ---- the workspace policy's memory part (managed key) ------------------------------
($r, $j) = adm('POST', "/v1/workspaces/$WS/keys", { name => 'app' });
my $MK = $j->{key};
ok $MK, 'a managed key';
($r, $j) = adm('PUT', "/v1/billing/workspaces/$WS/context-quota-policy",
               { memory => { mode => 'session', max_turns => 2, ttl_seconds => 600 } });
is $r->code, 200, 'policy with memory session, max_turns 2' or diag $r->content;
my $PS = "policy-$tag";
for my $i (1 .. 3) {
    $r = say_to($a, '', $MK, 'echo', "turn $i", 'x-llmgw-session' => $PS);
}
like $r->header('x-llmgw') // '', qr/mem=session/, 'the policy turned memory on at /v1';
$r = say_to($a, '', $MK, 'inspect', 'turn 4', 'x-llmgw-session' => $PS);
is roles_texts(sent($r)), 'user:turn 2 | assistant:turn 2 | user:turn 3 | assistant:turn 3 | user:turn 4',
   'max_turns 2: the two latest turns only';
adm('PUT', "/v1/billing/workspaces/$WS/context-quota-policy", {});

# ---- memory and the cache ------------------------------------------------------------
my $CS = "cached-$tag";
$r = say_to($a, '/cached', $KA, 'inspect', "hello $tag", 'x-llmgw-session' => $CS);
is $r->header('x-cache-status'), 'MISS', 'cached location, first turn: MISS';
$r = say_to($b, '/cached', $KA, 'inspect', "hello $tag", 'x-llmgw-session' => $CS);
is $r->header('x-cache-status'), 'MISS',
   'the same text again in the session: MISS (what is sent holds the first turn)';
is scalar(@{ sent($r)->{messages} // [] }), 3, 'and its answer saw the earlier turn';
$r = say_to($b, '/cached', $KA, 'inspect', "hello $tag", 'x-llmgw-session' => "fresh-$tag");
is $r->header('x-cache-status'), 'HIT', 'a fresh session sending the same first turn: HIT';

# ---- the Messages API -------------------------------------------------------------------
my $MS = "msg-$tag";
$r = $a->post('/ant/v1/messages', { model => 'mock/echo', max_tokens => 50,
              messages => [ { role => 'user', content => 'Anthropic says hi.' } ] },
              'x-api-key' => $KA, 'x-llmgw-session' => $MS);
is $r->code, 200, 'Messages API: 200' or diag $r->content;
$r = $b->post('/ant/v1/messages', { model => 'mock/inspect', max_tokens => 50, system => 'Sys.',
              messages => [ { role => 'user', content => 'Again?' } ] },
              'x-api-key' => $KA, 'x-llmgw-session' => $MS);
is roles_texts(sent($r)), 'system:Sys. | user:Anthropic says hi. | assistant:Anthropic says hi. | user:Again?',
   'Messages API: the earlier turn went upstream (as Chat, after the system prompt)';
like $r->header('x-llmgw') // '', qr/mem=session/, 'Messages API: mem=session';

# ---- the Responses API ------------------------------------------------------------------
# a streamed first turn (remembered from the Responses event stream), a
# string input, then an items input on the other node
my $RS = "resp-$tag";
$r = $a->post('/ant/v1/responses', { model => 'mock/echo', input => 'Responses says hi.', stream => JSON::PP::true },
              Authorization => "Bearer $KA", 'x-llmgw-session' => $RS);
is $r->code, 200, 'Responses API, streamed: 200' or diag $r->content;
like $r->content, qr/response\.completed/, '... a complete Responses event stream';
$r = $b->post('/ant/v1/responses', { model => 'mock/inspect', instructions => 'Sys.', store => JSON::PP::false,
              input => [ { role => 'user', content => [ { type => 'input_text', text => 'Again?' } ] } ] },
              Authorization => "Bearer $KA", 'x-llmgw-session' => $RS);
is $r->code, 200, 'Responses API, items: 200' or diag $r->content;
is roles_texts(sent($r)), 'system:Sys. | user:Responses says hi. | assistant:Responses says hi. | user:[{"text":"Again?","type":"text"}]',
   'Responses API: the earlier turn went upstream (after the instructions)';
like $r->header('x-llmgw') // '', qr/mem=session/, 'Responses API: mem=session';
$r = $a->post('/ant/v1/responses', { model => 'mock/inspect', input => 'Third.', store => JSON::PP::false },
              Authorization => "Bearer $KA", 'x-llmgw-session' => $RS);
like roles_texts(sent($r)), qr/^user:Responses says hi\. \| assistant:Responses says hi\. \| user:Again\? \| assistant:.+ \| user:Third\.$/,
   'Responses API: the second turn was remembered too (its answer as text)';

$a->stop;
$b->stop;
unlike $a->log_text . $b->log_text, qr/\[llmgw[a-z_]*:(error|crit)\]/, 'no error logged';
