# Routing rules (LLMGWRouter / LLMGWRoute): requests with tools, long
# prompts, images, a tier, a header, a JSON response format, a stream reach
# the targets the rules name; the targets after `->` are fallbacks; the
# answer says which rule chose (x-llmgw-resolved-model, -rule,
# -rules-version, -tier, and `rule=` in x-llmgw). Routers `auto`,
# `hpprouter/auto` and `strict`: the issue 14 section of
# t/conf/extra.conf.in.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

plan tests => 80, need_module('llmgw');

my $CC = '/v1/chat/completions';
my $TOOLS = [ { type => 'function', function => { name => 'get_weather',
                parameters => { type => 'object', properties => {} } } } ];

# route($name, $res, $provider, $model, $rule[, $attempts])
sub routed {
    my ($name, $res, $prov, $model, $rule, $attempts) = @_;
    $attempts //= 1;
    is $res->code, 200, "$name: 200" or diag substr($res->content // '', 0, 300);
    is $res->header('x-provider'), $prov, "$name: answered by $prov";
    is $res->header('x-llmgw-resolved-model'), "$prov/$model", "$name: x-llmgw-resolved-model";
    is $res->header('x-llmgw-rule'), $rule, "$name: x-llmgw-rule $rule";
    like $res->header('x-llmgw') // '',
        qr/^route=\Q$prov:$model\E; cache=none; attempts=$attempts; rule=$rule$/,
        "$name: x-llmgw ends with rule=$rule";
}

my $version;
{
    my $res = post_json($CC, chat_body('auto', 'what is the weather?', tools => $TOOLS));
    routed('tools', $res, 'mockant', 'rr-tools', 1);
    $version = $res->header('x-llmgw-rules-version') // '';
    like $version, qr/^[0-9a-f]{12}$/, 'x-llmgw-rules-version: a hash of the rules';
    ok !defined $res->header('x-llmgw-tier'), 'no tier without a key: no x-llmgw-tier';
    is mock_last()->{body}{model}, 'rr-tools', 'the provider got the rule\'s model';
}
{
    my $res = post_json($CC, chat_body('auto', 'x' x 9000));
    routed('long prompt', $res, 'mockgem', 'rr-long', 2);
    is $res->header('x-llmgw-rules-version'), $version, 'the same rules, the same version';
}
{
    my $res = post_json($CC, { model => 'auto', messages => [ { role => 'user', content => [
        { type => 'text', text => 'what is in it?' },
        { type => 'image_url', image_url => { url => 'data:image/png;base64,iVBORw0KGgo=' } } ] } ] });
    routed('images', $res, 'mock', 'rr-vision', 3);
}
{
    # tier=free from the key's plan; a key's own tier wins over its plan's
    my $res = post_json('/q/v1/chat/completions', chat_body('auto', 'x'),
                        Authorization => 'Bearer sk-rr-free');
    routed('tier from the plan', $res, 'mock', 'rr-free', 4);
    is $res->header('x-llmgw-tier'), 'free', 'x-llmgw-tier free';
    $res = post_json('/q/v1/chat/completions', chat_body('auto', 'x'),
                     Authorization => 'Bearer sk-rr-pro');
    routed('the key\'s own tier', $res, 'mock', 'rr-default', 8, 2);
    is $res->header('x-llmgw-tier'), 'pro', 'x-llmgw-tier pro';
}
{
    my $res = post_json($CC, chat_body('auto', 'x'), 'X-Team' => 'research');
    routed('header', $res, 'mock', 'rr-research', 5);
    $res = post_json($CC, chat_body('auto', 'x'), 'X-Team' => 'sales');
    is $res->header('x-llmgw-rule'), 8, 'another header value: the default rule';
}
{
    my $res = post_json($CC, chat_body('auto', 'x', response_format => { type => 'json_object' }));
    routed('json', $res, 'mock', 'rr-json', 6);
    $res = post_json($CC, chat_body('auto', 'x', response_format => { type => 'text' }));
    is $res->header('x-llmgw-rule'), 8, 'response_format text: not json';
}
{
    my $r = raw_request(method => 'POST', path => $CC, timeout => 20,
                        body => $JSON->encode(chat_body('auto', 'x', stream => JSON::PP::true)));
    is $r->{status}, 200, 'stream: 200';
    is $r->{headers}{'x-llmgw-rule'}, 7, 'stream: rule 7';
    is $r->{headers}{'x-llmgw-resolved-model'}, 'mock/rr-stream', 'stream: resolved model';
    like $r->{body} // '', qr/data: \[DONE\]/, 'stream: complete';
}
{
    # the default rule: dead/down first (unreachable), then mock/rr-default
    my $res = post_json($CC, chat_body('auto', 'x'));
    routed('default rule with a fallback', $res, 'mock', 'rr-default', 8, 2);
}
{
    # gateway fields send the request to the tree path: the same facts
    my $res = post_json($CC, chat_body('auto', 'x', tools => $TOOLS, models => [ 'mock/rr-after' ]));
    routed('tree path', $res, 'mockant', 'rr-tools', 1);
    # `models` after a router: its targets first, then the entries
    $res = post_json($CC, chat_body('strict', 'x', tools => $TOOLS,
                                    models => [ 'mock/rr-after' ]));
    routed('router then models', $res, 'mock', 'rr-strict', 1);
}
{
    my $res = post_json($CC, chat_body('hpprouter/auto', 'hi'));
    routed('prefixed router name', $res, 'mock', 'hpp-tiny', 1);
    isnt $res->header('x-llmgw-rules-version'), $version, 'another router: another version';
}
{
    my $res = post_json($CC, chat_body('strict', 'no tools here'));
    envelope_ok($res, 400, 'invalid_request_error', 'no rule matches', code => 'no_matching_rule');
    like((dec($res) // {})->{error}{message} // '', qr/strict/, 'the message names the router');
}
{
    my $res = post_json($CC, chat_body('mock/plain', 'x'));
    ok !defined $res->header('x-llmgw-rule'), 'no router: no x-llmgw-rule';
    unlike $res->header('x-llmgw') // '', qr/rule=/, 'no router: no rule= in x-llmgw';
}
