# The semantic cache (issue 15, SPEC "Semantic cache") on two nodes sharing
# memcached (LLMGW::Node), with the mock's embeddings chosen by the test:
# an input holding "[vec:X,Y,...]" is embedded as that vector, so the
# cosine of two questions is what the test wrote. A paraphrase stored by
# node a is a hit on node b (JSON and SSE) with Cache-Status detail=semantic,
# x-cache-similarity and x-llmgw cache=semantic; an unrelated question, a
# different system prompt, model or workspace is not; one embedding call
# per miss, none charged to the client (hits count cache_hit_weight); a dead
# embedder is a plain miss, never an error; Cache-Control: no-cache skips
# it; an embedder naming no provider fails httpd -t naming the directive.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;
use LLMGW::Node;
use JSON::PP ();

plan tests => 60, need_module('llmgw'), need_module('llmgw_cache'),
    need_module('llmgw_quota');

my $tag = "$$" . time;
my $P = '/v1/chat/completions';
my $KA = "sk-sem-a-$tag";
my $KB = "sk-sem-b-$tag";
my $EMB = "embed-$tag";

my $conf = <<"EOF";
LLMGWProvider deadembed openai http://127.0.0.1:9/v1
LLMGWProvider mockgem gemini http://127.0.0.1:$ENV{LLMGW_MOCK_PORT}/v1beta key=env:LLMGW_TEST_PROVIDER_KEY
AllowEncodedSlashes NoDecode
LLMGWPlan semplan requests_month=1000 cache_hit_weight=0.1
LLMGWKey $KA workspace=sem-a-$tag plan=semplan
LLMGWKey $KB workspace=sem-b-$tag plan=semplan
LLMGWCache On
LLMGWSemanticCache On
LLMGWSemanticEmbedder mock/$EMB
LLMGWSemanticThreshold 0.9
<Location /v1>
    LLMGWQuota On
</Location>
<Location /down/v1>
    SetHandler llmgw
    LLMGWQuota On
    LLMGWSemanticEmbedder deadembed/some-model
</Location>
<Location /api/usage>
    SetHandler llmgw-usage
    LLMGWQuota On
</Location>
<Location /metrics>
    SetHandler llmgw-metrics
</Location>
EOF

my $a = LLMGW::Node->start(name => 'sem-a', conf => $conf);
my $b = LLMGW::Node->start(name => 'sem-b', conf => $conf);

sub embeds { (mock_stats()->{by_model} // {})->{$EMB} // 0 }
sub chats  { (mock_stats()->{by_model} // {})->{echo} // 0 }
sub ask { my ($text, %x) = @_; chat_body('echo', "$text ($tag)", %x) }
sub content { my $j = dec(shift) // {}; $j->{choices}[0]{message}{content} }

# ---- a paraphrase on another node ------------------------------------------
my $e0 = embeds();
my $c0 = chats();
my $q1 = ask('What is the capital of France? [vec:1,0,0.1]');
my $r1 = $a->post($P, $q1, Authorization => "Bearer $KA");
is $r1->code, 200, 'first question: 200' or diag $r1->content;
is $r1->header('x-cache-status'), 'MISS', 'first question: MISS';
like $r1->header('x-llmgw') // '', qr/cache=semantic/, 'x-llmgw says cache=semantic';
is embeds(), $e0 + 1, 'a miss costs one embedding call';
is chats(), $c0 + 1, 'and one chat call';

my $para = ask('Tell me the capital city of France [vec:0.98,0.05,0.12]');
my $r2 = $b->post($P, $para, Authorization => "Bearer $KA");
is $r2->code, 200, 'paraphrase on node b: 200';
is $r2->header('x-cache-status'), 'HIT', 'paraphrase on node b: HIT';
like $r2->header('Cache-Status') // '', qr/^llmgw; hit; ttl=\d+; detail=semantic$/,
    'Cache-Status detail=semantic';
like $r2->header('x-llmgw') // '', qr/cache=semantic/, 'hit: x-llmgw cache=semantic';
my $sim = $r2->header('x-cache-similarity') // '';
like $sim, qr/^0\.9\d{3}$/, "x-cache-similarity $sim";
my $expect = (0.98 + 0.012) / sqrt(1.01 * (0.98**2 + 0.05**2 + 0.12**2));
ok abs($sim - $expect) < 0.0002, "similarity is the cosine of the two vectors ($expect)";
is content($r2), content($r1), 'the stored answer to the first question';
is chats(), $c0 + 1, 'no chat call for the hit';
is embeds(), $e0 + 2, 'one embedding call for the lookup';

# the same paraphrase as a stream: an SSE replay of the stored answer
my $s = $b->post($P, ask('Tell me the capital city of France [vec:0.98,0.05,0.12]',
                       stream => JSON::PP::true()), Authorization => "Bearer $KA");
is $s->header('x-cache-status'), 'HIT', 'stream: HIT';
like $s->header('Content-Type') // '', qr{^text/event-stream}, 'stream: SSE';
my @ev = sse_events($s->content);
is $ev[-1], '[DONE]', 'stream: ends with [DONE]';
like $s->content, qr/capital of France/, 'stream: the stored answer';

# ---- the Responses API and Gemini's own format ---------------------------------
# a string input stored on node a; the paraphrase as an input item on node b
{
    my $r = $a->post('/v1/responses', { model => 'echo', store => JSON::PP::false(),
                     input => "How hot does water boil? [vec:0,0.1,1] ($tag)" }, Authorization => "Bearer $KA");
    is $r->header('x-cache-status'), 'MISS', 'Responses API: first question MISS';
    my $h = $b->post('/v1/responses', { model => 'echo', store => JSON::PP::false(),
                     input => [ { role => 'user', content => [ { type => 'input_text',
                                  text => "At what temperature does water boil? [vec:0.02,0.12,0.99] ($tag)" } ] } ] },
                     Authorization => "Bearer $KA");
    is $h->header('x-cache-status'), 'HIT', 'Responses API: the paraphrase as an item on node b: HIT';
    like $h->header('Cache-Status') // '', qr/detail=semantic/, '... detail=semantic';
    like $h->content, qr/How hot does water boil/, '... the stored answer (a response object)';
    like $h->content, qr/"object":"response"/, '... in the Responses shape';

    my $g = { contents => [ { role => 'user', parts => [ { text => "Name a red fruit [vec:1,1,0] ($tag)" } ] } ] };
    $r = $a->post('/v1/models/mockgem%2Fecho:generateContent', $g, Authorization => "Bearer $KA");
    is $r->code, 200, 'Gemini format: 200' or diag $r->content;
    is $r->header('x-cache-status'), 'MISS', 'Gemini format: MISS';
    $g->{contents}[0]{parts}[0]{text} = "Which fruit is red? [vec:0.97,1,0.05] ($tag)";
    $h = $b->post('/v1/models/mockgem%2Fecho:generateContent', $g, Authorization => "Bearer $KA");
    is $h->header('x-cache-status'), 'HIT', 'Gemini format: the paraphrase on node b: HIT';
    like $h->content, qr/Name a red fruit/, '... the stored answer';
    like $h->content, qr/"candidates"/, '... in the Gemini shape';
}

# ---- what is not a hit -----------------------------------------------------
my $far = $a->post($P, ask('How tall is Mont Blanc? [vec:0,1,0]'), Authorization => "Bearer $KA");
is $far->header('x-cache-status'), 'MISS', 'an unrelated question: MISS';
is content($far), "How tall is Mont Blanc? [vec:0,1,0] ($tag)", 'its own answer';

my $sys = { model => 'echo', messages => [
    { role => 'system', content => 'You are a pirate.' },
    { role => 'user', content => "Tell me the capital city of France [vec:0.98,0.05,0.12] ($tag)" } ] };
my $rs = $b->post($P, $sys, Authorization => "Bearer $KA");
is $rs->header('x-cache-status'), 'MISS', 'another system prompt: MISS';

my $rm = $b->post($P, { %$para, model => 'echo-other' }, Authorization => "Bearer $KA");
is $rm->header('x-cache-status'), 'MISS', 'another model: MISS';

my $rt = $b->post($P, { %$para, temperature => 0.3 }, Authorization => "Bearer $KA");
is $rt->header('x-cache-status'), 'MISS', 'another parameter: MISS';

my $rw = $b->post($P, $para, Authorization => "Bearer $KB");
is $rw->header('x-cache-status'), 'MISS', 'another workspace: MISS';
is content($rw), "Tell me the capital city of France [vec:0.98,0.05,0.12] ($tag)",
    'another workspace: its own answer, never the other tenant\'s';

my $below = $a->post($P, ask('France, capital? [vec:0.8,0.6,0]'), Authorization => "Bearer $KA");
is $below->header('x-cache-status'), 'MISS', 'below the threshold (cosine 0.80): MISS';

# earlier turns are part of the context
my $turns = { model => 'echo', messages => [
    { role => 'user', content => 'hi' }, { role => 'assistant', content => 'hello' },
    { role => 'user', content => "What is the capital of France? [vec:1,0,0.1] ($tag)" } ] };
is $a->post($P, $turns, Authorization => "Bearer $KA")->header('x-cache-status'), 'MISS',
    'other earlier turns: MISS';
my $turns2 = { %$turns, messages => [ @{ $turns->{messages} }[0, 1],
    { role => 'user', content => "Capital of France, please [vec:0.99,0.01,0.1] ($tag)" } ] };
my $rt2 = $b->post($P, $turns2, Authorization => "Bearer $KA");
is $rt2->header('x-cache-status'), 'HIT', 'the same earlier turns, paraphrased last turn: HIT';
like content($rt2), qr/What is the capital of France/, 'the answer of that conversation';

# ---- Cache-Control: no-cache -----------------------------------------------
my $e1 = embeds();
my $nc = $b->post($P, $para, Authorization => "Bearer $KA", 'Cache-Control' => 'no-cache');
is $nc->header('x-cache-status'), 'BYPASS', 'no-cache: BYPASS';
is embeds(), $e1, 'no-cache: no embedding call';

# ---- the embedder down -----------------------------------------------------
my $dq = ask('Down embedder question [vec:1,1,1]');
my $d1 = $a->post('/down/v1/chat/completions', $dq, Authorization => "Bearer $KA");
is $d1->code, 200, 'embedder down: 200';
is $d1->header('x-cache-status'), 'MISS', 'embedder down: MISS';
my $d2 = $b->post('/down/v1/chat/completions', $dq, Authorization => "Bearer $KA");
is $d2->header('x-cache-status'), 'HIT', 'embedder down: the exact cache still answers';
unlike $d2->header('Cache-Status') // '', qr/semantic/, 'an exact hit says no detail=semantic';
like $d2->header('x-llmgw') // '', qr/cache=exact/, 'an exact hit: x-llmgw cache=exact';
my $d3 = $a->post('/down/v1/chat/completions', ask('Down embedder, paraphrased [vec:1,1,0.99]'),
                  Authorization => "Bearer $KA");
is $d3->code, 200, 'embedder down, a paraphrase: 200';
is $d3->header('x-cache-status'), 'MISS', 'embedder down, a paraphrase: MISS';

# ---- quota: hits weigh cache_hit_weight, embeddings nothing -----------------
{
    my $u = dec($a->get('/api/usage', Authorization => "Bearer $KA")) // {};
    # misses: q1, responses, gemini, far, sys, model, temperature, below,
    # turns, no-cache, d1, d3 = 12
    # hits: paraphrase, stream, responses, gemini, turns2, d2 = 6 x 0.1
    ok abs(($u->{used} // -1) - 12.6) < 1e-9, "workspace a used 12.6 requests (got "
        . ($u->{used} // 'none') . ')';
    my $ub = dec($b->get('/api/usage', Authorization => "Bearer $KB")) // {};
    is $ub->{used}, 1, 'workspace b used 1 request';
}

# ---- metrics -----------------------------------------------------------------
{
    my $m = $a->get('/metrics')->content . $b->get('/metrics')->content;
    my ($ok) = 0;
    $ok += $1 while $m =~ /^llmgw_embedding_calls_total\{result="ok"\} (\d+)$/mg;
    my $err = 0;
    $err += $1 while $m =~ /^llmgw_embedding_calls_total\{result="error"\} (\d+)$/mg;
    my $hit = 0;
    $hit += $1 while $m =~ /^llmgw_semantic_cache_total\{result="hit"\} (\d+)$/mg;
    is $ok, embeds() - $e0, "llmgw_embedding_calls_total ok counts every embedding ($ok)";
    is $err, 2, 'llmgw_embedding_calls_total error: the two dead-embedder lookups';
    is $hit, 5, 'llmgw_semantic_cache_total hit: 5 (chat twice, Responses, Gemini, turns)';
}

# ---- the index is bounded, and evicts the answers it points to -----------------
{
    my $ctx_sys = "Bucket test $tag";
    my @keys;
    for my $i (1 .. 34) {
        my $body = { model => 'echo', messages => [
            { role => 'system', content => $ctx_sys },
            { role => 'user', content => "item $i [vec:" . join(',', map { $_ == $i ? 1 : 0 } 1 .. 40) . ']' } ] };
        my $r = $a->post($P, $body, Authorization => "Bearer $KA");
        push @keys, $body;
        die 'bucket fill failed: ' . $r->code unless $r->code == 200;
    }
    my $newest = $keys[-1];
    my $p = { %$newest, messages => [ $newest->{messages}[0],
        { role => 'user', content => 'item 34 again [vec:' . join(',', map { $_ == 34 ? 1 : ($_ == 1 ? 0.1 : 0) } 1 .. 40) . ']' } ] };
    is $b->post($P, $p, Authorization => "Bearer $KA")->header('x-cache-status'), 'HIT',
        'a full bucket keeps its newest entries';
    my $oldest = $a->post($P, $keys[0], Authorization => "Bearer $KA");
    is $oldest->header('x-cache-status'), 'MISS',
        'the entry pushed out of its bucket (32 at most) was deleted with its answer';
}

$a->stop;
$b->stop;
unlike $a->log_text . $b->log_text, qr/\[llmgw[a-z_]*:(error|crit)\]/, 'no error logged';

# ---- configuration checks ----------------------------------------------------------
{
    my $httpd = $ENV{HTTPD} // '/usr/sbin/apache2';
    open my $fh, '<', $a->conf_file or die $!;
    local $/;
    my $base = <$fh>;
    close $fh;
    for my $case (['nosuch/model', qr/LLMGWSemanticEmbedder: no LLMGWProvider named 'nosuch'.* line \d+/],
                  ['no-slash', qr/LLMGWSemanticEmbedder: 'no-slash' is not PROVIDER\/MODEL/]) {
        my $f = $a->conf_file . ".bad";
        open my $o, '>', $f or die $!;
        print $o $base, "\nLLMGWSemanticEmbedder $case->[0]\n";
        close $o;
        my $out = `$httpd -t -f $f 2>&1`;
        isnt $?, 0, "httpd -t fails for LLMGWSemanticEmbedder $case->[0]";
        like $out, $case->[1], 'naming the directive' or diag $out;
    }
}
