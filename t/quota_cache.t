# mod_llmgw_quota with mod_llmgw_cache in one location (/qc/v1): a cache hit
# counts cache_hit_weight (0.1) of a request against the monthly quota, and
# cache entries are scoped to the workspace of the gateway key.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

unless (Apache::Test::need_module('llmgw', 'llmgw_quota', 'llmgw_cache')) {
    print "1..0 # skipped: mod_llmgw, mod_llmgw_cache and mod_llmgw_quota are needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $QC = '/qc/v1/chat/completions';
my @auth = (Authorization => 'Bearer sk-q-cache');
my $body = chat_body('mock/echo', "cached quota $$");

# /api/usage once $n requests are settled (counted last)
sub usage {
    my $n = shift;
    my $u;
    wait_for(sub {
        $u = dec(gw_request('GET', '/api/usage', undef, @auth)) // {};
        ($u->{requests} // 0) >= $n;
    });
    return $u;
}

my $before = mock_stats()->{requests};
my $miss = post_json($QC, $body, @auth);
is $miss->code, 200, 'first request: 200';
is $miss->header('x-cache-status'), 'MISS', 'first request: MISS';
is usage(1)->{used}, 1, 'a miss counts one request';

my @hits = map { post_json($QC, $body, @auth) } 1 .. 3;
is_deeply [ map { $_->code } @hits ], [ 200, 200, 200 ], 'three more: 200';
is_deeply [ map { $_->header('x-cache-status') // 'none' } @hits ], [ qw(HIT HIT HIT) ],
    'three more: HIT';
is mock_stats()->{requests} - $before, 1, 'only the miss went upstream';
ok defined $hits[0]->header('x-quota-remaining'), 'a hit carries x-quota-remaining';

my $u = usage(4);
ok abs(($u->{used} // 0) - 1.3) < 1e-9, "1 miss + 3 hits = 1.3 requests used (got $u->{used})";
ok abs(($u->{remaining} // 0) - 98.7) < 1e-9, "remaining 98.7 (got $u->{remaining})";
is $u->{requests}, 4, 'requests counts every answered request';
my $qc = dec(gw_request('GET', '/api/quota-check', undef, @auth));
ok abs(($qc->{used} // 0) - 1.3) < 1e-9, 'quota-check: used 1.3';

# another workspace does not get this workspace's cached answer
my $other = post_json($QC, $body, Authorization => 'Bearer sk-q-basic');
is $other->code, 200, 'another workspace: 200';
is $other->header('x-cache-status'), 'MISS', 'another workspace: MISS (entries are per workspace)';

done_testing();
