package LLMGW::SDK;
# Runs a t/sdk/*.test.mjs script against this test server and reports it as
# tests: one per check line the script printed ("ok - NAME" / "not ok -
# NAME: reason"), plus "printed its plan and one line per check" and "exited
# 0". A script that is missing its packages, prints nothing or dies fails.
#
#   use LLMGW::SDK;
#   run_sdk_script('translate.test.mjs', 'openai');
use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use File::Basename ();
use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use Test::More ();

our @EXPORT = qw(run_sdk_script);

# run_sdk_script($script, @packages): plans and runs the tests.
sub run_sdk_script {
    my ($script, @packages) = @_;
    my $dir = File::Basename::dirname(__FILE__) . '/../../sdk';
    my @missing = grep { !-d "$dir/node_modules/$_" } @packages;
    if (@missing) {
        Apache::Test::plan(tests => 1, Apache::Test::need_module('llmgw'));
        Test::More::fail("SDK packages not installed in $dir/node_modules (npm ci failed?): @missing");
        return;
    }
    my $hostport = Apache::TestRequest::hostport();
    $hostport =~ s/^localhost:/127.0.0.1:/;
    local $ENV{LLMGW_BASE_URL} = "http://$hostport/v1";
    my @out = `cd "$dir" && node "$script" 2>&1`;
    my $status = $? >> 8;
    chomp @out;
    my ($n) = map { /^1\.\.(\d+)$/ ? $1 : () } @out;
    my @res = grep { /^(not )?ok - / } @out;

    Apache::Test::plan(tests => ($n // 0) + 2, Apache::Test::need_module('llmgw'));
    Test::More::ok(defined $n && $n > 0 && @res == $n,
                   "$script printed its plan and one line per check")
        or Test::More::diag(join "\n", @out);
    for my $line (@res) {
        my ($bad, $name) = $line =~ /^(not )?ok - (.*)$/;
        Test::More::ok(!$bad, "sdk: $name");
    }
    Test::More::fail("sdk: check missing from the output") for 1 .. (($n // 0) - @res);
    Test::More::is($status, 0, "$script exited 0");
}

1;
