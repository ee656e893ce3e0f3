# Weighted balancing (LLMGWModelAlias ALIAS T1 weight=N T2 weight=N...): the
# first try is picked by weight per request (from the request id, so that
# every child and every node spreads the same way, not a per-child counter),
# the other targets are fallbacks in weight order. Aliases `balanced`
# (bal1 3 : bal2 1) and `balfb` (dead 3, bal2 2, bal1 1): the issue 14
# section of t/conf/extra.conf.in.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LWP::UserAgent ();
use HTTP::Request ();
use Apache::TestRequest ();
use LLMGW::Test;

plan tests => 12, need_module('llmgw');

my $CC = '/v1/chat/completions';
sub by_path { (mock_stats()->{by_path} // {})->{ $_[0] } // 0 }

# ---- 3:1 over 1000 requests ----------------------------------------------
mock_reset();
my %prov;
my $n = 1000;
for (1 .. $n) {
    my $res = post_json($CC, chat_body('balanced', 'x'));
    $prov{ $res->code == 200 ? $res->header('x-provider') // '?' : 'error' }++;
}
my ($a, $b) = ($prov{bal1} // 0, $prov{bal2} // 0);
is $a + $b, $n, "every request answered by bal1 or bal2 ($a + $b)";
my $ratio = $b ? $a / $b : 0;
# 3:1 expected; 2.2..4.0 is more than 3.5 standard deviations either way
ok $ratio >= 2.2 && $ratio <= 4.0, sprintf('weights 3:1 give %.2f:1 (%d:%d)', $ratio, $a, $b);
is by_path('/bal1/v1/chat/completions'), $a, 'the mock saw bal1 as often';
is by_path('/bal2/v1/chat/completions'), $b, 'the mock saw bal2 as often';

# ---- each child spreads: the first request of new connections ------------
{
    my %first;
    my $url = Apache::TestRequest::resolve_url($CC);
    for (1 .. 60) {
        my $ua = LWP::UserAgent->new(timeout => 10, keep_alive => 0);
        my $req = HTTP::Request->new(POST => $url);
        $req->header('Content-Type' => 'application/json');
        $req->content($JSON->encode(chat_body('balanced', 'x')));
        $first{ $ua->request($req)->header('x-provider') // '?' }++;
    }
    ok $first{bal1} && $first{bal2},
        sprintf('first requests of 60 connections reach both (bal1 %d, bal2 %d)',
                $first{bal1} // 0, $first{bal2} // 0);
}

# ---- the others are fallbacks in weight order ----------------------------
{
    my (%route, $fell);
    for (1 .. 120) {
        my $res = post_json($CC, chat_body('balfb', 'x'));
        my $x = $res->header('x-llmgw') // '';
        $route{$x}++;
        $fell++ if $x =~ /attempts=2/;
    }
    my @routes = sort keys %route;
    ok $fell, "some first picks were the dead target ($fell of 120)";
    is $route{'route=bal2:fb-heavy; cache=none; attempts=2'} // 0, $fell,
        'a dead first pick falls back to the next heaviest target';
    ok !grep({ /attempts=[3-9]/ } @routes), 'never a third attempt';
    ok $route{'route=bal2:fb-heavy; cache=none; attempts=1'},
        'bal2 (weight 2) is picked first too';
    ok $route{'route=bal1:fb-light; cache=none; attempts=1'},
        'bal1 (weight 1) is picked first too';
}

# ---- a balanced alias behind a router, and no router headers for aliases --
{
    my $res = post_json($CC, chat_body('balanced', 'x'));
    ok !defined $res->header('x-llmgw-rule'), 'an alias is not a router: no x-llmgw-rule';
    $res = post_json($CC, chat_body('hpprouter/auto', 'y' x 1000));
    like $res->header('x-llmgw-resolved-model') // '', qr{^bal[12]/(heavy|light)$},
        'a router target may be a balanced alias';
}
