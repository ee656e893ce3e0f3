# Upstream addresses are looked up once a minute per child process, not
# once per new upstream connection (mod_llmgw_resolve.c; README
# "Performance"). The mock's fault-reset model resets each connection at
# once, so every request needs a new one: the mock counts the connections
# it accepted, the node's error log (LogLevel llmgw:trace1) each lookup.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use JSON::PP ();
use LLMGW::Test;
use LLMGW::Node;

plan tests => 6, need_module('llmgw');

my $REQUESTS = 16;
my $node = LLMGW::Node->start(name => 'resolve', conf => <<'EOF');
LogLevel info llmgw:trace1
LLMGWRetries 0
EOF
ok $node, 'node started';

my $from = $node->log_size;
my $before = (mock_stats() // {})->{connections} // 0;
my $errors = 0;
for my $i (1 .. $REQUESTS) {
    my $res = $node->post('/v1/chat/completions',
                          chat_body('mock/fault-reset', "lookup $i"));
    $errors++ if $res->code >= 500;
}
is $errors, $REQUESTS, "$REQUESTS requests to an upstream that resets: each an error";
my $connections = ((mock_stats() // {})->{connections} // 0) - $before;
cmp_ok $connections, '>=', $REQUESTS, "each opened a new upstream connection ($connections)";

my %lookups;                                  # per child pid
open my $log, '<', $node->error_log or die $node->error_log . ": $!";
seek $log, $from, 0;
while (<$log>) {
    $lookups{$1}++ if /\[pid (\d+)[^\]]*\].*upstream address 127\.0\.0\.1:\d+ looked up/;
}
close $log;
my $total = 0;
$total += $_ for values %lookups;
cmp_ok $total, '>=', 1, "the address was looked up ($total times, "
                        . scalar(keys %lookups) . ' children)';
ok !(grep { $_ > 1 } values %lookups), 'at most once per child'
    or diag explain \%lookups;
cmp_ok $total, '<', $connections, 'fewer lookups than new connections';
$node->stop;
