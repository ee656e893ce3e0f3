# llmgw-health: GET answers {"status":"healthy","service":"llmgw","version":...}.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test;
use Apache::TestRequest qw(GET);
use JSON::PP ();

plan tests => 6, need_module('llmgw');

my $res = GET '/health';
ok $res->code == 200 or t_debug('status ' . $res->code);
ok(($res->header('Content-Type') // '') =~ m{^application/json}i);
my $j = eval { JSON::PP::decode_json($res->content) } || {};
ok $j->{status} eq 'healthy';
ok(($j->{service} // '') eq 'llmgw');
ok defined $j->{version} && !ref $j->{version} && length $j->{version};
ok !$res->is_error;
