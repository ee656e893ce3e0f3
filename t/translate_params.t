# Translation fidelity (SPEC "Translation"): every OpenAI parameter sent to
# an anthropic or gemini provider is translated or answered with a 400
# unsupported_parameter naming it, before anything goes upstream; under
# LLMGWDropUnsupported On (/drop/v1) it is dropped and listed in
# x-llmgw-dropped. What is translated is checked on the upstream request the
# mock received: response_format as a forced tool (Anthropic) whose input
# comes back as the message content, or a responseSchema with its $refs
# resolved (Gemini); reasoning_effort as thinking / thinkingConfig, with the
# thinking text back as reasoning_content; seed, penalties, logprobs, top_k;
# metadata.user_id. Every translated message has role, content and refusal.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

unless (Apache::Test::need_module('llmgw')) {
    print "1..0 # skipped: mod_llmgw is needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $CC = '/v1/chat/completions';
my $DROP = '/drop/v1/chat/completions';
my $SCHEMA = {
    type => 'object',
    properties => { owner => { '$ref' => '#/$defs/Person' },
                    pets => { type => 'array', items => { '$ref' => '#/$defs/Pet' } } },
    required => [ 'owner' ],
    '$defs' => { Person => { type => 'object', properties => { name => { type => 'string' } },
                             required => [ 'name' ] },
                 Pet => { type => 'string', enum => [ 'cat', 'dog' ] } },
};

sub upstream { my $l = mock_last(); return $l->{body} // {} }

# The message of a non-stream answer, checked for role/content/refusal.
sub message_ok {
    my ($res, $name) = @_;
    is $res->code, 200, "$name: 200" or diag $res->content;
    my $j = dec($res) // {};
    my $m = $j->{choices}[0]{message} // {};
    ok exists $m->{role} && exists $m->{content} && exists $m->{refusal},
        "$name: the message has role, content and refusal";
    ok !defined $m->{refusal}, "$name: refusal is null";
    return ($m, $j->{choices}[0]);
}

# content, reasoning_content and finish_reason of a translated stream.
sub stream_parts {
    my $body = shift;
    my ($content, $reasoning, $finish, $done, $calls) = ('', '', undef, 0, 0);
    for my $d (sse_events($body)) {
        if ($d eq '[DONE]') { $done++; next }
        my $j = dec($d) // {};
        for my $c (@{ $j->{choices} // [] }) {
            $content .= $c->{delta}{content} // '';
            $reasoning .= $c->{delta}{reasoning_content} // '';
            $calls++ if $c->{delta}{tool_calls};
            $finish = $c->{finish_reason} if defined $c->{finish_reason};
        }
    }
    return { content => $content, reasoning => $reasoning, finish => $finish,
             done => $done, calls => $calls };
}

sub stream_post {
    my ($path, $body) = @_;
    return raw_request(method => 'POST', path => $path, body => $JSON->encode({ %$body, stream => JSON::PP::true }));
}

# ------------------------------------------------------------ item 10: unsupported -> 400
for my $case ([ 'mockant', seed => 7 ], [ 'mockant', presence_penalty => 0.5 ],
              [ 'mockant', logprobs => JSON::PP::true ], [ 'mockant', frequency_penalty => 1 ],
              [ 'mockant', made_up_param => 1 ],
              [ 'mockgem', user => 'u-1' ], [ 'mockgem', logit_bias => { 50256 => -100 } ],
              [ 'mockgem', made_up_param => 'x' ]) {
    my ($prov, $param, $value) = @$case;
    mock_reset();
    my $res = post_json($CC, chat_body("$prov/echo", 'hi', $param => $value));
    envelope_ok($res, 400, 'invalid_request_error', "$prov $param", code => 'unsupported_parameter');
    my $e = (dec($res) // {})->{error} // {};
    is $e->{param}, $param, "$prov $param: param names the parameter";
    like $e->{message} // '', qr/\Q$param\E/, "$prov $param: the message names it";
    is mock_stats()->{requests}, 0, "$prov $param: nothing was sent upstream";
}
{
    # neutral values mean nothing was asked: accepted
    my $res = post_json($CC, chat_body('mockant/echo', 'neutral', presence_penalty => 0,
                                       frequency_penalty => 0, logprobs => JSON::PP::false, n => 1,
                                       seed => undef));
    is $res->code, 200, 'anthropic: neutral values (penalty 0, logprobs false, n 1, null) accepted'
        or diag $res->content;
}

# ------------------------------------------------------------ LLMGWDropUnsupported On
{
    mock_reset();
    my $res = post_json($DROP, chat_body('mockant/echo', 'dropped', seed => 7, presence_penalty => 0.5,
                                         temperature => 0.5));
    my ($m) = message_ok($res, 'drop anthropic');
    is $m->{content}, 'dropped', 'drop anthropic: answered';
    is $res->header('x-llmgw-dropped'), 'presence_penalty, seed', 'drop anthropic: x-llmgw-dropped lists them'
        or diag $res->header('x-llmgw-dropped');
    my $b = upstream();
    ok !exists $b->{seed} && !exists $b->{presence_penalty}, 'drop anthropic: not sent upstream';
    is $b->{temperature}, 0.5, 'drop anthropic: translated parameters still sent';

    $res = post_json($DROP, chat_body('mockgem/echo', 'dropped', user => 'u-1', seed => 3));
    message_ok($res, 'drop gemini');
    is $res->header('x-llmgw-dropped'), 'user', 'drop gemini: x-llmgw-dropped: user';
    is upstream()->{generationConfig}{seed}, 3, 'drop gemini: seed translated (generationConfig.seed)';

    $res = post_json($DROP, chat_body('mockant/echo', 'clean'));
    ok !defined $res->header('x-llmgw-dropped'), 'drop: no header when nothing was dropped';
}

# ------------------------------------------------------------ Anthropic translations
{
    mock_reset();
    my $res = post_json($CC, chat_body('mockant/json', 'Ada', response_format => {
        type => 'json_schema', json_schema => { name => 'person', schema => $SCHEMA } }));
    my ($m, $c) = message_ok($res, 'anthropic response_format');
    my $b = upstream();
    my ($tool) = grep { $_->{name} eq 'llmgw_json_response' } @{ $b->{tools} // [] };
    ok $tool, 'anthropic response_format: a tool carries the schema upstream';
    is_deeply $tool && $tool->{input_schema}, $SCHEMA, 'anthropic response_format: schema as input_schema';
    is_deeply $b->{tool_choice}, { type => 'tool', name => 'llmgw_json_response' },
        'anthropic response_format: the tool is forced';
    is_deeply dec($m->{content} // ''), { answer => 'Ada' }, 'anthropic response_format: the tool input is the content';
    ok !exists $m->{tool_calls}, 'anthropic response_format: no tool_calls';
    is $c->{finish_reason}, 'stop', 'anthropic response_format: finish_reason stop';

    my $s = stream_parts(stream_post($CC, chat_body('mockant/json', 'Bob',
        response_format => { type => 'json_object' }))->{body});
    is_deeply dec($s->{content}), { answer => 'Bob' }, 'anthropic response_format stream: content is the JSON';
    is $s->{calls}, 0, 'anthropic response_format stream: no tool call deltas';
    is $s->{finish}, 'stop', 'anthropic response_format stream: finish_reason stop';
    is $s->{done}, 1, 'anthropic response_format stream: [DONE]';
}
{
    my $res = post_json($CC, chat_body('mockant/thinking', 'deep', reasoning_effort => 'medium',
                                       metadata => { user_id => 'u-7' }, top_k => 5));
    my ($m) = message_ok($res, 'anthropic reasoning');
    my $b = upstream();
    is_deeply $b->{thinking}, { type => 'enabled', budget_tokens => 8192 },
        'anthropic reasoning_effort medium: thinking.budget_tokens 8192';
    ok $b->{max_tokens} > 8192, 'anthropic reasoning: max_tokens above the budget';
    is_deeply $b->{metadata}, { user_id => 'u-7' }, 'anthropic: metadata.user_id';
    is $b->{top_k}, 5, 'anthropic: top_k';
    is $m->{content}, 'deep', 'anthropic reasoning: content';
    is $m->{reasoning_content}, 'Let me think about it.', 'anthropic reasoning: reasoning_content';

    my $s = stream_parts(stream_post($CC, chat_body('mockant/thinking', 'deeper',
                                                    reasoning_effort => 'low'))->{body});
    is $s->{reasoning}, 'Let me think about it.', 'anthropic reasoning stream: reasoning_content deltas';
    is $s->{content}, 'deeper', 'anthropic reasoning stream: content';
    is $s->{finish}, 'stop', 'anthropic reasoning stream: finish_reason';
}
{
    my ($m) = message_ok(post_json($CC, chat_body('mockant/echo', 'plain')), 'anthropic plain');
    is $m->{content}, 'plain', 'anthropic plain: content';
}

# ------------------------------------------------------------ Gemini translations
{
    my $res = post_json($CC, chat_body('mockgem/echo', '{"owner":{"name":"Ada"}}', response_format => {
        type => 'json_schema', json_schema => { name => 'x', schema => $SCHEMA } },
        seed => 11, presence_penalty => 0.25, frequency_penalty => 0.5, top_k => 4));
    message_ok($res, 'gemini response_format');
    my $gc = upstream()->{generationConfig} // {};
    is_deeply $gc->{responseSchema}{properties}{owner},
        { type => 'object', properties => { name => { type => 'string' } }, required => [ 'name' ] },
        'gemini: a $ref resolved into responseSchema';
    is_deeply $gc->{responseSchema}{properties}{pets}{items}, { type => 'string', enum => [ 'cat', 'dog' ] },
        'gemini: a $ref in items resolved';
    ok !exists $gc->{responseSchema}{'$defs'}, 'gemini: no $defs upstream';
    is $gc->{seed}, 11, 'gemini: seed';
    is $gc->{presencePenalty}, 0.25, 'gemini: presencePenalty';
    is $gc->{frequencyPenalty}, 0.5, 'gemini: frequencyPenalty';
    is $gc->{topK}, 4, 'gemini: topK';
}
{
    my $res = post_json($CC, chat_body('mockgem/thinking', 'ponder', reasoning_effort => 'high'));
    my ($m) = message_ok($res, 'gemini reasoning');
    is_deeply upstream()->{generationConfig}{thinkingConfig}, { thinkingBudget => 24576, includeThoughts => JSON::PP::true },
        'gemini reasoning_effort high: thinkingConfig';
    is $m->{content}, 'ponder', 'gemini reasoning: content without the thought';
    is $m->{reasoning_content}, 'Let me think about it.', 'gemini reasoning: reasoning_content';
    my $s = stream_parts(stream_post($CC, chat_body('mockgem/thinking', 'ponder more',
                                                    reasoning_effort => 'low'))->{body});
    is $s->{reasoning}, 'Let me think about it.', 'gemini reasoning stream: reasoning_content delta';
    is $s->{content}, 'ponder more', 'gemini reasoning stream: content';
}
{
    my $res = post_json($CC, chat_body('mockgem/logprobs', 'tok', logprobs => JSON::PP::true, top_logprobs => 2));
    my (undef, $c) = message_ok($res, 'gemini logprobs');
    my $gc = upstream()->{generationConfig} // {};
    ok $gc->{responseLogprobs}, 'gemini logprobs: responseLogprobs';
    is $gc->{logprobs}, 2, 'gemini top_logprobs: logprobs';
    my $lp = $c->{logprobs}{content} // [];
    is $lp->[0]{token}, 'tok', 'gemini logprobs: token';
    is $lp->[0]{logprob}, -0.25, 'gemini logprobs: logprob';
    is scalar(@{ $lp->[0]{top_logprobs} // [] }), 2, 'gemini logprobs: top_logprobs';
}

done_testing();
