# Google's official SDK against Gemini's own routes (t/sdk/genai.test.mjs).
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::SDK;

run_sdk_script('genai.test.mjs', '@google/genai');
