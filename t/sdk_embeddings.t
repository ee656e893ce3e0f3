# The official openai npm SDK's embeddings.create with its defaults (base64)
# against gemini and openai providers (t/sdk/embeddings.test.mjs): one test per
# SDK check, plus: the script ran, printed its plan, and exited 0.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use LLMGW::SDK;

run_sdk_script('embeddings.test.mjs', 'openai');
