# The official openai npm SDK against mod_llmgw_quota (t/sdk/quota.test.mjs):
# AuthenticationError, RateLimitError (retry-after, details), 402, and the
# x-ratelimit-* headers. One test per SDK check, plus: the script ran,
# printed its plan, and exited 0.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use Time::HiRes qw(time sleep);
use LLMGW::Test;

my $dir = "$FindBin::Bin/sdk";
unless (-d "$dir/node_modules/openai") {
    plan tests => 1, need_module('llmgw', 'llmgw_quota');
    fail "the openai SDK is not installed in $dir/node_modules (npm ci failed?)";
    exit;
}

# the rpm=1 check needs both of its requests in one minute
my $s = time - 60 * int(time / 60);
sleep(60.2 - $s) if $s > 50;

my $hostport = Apache::TestRequest::hostport();
$hostport =~ s/^localhost:/127.0.0.1:/;
local $ENV{LLMGW_BASE_URL} = "http://$hostport/q/v1";
my @out = `node "$dir/quota.test.mjs" 2>&1`;
my $status = $? >> 8;
chomp @out;
my ($n) = map { /^1\.\.(\d+)$/ ? $1 : () } @out;
my @res = grep { /^(not )?ok - / } @out;

plan tests => ($n // 0) + 2, need_module('llmgw', 'llmgw_quota');

ok defined $n && $n > 0 && @res == $n, 'the SDK script printed its plan and one line per check'
    or diag join "\n", @out;
for my $line (@res) {
    my ($bad, $name) = $line =~ /^(not )?ok - (.*)$/;
    ok !$bad, "sdk: $name" or diag $line;
}
fail "sdk: check missing from the output" for 1 .. (($n // 0) - @res);
is $status, 0, 'the SDK script exited 0';
