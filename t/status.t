# mod_status: the gateway's counters in server-status (the status_hook, as
# mod_proxy_balancer and mod_cache do), in the HTML page and in ?auto.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;
use LLMGW::Node;

plan tests => 10, need_module('llmgw');

my $node = LLMGW::Node->start(name => 'status', store => 'shm', conf => <<'EOF_CONF');
LoadModule status_module /usr/lib/apache2/modules/mod_status.so
LLMGWPrice mock/priced 1000 1000
<Location /server-status>
    SetHandler server-status
</Location>
<Location /c/v1>
    SetHandler llmgw
    LLMGWCache On
</Location>
EOF_CONF

my $cb = chat_body('mock/priced', "status $$");
is $node->post('/c/v1/chat/completions', $cb)->code, 200, 'a miss';
is $node->post('/c/v1/chat/completions', $cb)->code, 200, 'a hit';
my $u = dec($node->post('/v1/chat/completions', chat_body('mock/priced', 'status two')))->{usage};

my $auto = $node->get('/server-status?auto');
is $auto->code, 200, 'server-status?auto: 200';
my %kv = map { /^([^:]+):\s*(.*)$/ ? ($1 => $2) : () } split /\n/, $auto->content // '';
is $kv{LLMGWRequests}, 3, '?auto: LLMGWRequests 3';
is $kv{LLMGWCacheHits}, 1, '?auto: LLMGWCacheHits 1';
is $kv{LLMGWCacheMisses}, 1, '?auto: LLMGWCacheMisses 1';
ok(($kv{LLMGWCompletionTokens} // 0) >= $u->{completion_tokens}, '?auto: completion tokens counted');
ok(($kv{LLMGWCostUSD} // 0) > 0, '?auto: LLMGWCostUSD');
is $kv{LLMGWStreamsActive}, 0, '?auto: LLMGWStreamsActive 0';

my $html = $node->get('/server-status')->content // '';
like $html, qr{<h1>llmgw gateway</h1>.*<td>Gateway requests</td><td>3</td>}s, 'the HTML page has the gateway table';
$node->stop;
