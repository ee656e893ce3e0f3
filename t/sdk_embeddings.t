# The official openai npm SDK's embeddings.create with its defaults (base64)
# against gemini and openai providers (t/sdk/embeddings.test.mjs): one test per
# SDK check, plus: the script ran, printed its plan, and exited 0.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use LLMGW::Test;

my $dir = "$FindBin::Bin/sdk";
unless (-d "$dir/node_modules/openai") {
    plan tests => 1, need_module('llmgw');
    fail "the openai SDK is not installed in $dir/node_modules (npm ci failed?)";
    exit;
}

my $hostport = Apache::TestRequest::hostport();
$hostport =~ s/^localhost:/127.0.0.1:/;
local $ENV{LLMGW_BASE_URL} = "http://$hostport/v1";
my @out = `node "$dir/embeddings.test.mjs" 2>&1`;
my $status = $? >> 8;
chomp @out;
my ($n) = map { /^1\.\.(\d+)$/ ? $1 : () } @out;
my @res = grep { /^(not )?ok - / } @out;

plan tests => ($n // 0) + 2, need_module('llmgw');

ok defined $n && $n > 0 && @res == $n, 'the SDK script printed its plan and one line per check'
    or diag join "\n", @out;
for my $line (@res) {
    my ($bad, $name) = $line =~ /^(not )?ok - (.*)$/;
    ok !$bad, "sdk: $name";
}
fail "sdk: check missing from the output" for 1 .. (($n // 0) - @res);
is $status, 0, 'the SDK script exited 0';
