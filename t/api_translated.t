# The Messages and Responses APIs on providers that do not speak them
# (SPEC "Inbound APIs"): translated both ways with the full event streams,
# errors in each API's shape (what Chat cannot express is a 400
# unsupported_parameter), cut streams ending with the API's error events,
# quota with each SDK's credential header, the cache keeping the API in its
# key (a Chat answer is never served as a Messages answer) and converting
# framings, stored responses scoped to their workspace, and
# previous_response_id continued on another node.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;
use LLMGW::Node;
use IO::Socket::INET ();

plan tests => 105 + 3 * 9, need_module('llmgw'), need_module('llmgw_cache'), need_module('llmgw_quota');

my $nonce = "$$-" . time;
my %AH = ('x-api-key' => 'client-key', 'anthropic-version' => '2023-06-01');

sub events_of {
    my $body = shift // '';
    my @out;
    for my $block (split /\n\n/, $body) {
        my ($name, @data);
        for (split /\n/, $block) {
            $name = $1 if /^event: ?(.*)$/;
            push @data, $1 if /^data: ?(.*)$/;
        }
        push @out, [$name, dec(join "\n", @data)] if @data;
    }
    return @out;
}
sub names { join ' ', map { $_->[0] // '-' } @_ }
sub stream_post {
    my ($path, $body, %h) = @_;
    return raw_request(method => 'POST', path => $path, headers => \%h,
                       body => $JSON->encode({ %$body, stream => JSON::PP::true }));
}

# ---- Messages translated to an OpenAI-format provider -------------------------
{
    mock_reset();
    my $res = post_json('/v1/messages', { model => 'echo', max_tokens => 32, system => 'sys',
        messages => [ { role => 'user', content => 'translated hello' } ] }, %AH);
    my $j = dec($res) // {};
    is $res->code, 200, 'messages -> openai: 200' or diag $res->content;
    is mock_last()->{path}, '/v1/chat/completions', 'messages -> openai: a chat request upstream';
    is $j->{type}, 'message', 'messages -> openai: a Messages answer';
    is $j->{content}[0]{text}, 'translated hello', 'messages -> openai: text block';
    is $j->{stop_reason}, 'end_turn', 'messages -> openai: stop_reason';
    like $j->{id} // '', qr/^msg_/, 'messages -> openai: msg_ id';
    is $j->{model}, 'echo', 'messages -> openai: the model as the client named it';
    ok $j->{usage}{output_tokens} > 0, 'messages -> openai: usage';
    ok !exists mock_last()->{headers}{'x-api-key'}, "messages -> openai: the client's x-api-key is not forwarded";

    my $r = stream_post('/v1/messages', { model => 'echo', max_tokens => 32,
        messages => [ { role => 'user', content => 'stream translated' } ] }, %AH);
    my @ev = events_of($r->{body});
    is $r->{status}, 200, 'messages stream -> openai: 200';
    like names(@ev), qr/^message_start content_block_start (content_block_delta )+content_block_stop message_delta message_stop$/,
        'messages stream -> openai: the Messages event sequence';
    is join('', map { $_->[1]{delta}{text} // '' } grep { ($_->[0] // '') eq 'content_block_delta' } @ev),
        'stream translated', 'messages stream -> openai: text_delta';
    my ($md) = grep { ($_->[0] // '') eq 'message_delta' } @ev;
    ok $md && $md->[1]{usage}{output_tokens} > 0, 'messages stream -> openai: usage in message_delta';
    is $md && $md->[1]{delta}{stop_reason}, 'end_turn', 'messages stream -> openai: stop_reason';
    unlike $r->{body}, qr/\[DONE\]|chat\.completion/, 'messages stream -> openai: nothing of the Chat stream leaks';
    # a translated event over the events buffer's direct-write bound (4 KB)
    $r = stream_post('/v1/messages', { model => 'huge-event-200000', max_tokens => 32,
        messages => [ { role => 'user', content => 'x' } ] }, %AH);
    @ev = events_of($r->{body});
    is length(join('', map { $_->[1]{delta}{text} // '' } grep { ($_->[0] // '') eq 'content_block_delta' } @ev)),
        200000, 'messages stream -> openai: a 200,000-byte delta whole';
    # the mock's stream has no finish_reason: an error event ends it
    like names(@ev), qr/^message_start content_block_start content_block_delta error$/,
        'messages stream -> openai: the large delta in the event sequence';

    # tool use from a Gemini provider: input_json_delta
    $r = stream_post('/v1/messages', { model => 'mockgem/tools', max_tokens => 64,
        tools => [ { name => 'get_weather', input_schema => { type => 'object',
                     properties => { location => { type => 'string' } } } } ],
        messages => [ { role => 'user', content => 'weather?' } ] }, %AH);
    @ev = events_of($r->{body});
    my ($tu) = grep { ($_->[0] // '') eq 'content_block_start' && $_->[1]{content_block}{type} eq 'tool_use' } @ev;
    ok $tu, 'messages stream -> gemini: a tool_use block';
    my $json = join '', map { $_->[1]{delta}{partial_json} // '' }
        grep { ($_->[1]{delta}{type} // '') eq 'input_json_delta' } @ev;
    is_deeply dec($json), { location => 'Paris' }, 'messages stream -> gemini: input_json_delta';
    ($md) = grep { ($_->[0] // '') eq 'message_delta' } @ev;
    is $md && $md->[1]{delta}{stop_reason}, 'tool_use', 'messages stream -> gemini: stop_reason tool_use';

    # errors in Anthropic's shape on the translated route
    $res = post_json('/v1/messages', { model => 'echo', max_tokens => 8, service_tier => 'auto',
        messages => [ { role => 'user', content => 'x' } ] }, %AH);
    $j = dec($res) // {};
    is $res->code, 400, 'messages: a parameter Chat cannot express: 400';
    is $j->{type}, 'error', 'messages 400: Anthropic shape';
    is $j->{error}{type}, 'invalid_request_error', 'messages 400: invalid_request_error';
    like $j->{error}{message} // '', qr/service_tier/, 'messages 400: names the parameter';
    $res = post_json('/v1/messages', { model => 'error-503', max_tokens => 8,
        messages => [ { role => 'user', content => 'x' } ] }, %AH);
    is $res->code, 502, 'messages upstream 503: 502';
    is((dec($res) // {})->{error}{type}, 'api_error', 'messages upstream 503: api_error');

    # a cut stream: Anthropic's error event, no message_stop
    $r = stream_post('/v1/messages', { model => 'drop', max_tokens => 8,
        messages => [ { role => 'user', content => 'drop me please now' } ] }, %AH);
    @ev = events_of($r->{body});
    is $ev[-1][0], 'error', 'messages cut stream -> openai: ends with event: error';
    ok !(grep { ($_->[0] // '') eq 'message_stop' } @ev), 'messages cut stream -> openai: no message_stop';
}

# ---- Responses translated -------------------------------------------------------
{
    my $res = post_json('/v1/responses', { model => 'echo', input => 'x', background => JSON::PP::true });
    envelope_ok($res, 400, 'invalid_request_error', 'responses background: true',
                code => 'unsupported_parameter');
    is((dec($res) // {})->{error}{param}, 'background', 'responses background: param');
    $res = post_json('/v1/responses', { model => 'echo' });
    envelope_ok($res, 400, 'invalid_request_error', 'responses without input', code => 'invalid_request');
    $res = post_json('/v1/responses', { model => 'echo', input => 'x', previous_response_id => 'resp_nope' });
    envelope_ok($res, 400, 'invalid_request_error', 'unknown previous_response_id',
                code => 'previous_response_not_found');

    # the answer is checked in the Responses writer's pass: a 2xx that is
    # not a chat completion is a 502 invalid_upstream_response, as on chat
    for my $m (qw(mock/bad-truncated mock/bad-empty-object cmock/bad-array)) {
        $res = post_json('/v1/responses', { model => $m, input => "invalid $m" });
        my ($prov) = $m =~ m{^([^/]+)/};
        envelope_ok($res, 502, 'provider_error', "responses $m", provider => $prov,
                    upstream_status => 200, retryable => 1, code => 'invalid_upstream_response');
    }

    my $r = stream_post('/v1/responses', { model => 'drop', input => 'cut me short please' });
    my @ev = events_of($r->{body});
    ok !(grep { ($_->[0] // '') eq 'response.completed' } @ev), 'responses cut stream: no response.completed';
    like names(@ev), qr/\b(error|response\.failed)$/, 'responses cut stream: ends with error / response.failed';
    my @seq = map { $_->[1]{sequence_number} } @ev;
    is_deeply \@seq, [0 .. $#ev], 'responses cut stream: sequence numbers 0..N';
}

# ---- quota with each SDK's credential --------------------------------------------
{
    my $m = { model => 'echo', max_tokens => 8, messages => [ { role => 'user', content => 'quota' } ] };
    my $res = post_json('/q/v1/messages', $m, 'x-api-key' => 'sk-q-api-a', 'anthropic-version' => '2023-06-01');
    is $res->code, 200, 'quota: x-api-key is a gateway key on messages' or diag $res->content;
    ok defined $res->header('x-ratelimit-remaining-requests'), 'quota: rate-limit headers on messages';
    $res = post_json('/q/v1/messages', $m, 'x-api-key' => 'sk-wrong');
    my $j = dec($res) // {};
    is $res->code, 401, 'quota: wrong x-api-key: 401';
    is $j->{error}{type}, 'authentication_error', 'quota: 401 in Anthropic shape';
    my $g = { contents => [ { role => 'user', parts => [ { text => 'quota gem' } ] } ] };
    $res = post_json('/q/v1/models/mockgem%2Fecho:generateContent', $g, 'x-goog-api-key' => 'sk-q-api-a');
    is $res->code, 200, 'quota: x-goog-api-key is a gateway key' or diag $res->content;
    $res = post_json('/q/v1/models/mockgem%2Fecho:generateContent', $g, 'x-goog-api-key' => 'sk-wrong');
    is $res->code, 401, 'quota: wrong x-goog-api-key: 401';
    is((dec($res) // {})->{error}{status}, 'UNAUTHENTICATED', 'quota: 401 in Google shape');

    # stored responses belong to their workspace
    $res = post_json('/q/v1/responses', { model => 'echo', input => "tenant a $nonce" },
                     Authorization => 'Bearer sk-q-api-a');
    my $id = (dec($res) // {})->{id};
    ok $id, 'tenant a: a response id' or diag $res->content;
    is gw_request('GET', "/q/v1/responses/$id", undef, Authorization => 'Bearer sk-q-api-a')->code, 200,
        'tenant a: GET its response';
    is gw_request('GET', "/q/v1/responses/$id", undef, Authorization => 'Bearer sk-q-api-b')->code, 404,
        'tenant b: 404 on a\'s response';
    is gw_request('DELETE', "/q/v1/responses/$id", undef, Authorization => 'Bearer sk-q-api-b')->code, 404,
        'tenant b: cannot delete a\'s response';
    $res = post_json('/q/v1/responses', { model => 'echo', input => 'x', previous_response_id => $id },
                     Authorization => 'Bearer sk-q-api-b');
    is $res->code, 400, 'tenant b: cannot continue a\'s response';
    is gw_request('GET', "/q/v1/responses/$id")->code, 401, 'no key: 401 on GET responses/{id}';
}

# ---- stored responses on one kept-alive connection, two credentials --------------
# (the hashed scope of the connection's first credential is remembered: the
# second credential must still get its own scope)
{
    my ($host, $port) = split /:/, Apache::TestRequest::hostport();
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10)
        or die "connect: $!";
    $s->autoflush(1);
    my $buf = '';
    my $ask = sub {
        my ($method, $path, $key, $body) = @_;
        $body //= '';
        print $s "$method $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nAuthorization: Bearer $key\r\n"
               . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
        my $deadline = time + 20;
        while (time < $deadline) {
            if ($buf =~ /\A(.*?)\r\n\r\n/s) {
                my $head = $1;
                my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
                die "no Content-Length in <$head>" unless defined $len;
                if (length($buf) >= length($head) + 4 + $len) {
                    my $b = substr($buf, length($head) + 4, $len);
                    $buf = substr($buf, length($head) + 4 + $len);
                    my ($st) = $head =~ m{^HTTP/1\.1 (\d+)};
                    return ($st, $b);
                }
            }
            sysread($s, my $more, 65536) or last;
            $buf .= $more;
        }
        return (0, '');
    };
    my ($st, $b) = $ask->('POST', '/v1/responses', 'sk-conn-a',
                          $JSON->encode({ model => 'echo', input => "one connection $nonce" }));
    my $id = $st == 200 ? (dec($b) // {})->{id} : undef;
    ok $id, 'one connection: key a stores a response' or diag "$st $b";
    ($st) = $ask->('GET', "/v1/responses/$id", 'sk-conn-b');
    is $st, 404, 'one connection: key b, same connection: 404';
    ($st) = $ask->('GET', "/v1/responses/$id", 'sk-conn-a');
    is $st, 200, 'one connection: key a again: 200';
    ($st) = $ask->('DELETE', "/v1/responses/$id", 'sk-conn-b');
    is $st, 404, 'one connection: key b cannot delete it';
    close $s;
}

# ---- the cache: the API is part of the key; framings converted -------------------
{
    my $body = { model => 'echo', max_tokens => 16, messages => [ { role => 'user', content => "same body $nonce" } ] };
    my $c = post_json('/cache/v1/chat/completions', $body);
    is $c->header('x-cache-status'), 'MISS', 'cache: chat MISS';
    my $m = post_json('/cache/v1/messages', $body, %AH);
    is $m->header('x-cache-status'), 'MISS', 'cache: the same body on messages is a MISS (API in the key)';
    is((dec($m) // {})->{type}, 'message', 'cache: messages answer is a Messages answer');
    my $m2 = post_json('/cache/v1/messages', $body, %AH);
    is $m2->header('x-cache-status'), 'HIT', 'cache: messages again: HIT';
    is $m2->content, $m->content, 'cache: messages HIT: the same bytes';
    my $s = stream_post('/cache/v1/messages', $body, %AH);
    is $s->{headers}{'x-cache-status'}, 'HIT', 'cache: messages stream from the stored answer: HIT';
    my @ev = events_of($s->{body});
    is $ev[-1][0], 'message_stop', 'cache: replayed as the Messages event stream';
    is join('', map { $_->[1]{delta}{text} // '' } @ev), "same body $nonce", 'cache: replayed text';

    my $rb = { model => 'echo', input => "cached responses $nonce" };
    my $s1 = stream_post('/cache/v1/responses', $rb);
    is $s1->{headers}{'x-cache-status'}, 'MISS', 'cache: responses stream MISS';
    my $r2 = post_json('/cache/v1/responses', $rb);
    is $r2->header('x-cache-status'), 'HIT', 'cache: responses JSON from the stored stream: HIT';
    is((dec($r2) // {})->{output}[0]{content}[0]{text}, "cached responses $nonce", 'cache: reduced response');

    my $g = { contents => [ { role => 'user', parts => [ { text => "gem cache $nonce" } ] } ] };
    my $g1 = post_json('/cache/v1/models/mockgem%2Fecho:generateContent', $g);
    my $g2 = post_json('/cache/v1/models/mockgem%2Fecho:generateContent', $g);
    is $g1->header('x-cache-status'), 'MISS', 'cache: gemini MISS';
    is $g2->header('x-cache-status'), 'HIT', 'cache: gemini HIT';
    is $g2->content, $g1->content, 'cache: gemini the same bytes';
}

# ---- IndoxHub answers never answer a plain chat request ----------------------------
{
    my $body = chat_body('echo', "indox cache $nonce");
    my $i = post_json('/indox/v1/chat/completions', $body);
    ok exists((dec($i) // {})->{success}), 'indoxhub: its envelope';
    my $p = post_json('/v1/chat/completions', $body);
    ok !exists((dec($p) // {})->{success}), 'plain chat: never IndoxHub\'s envelope';
}

# ---- previous_response_id on another node ------------------------------------------
{
    my $a = LLMGW::Node->start(name => 'resp-a');
    my $b = LLMGW::Node->start(name => 'resp-b');
    my $r1 = $a->post('/v1/responses', { model => 'echo', input => "remember $nonce" });
    my $id = (dec($r1) // {})->{id};
    is $r1->code, 200, 'node a: response' or diag $r1->content;
    my $r2 = $b->post('/v1/responses', { model => 'inspect', input => 'what?', previous_response_id => $id });
    is $r2->code, 200, 'node b: continues node a\'s response' or diag $r2->content;
    my $seen = dec((dec($r2) // {})->{output}[0]{content}[0]{text}) // {};
    my @msgs = @{ $seen->{body}{messages} // [] };
    is_deeply [ map { $_->{role} } @msgs ], [qw(user assistant user)], 'node b: the history went upstream';
    like $JSON->encode($msgs[0]{content}), qr/remember \Q$nonce\E/, 'node b: the first turn';
    like $JSON->encode($msgs[1]{content}), qr/remember \Q$nonce\E/, 'node b: the first answer';
    # a third turn continues the second: the stored record carries the
    # earlier conversation along
    my $id2 = (dec($r2) // {})->{id};
    my $r3 = $a->post('/v1/responses', { model => 'inspect', input => 'and?', previous_response_id => $id2 });
    is $r3->code, 200, 'node a: continues node b\'s continuation' or diag $r3->content;
    my $seen3 = dec((dec($r3) // {})->{output}[0]{content}[0]{text}) // {};
    my @msgs3 = @{ $seen3->{body}{messages} // [] };
    is_deeply [ map { $_->{role} } @msgs3 ], [qw(user assistant user assistant user)], 'third turn: the whole history went upstream';
    like $JSON->encode($msgs3[0]{content}), qr/remember \Q$nonce\E/, 'third turn: the first turn';
    like $JSON->encode($msgs3[2]{content}), qr/what\?/, 'third turn: the second turn';
    like $JSON->encode($msgs3[4]{content}), qr/and\?/, 'third turn: its own input';
    is $b->get("/v1/responses/$id")->code, 200, 'node b: GET node a\'s response';
    is $b->request('DELETE', "/v1/responses/$id")->code, 200, 'node b: DELETE it';
    is $a->get("/v1/responses/$id")->code, 404, 'node a: gone';
    $a->stop;
    $b->stop;
}
