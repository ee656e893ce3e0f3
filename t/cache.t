# mod_llmgw_cache on the Apache::Test server (default shm store): MISS then
# HIT with one upstream call, key canonicalisation, tenant isolation,
# Cache-Control no-store / no-cache, errors never cached, fallbacks stored
# under the model that answered, size cap, TTL expiry, x-cache-status on
# every response, embeddings, and parallel hits. Streams: t/cache_stream.t;
# memcached nodes: t/cache_nodes.t.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use LLMGW::Test;
use IO::Handle ();

plan tests => 86, need_module('llmgw'), need_module('llmgw_cache');

my $nonce = "$$-" . time;
my $C = '/cache/v1/chat/completions';
my $n = 0;
sub prompt { "cache test " . ++$n . " ($nonce) caf\x{e9}" }
sub upstream { mock_stats()->{requests} }

mock_reset();

# ---- MISS then HIT ---------------------------------------------------------
{
    my $body = chat_body('echo', prompt(), temperature => 0.5);
    my $r1 = post_json($C, $body);
    is $r1->code, 200, 'first: 200' or diag $r1->content;
    is $r1->header('x-cache-status'), 'MISS', 'first: MISS';
    is $r1->header('Cache-Status'), 'llmgw; fwd=uri-miss', 'first: Cache-Status fwd=uri-miss';
    ok !defined $r1->header('Age'), 'first: no Age';
    is upstream(), 1, 'first: one upstream call';

    my $r2 = post_json($C, $body);
    is $r2->code, 200, 'second: 200';
    is $r2->header('x-cache-status'), 'HIT', 'second: HIT';
    is $r2->content, $r1->content, 'second: byte-identical body';
    like $r2->header('Content-Type') // '', qr{^application/json}, 'second: JSON';
    like $r2->header('Cache-Status') // '', qr/^llmgw; hit; ttl=(\d+)$/, 'second: Cache-Status hit; ttl';
    my ($ttl) = ($r2->header('Cache-Status') // '') =~ /ttl=(\d+)/;
    ok defined $ttl && $ttl > 3500 && $ttl <= 3600, 'second: ttl from LLMGWCacheTTL default';
    like $r2->header('Age') // '', qr/^\d+$/, 'second: Age';
    is upstream(), 1, 'second: no upstream call';
    is $r2->header('x-tokens-prompt'), $r1->header('x-tokens-prompt'), 'second: x-tokens-prompt as stored';
    is $r2->header('x-tokens-completion'), $r1->header('x-tokens-completion'), 'second: x-tokens-completion';
    is $r2->header('x-provider'), 'mock', 'second: x-provider';
    like $r2->header('x-llmgw') // '', qr/^route=mock:echo; cache=exact;/, 'second: x-llmgw cache=exact';
    like $r2->header('x-request-id') // '', uuid_re, 'second: own x-request-id';
    isnt $r2->header('x-request-id'), $r1->header('x-request-id'), 'second: new request id';

    # ---- canonical key: order, whitespace, provider prefix
    my $raw = qq({\n  "temperature" : 0.5 ,\n  "messages":[ {"content":)
            . $JSON->encode($body->{messages}[0]{content})
            . qq(, "role":"user"} ],\n  "model" : "mock/echo"\n}\n);
    my $r3 = post_json($C, $raw);
    is $r3->header('x-cache-status'), 'HIT', 'reordered, spaced, provider/model: HIT';
    is $r3->content, $r1->content, 'reordered: same body';
    my $r3b = post_json($C, { %$body, temperature => 0.50, stream => JSON::PP::false() });
    is $r3b->header('x-cache-status'), 'HIT', 'stream:false (framing only): HIT';

    my $r4 = post_json($C, { %$body, temperature => 0.7 });
    is $r4->header('x-cache-status'), 'MISS', 'other temperature: MISS';
    isnt $r4->content, $r1->content, 'other temperature: fresh body';
    is upstream(), 2, 'other temperature: upstream called';

    # other mount, same cache config? /cache-off does not use it
    my $r5 = post_json('/cache-off/v1/chat/completions', $body);
    ok !defined $r5->header('x-cache-status'), 'LLMGWCache Off: no x-cache-status (no cache there)';
    is upstream(), 3, 'LLMGWCache Off: upstream called';
}

# ---- tenant isolation ---------------------------------------------------------
{
    my $body = chat_body('echo', prompt());
    my $a1 = post_json($C, $body, Authorization => 'Bearer client-key-a');
    is $a1->header('x-cache-status'), 'MISS', 'key a: MISS';
    my $a2 = post_json($C, $body, Authorization => 'Bearer client-key-a');
    is $a2->header('x-cache-status'), 'HIT', 'key a again: HIT';
    my $a3 = post_json($C, $body, 'x-api-key' => 'client-key-a');
    is $a3->header('x-cache-status'), 'HIT', 'key a as x-api-key: HIT';
    my $b1 = post_json($C, $body, Authorization => 'Bearer client-key-b');
    is $b1->header('x-cache-status'), 'MISS', 'key b: MISS (not a\'s entry)';
    isnt $b1->content, $a1->content, 'key b: own answer';
    my $anon = post_json($C, $body);
    is $anon->header('x-cache-status'), 'MISS', 'no key: MISS';
    my $b2 = post_json($C, $body, Authorization => 'Bearer client-key-b');
    is $b2->content, $b1->content, 'key b again: b\'s answer';
}

# ---- Cache-Control -----------------------------------------------------------
{
    my $body = chat_body('echo', prompt());
    my $u0 = upstream();
    my $s1 = post_json($C, $body, 'Cache-Control' => 'no-store');
    is $s1->code, 200, 'no-store: 200';
    is $s1->header('x-cache-status'), 'BYPASS', 'no-store: BYPASS';
    is $s1->header('Cache-Status'), 'llmgw; fwd=bypass', 'no-store: Cache-Status fwd=bypass';
    my $s2 = post_json($C, $body);
    is $s2->header('x-cache-status'), 'MISS', 'after no-store: MISS (nothing was written)';
    my $s3 = post_json($C, $body, 'Cache-Control' => 'max-age=0, No-Store');
    is $s3->header('x-cache-status'), 'BYPASS', 'no-store in a list: BYPASS (no read)';
    isnt $s3->content, $s2->content, 'no-store: fresh answer';
    is upstream(), $u0 + 3, 'no-store: every request went upstream';

    my $c1 = post_json($C, $body, 'Cache-Control' => 'no-cache');
    is $c1->header('x-cache-status'), 'BYPASS', 'no-cache: BYPASS';
    isnt $c1->content, $s2->content, 'no-cache: fresh answer';
    is upstream(), $u0 + 4, 'no-cache: went upstream';
    my $c2 = post_json($C, $body);
    is $c2->header('x-cache-status'), 'HIT', 'after no-cache: HIT';
    is $c2->content, $c1->content, 'no-cache refreshed the entry';
    my $c3 = post_json($C, $body, Pragma => 'no-cache');
    is $c3->header('x-cache-status'), 'BYPASS', 'Pragma: no-cache: BYPASS';
}

# ---- errors are never cached; fallbacks stored under the answering model ------
{
    my $body = chat_body('error-500', prompt());
    my $u0 = upstream();
    my $e1 = post_json($C, $body);
    is $e1->code, 502, 'upstream 500: 502';
    is $e1->header('x-cache-status'), 'MISS', 'error: x-cache-status MISS';
    my $u1 = upstream();
    ok $u1 > $u0, 'error: upstream called';
    my $e2 = post_json($C, $body);
    is $e2->code, 502, 'error again: 502 (not cached)';
    is $e2->header('x-cache-status'), 'MISS', 'error again: MISS';
    ok upstream() > $u1, 'error again: upstream called';

    my $bad = post_json($C, '{"model":"echo","messages":[');
    is $bad->code, 400, 'bad JSON: 400';
    is $bad->header('x-cache-status'), 'BYPASS', 'bad JSON: x-cache-status BYPASS';

    my $text = prompt();
    my $f2 = post_json($C, { model => 'error-503', models => ['error-503', 'echo'],
                             messages => [ { role => 'user', content => $text } ] });
    is $f2->code, 200, 'fallback after 503: 200' or diag $f2->content;
    like $f2->header('x-llmgw') // '', qr/route=mock:echo/, 'fallback: answered by echo';
    my $f3 = post_json($C, chat_body('echo', $text));
    is $f3->header('x-cache-status'), 'HIT', 'plain echo request: HIT on the fallback\'s entry';
    is $f3->content, $f2->content, 'plain echo request: the fallback\'s answer';
}

# ---- size cap ---------------------------------------------------------------
{
    my $big = chat_body('echo', prompt() . ' ' . ('x' x 400));
    my $m1 = post_json('/cache-small/v1/chat/completions', $big);
    is $m1->code, 200, 'over LLMGWCacheMaxEntry: 200';
    is $m1->header('x-cache-status'), 'MISS', 'over LLMGWCacheMaxEntry: MISS';
    my $m2 = post_json('/cache-small/v1/chat/completions', $big);
    is $m2->header('x-cache-status'), 'MISS', 'over LLMGWCacheMaxEntry: not stored';
    is $m2->code, 200, 'over LLMGWCacheMaxEntry again: 200';
}

# ---- TTL --------------------------------------------------------------------
{
    my $body = chat_body('echo', prompt());
    my $p = '/cache-short/v1/chat/completions';
    my $t1 = post_json($p, $body);
    is $t1->header('x-cache-status'), 'MISS', 'ttl 2: MISS';
    my $t2 = post_json($p, $body);
    is $t2->header('x-cache-status'), 'HIT', 'ttl 2: HIT';
    like $t2->header('Cache-Status') // '', qr/^llmgw; hit; ttl=[12]$/, 'ttl 2: ttl=1..2';
    # the entry expires after 2 s: ask until it is a MISS (at most 10 s)
    my $t3;
    wait_for(sub {
        $t3 = post_json($p, $body);
        ($t3->header('x-cache-status') // '') eq 'MISS';
    }, 10, 0.2);
    is $t3->header('x-cache-status'), 'MISS', 'ttl 2, once expired: MISS';
    isnt $t3->content, $t1->content, 'ttl 2, once expired: fresh answer';
}

# ---- embeddings ---------------------------------------------------------------
{
    my $body = { model => 'echo', input => [ prompt(), 'second' ] };
    my $u0 = upstream();
    my $e1 = post_json('/cache/v1/embeddings', $body);
    is $e1->code, 200, 'embeddings: 200' or diag $e1->content;
    is $e1->header('x-cache-status'), 'MISS', 'embeddings: MISS';
    my $e2 = post_json('/cache/v1/embeddings', $body);
    is $e2->header('x-cache-status'), 'HIT', 'embeddings: HIT';
    is $e2->content, $e1->content, 'embeddings: same body';
    is upstream(), $u0 + 1, 'embeddings: one upstream call';
    my $e3 = post_json('/cache/v1/chat/completions', chat_body('echo', $body->{input}[0]));
    is $e3->header('x-cache-status'), 'MISS', 'embeddings entry is not a chat entry';
}

# ---- x-cache-status on every gateway response ---------------------------------
{
    my $m = gw_request('GET', '/cache/v1/models');
    is $m->code, 200, 'models: 200';
    is $m->header('x-cache-status'), 'BYPASS', 'models: BYPASS';
    my $nf = post_json('/cache/v1/nothing/here', {});
    is $nf->code, 404, 'unknown route: 404';
    is $nf->header('x-cache-status'), 'BYPASS', 'unknown route: BYPASS';
    my $v1 = post_json('/v1/chat/completions', chat_body('echo', prompt()));
    ok !defined $v1->header('x-cache-status'), 'mount without LLMGWCache: no x-cache-status';
    my $unk = post_json($C, chat_body('nosuch/model', 'x'));
    ok $unk->code >= 400 && $unk->code < 500, 'unknown provider: 4xx';
    is $unk->header('x-cache-status'), 'BYPASS', 'unknown provider: BYPASS';
    my $h = gw_request('GET', '/health');
    ok !defined $h->header('x-cache-status'), 'health handler: no x-cache-status';
}

# ---- many parallel hits through several children (shm store) -------------------
{
    my $body = chat_body('echo', prompt());
    my $first = post_json($C, $body);
    is $first->header('x-cache-status'), 'MISS', 'parallel: primed (MISS)';
    my $u0 = upstream();
    my $url = Apache::TestRequest::resolve_url($C);
    my $json = $JSON->encode($body);
    my (@kids, %got);
    for my $k (1 .. 8) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $rd;
            my $ua = LWP::UserAgent->new(timeout => 20, keep_alive => 0);
            for (1 .. 5) {
                my $req = HTTP::Request->new(POST => $url);
                $req->header('Content-Type' => 'application/json');
                $req->content($json);
                my $res = $ua->request($req);
                my $same = ($res->content // '') eq $first->content ? 'same' : 'diff';
                print $wr join(' ', $res->code, $res->header('x-cache-status') // '-', $same), "\n";
            }
            close $wr;
            require POSIX;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    for my $k (@kids) {
        my $fh = $k->[1];
        while (my $l = <$fh>) { chomp $l; $got{$l}++ }
        waitpid $k->[0], 0;
    }
    is_deeply \%got, { '200 HIT same' => 40 }, 'parallel: 40 hits, all 200 with the stored body'
        or diag explain \%got;
    is upstream(), $u0, 'parallel: no upstream call';
}

no_key_leak();
