# The official Anthropic SDK against the Messages API (t/sdk/anthropic.test.mjs):
# relayed to an anthropic provider and translated to the others.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::SDK;

run_sdk_script('anthropic.test.mjs', '@anthropic-ai/sdk');
