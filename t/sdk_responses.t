# The Responses API with the openai SDK and the AI SDK's default model
# (t/sdk/responses.test.mjs), on every provider type.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::SDK;

run_sdk_script('responses.test.mjs', 'openai', 'ai', '@ai-sdk/openai', 'zod');
