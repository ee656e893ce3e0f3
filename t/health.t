# llmgw-health (TensorCortex's shape): {"status","service","version",
# "environment","timestamp","store","providers":{NAME:{"circuit"}}}; 503 "degraded" when the shared store
# cannot be reached, so that a load balancer stops sending traffic.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;
use LLMGW::Node;

plan tests => 20, need_module('llmgw');

{
    my $res = gw_request('GET', '/health');
    is $res->code, 200, 'health: 200';
    like $res->header('Content-Type') // '', qr{^application/json}i, 'health: JSON';
    my $j = dec($res) // {};
    is $j->{status}, 'healthy', 'status healthy';
    is $j->{service}, 'llmgw', 'service';
    ok defined $j->{version} && !ref $j->{version} && length $j->{version}, 'version';
    is $j->{environment}, 'testing', 'environment from LLMGWEnvironment';
    like $j->{timestamp} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'timestamp: RFC 3339 UTC';
    is $j->{store}{status}, 'ok', 'store ok';
    is_deeply $j->{providers}{mock}, { circuit => 'closed' }, 'providers: mock, circuit closed';
    ok ref $j->{providers}{mockant} eq 'HASH' && ref $j->{providers}{dead} eq 'HASH',
       'providers: every configured provider is listed';
    ok !grep({ ($_->{circuit} // '') !~ /^(closed|open|half_open)$/ } values %{ $j->{providers} }),
       'providers: circuit is closed, open or half_open';
    is $j->{providers}{bal2}{circuit}, 'closed', 'providers: bal2 (LLMGWCircuit) closed';
}

# a node whose memcached is not there: degraded, 503
{
    my $port = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)->sockport;
    # nothing listens once the probe socket is closed
    my $node = LLMGW::Node->start(name => 'health-dead-mc', store => "memcached://127.0.0.1:$port");
    my $res = $node->get('/health');
    is $res->code, 503, 'store unreachable: 503';
    my $j = dec($res) // {};
    is $j->{status}, 'degraded', 'store unreachable: degraded';
    isnt $j->{store}{status}, 'ok', 'store unreachable: the store says why';
    is $j->{environment}, 'production', 'default environment: production';
    like $j->{timestamp} // '', qr/Z$/, 'degraded: timestamp';
    $node->stop;

    $node = LLMGW::Node->start(name => 'health-mc');
    $res = $node->get('/health');
    is $res->code, 200, 'memcached up: 200';
    is((dec($res) // {})->{status}, 'healthy', 'memcached up: healthy');
    is((dec($res) // {})->{store}{kind}, 'memcached', 'memcached up: kind');
    $node->stop;
}
