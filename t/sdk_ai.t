# The Vercel AI SDK (ai + @ai-sdk/openai chat model) over Anthropic and Gemini
# translation (t/sdk/ai.test.mjs): one test per check; streamText with a tool
# must end with finish reason tool-calls.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::SDK;

run_sdk_script('ai.test.mjs', 'ai', '@ai-sdk/openai', 'zod', 'openai');
