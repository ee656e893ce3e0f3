# GET models and models/{id} (SPEC "Mounting"): the list with pricing, one
# model by its provider/model id (raw slash or %2F, as the SDKs send it),
# 404 model_not_found envelopes, and the JSON 404 for every unknown path
# under a mount.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

plan tests => 18 + 4 * 9 + 1, need_module('llmgw');

sub get { gw_request('GET', @_) }

{
    my $res = get('/v1/models/mock%2Fecho');
    is $res->code, 200, 'models/mock%2Fecho: 200' or diag $res->content;
    my $m = dec($res) // {};
    is $m->{id}, 'mock/echo', 'id as asked';
    is $m->{object}, 'model', 'object: model';
    is $m->{owned_by}, 'mock', 'owned_by: the provider';
    like $res->header('Content-Type') // '', qr{^application/json}, 'JSON';

    $res = get('/api/v1/models/mock/inspect');
    is $res->code, 200, 'models/mock/inspect (raw slash, other mount): 200';
    is((dec($res) // {})->{id}, 'mock/inspect', 'raw slash: id');

    $res = get('/v1/models/fast');
    is $res->code, 200, 'an alias: 200';
    is((dec($res) // {})->{owned_by}, 'mock', 'an alias: its provider');

    # a provider that does not list its models takes any name
    $res = get('/v1/models/orouter%2Fmeta-llama%2Fx');
    is $res->code, 200, 'provider without models=: 200';
    is((dec($res) // {})->{id}, 'orouter/meta-llama/x', 'slashes inside the model survive');

    # priced: pricing in shortest form
    $res = get('/v1/models/mock%2Fqpriced');
    is $res->code, 200, 'a priced model: 200';
    is((dec($res) // {})->{pricing}{input}, 1000, 'pricing.input');
    ok !defined get('/v1/models/mock%2Fecho')->header('x-cache-status'), 'no x-cache-status without a cache';
    $res = post_json('/v1/chat/completions', chat_body('echo', 'no cache here'));
    ok !defined $res->header('x-cache-status'), 'chat without a cache: no x-cache-status';
    like $res->header('x-llmgw') // '', qr/; cache=none;/, 'chat without a cache: x-llmgw cache=none';
    $res = post_json('/cache/v1/chat/completions', chat_body('echo', "cache on $$ " . time));
    is $res->header('x-cache-status'), 'MISS', 'chat with the cache on: MISS';
    like $res->header('x-llmgw') // '', qr/; cache=exact;/, 'a MISS where the cache is on: x-llmgw cache=exact';
}

envelope_ok(get('/v1/models/mock%2Fno-such'), 404, 'invalid_request_error',
            'a model the provider does not list', code => 'model_not_found');
envelope_ok(get('/v1/models/ghost%2Fx'), 404, 'invalid_request_error',
            'an unknown provider', code => 'model_not_found');
envelope_ok(get('/v1/nothing/here'), 404, 'invalid_request_error', 'an unknown path under a mount');
envelope_ok(gw_request('DELETE', '/v1/models/mock%2Fecho'), 405, 'invalid_request_error',
            'DELETE models/{id}');
no_key_leak();
