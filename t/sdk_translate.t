# The official openai SDK over Anthropic and Gemini translation and the
# recorded fixtures (t/sdk/translate.test.mjs): one test per SDK check.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::SDK;

run_sdk_script('translate.test.mjs', 'openai');
