# Every recorded provider stream of $LLMGW_FIXTURES replayed end to end: the
# mock provider sends the recording byte for byte (fixture-NAME), the
# gateway translates it, and the OpenAI chunk stream the client assembles
# (text, tool calls with ids and parsed arguments, finish reason, usage) is
# compared with what this file computes on its own from the recording:
#   anthropic/*.txt                        mockant/fixture-NAME, stream
#   gemini/{googleai,vertexai}/streaming-*  mockgem/fixture-DIR.NAME, stream
#   gemini/{googleai,vertexai}/unary-*.json mockgem/fixture-DIR.NAME, non-stream
#   openai/*.sse                           mock/fixture-NAME, relayed intact
# Recordings that carry an error end in the SPEC error event (streams) or
# envelope (unary).
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Basename qw(basename);
use POSIX ();
use LLMGW::Test;
use LLMGW::Chunks;

unless (Apache::Test::need_module('llmgw')) {
    print "1..0 # skipped: mod_llmgw is needed\n";
    exit;
}
Apache::Test::test_pm_refresh();

my $CC = '/v1/chat/completions';
my $T = JSON::PP::true;
my $FX = $ENV{LLMGW_FIXTURES} // die "LLMGW_FIXTURES is not set\n";
my $RAW = JSON::PP->new->utf8->allow_nonref;

my @ant = sort glob("$FX/anthropic/*.txt");
my @gem_stream = sort map { glob("$FX/gemini/$_/streaming-*.txt") } qw(googleai vertexai);
my @gem_unary = sort map { glob("$FX/gemini/$_/unary-*.json") } qw(googleai vertexai);
my @oai = sort glob("$FX/openai/*.sse");
ok @ant >= 7 && @gem_stream >= 30 && @gem_unary >= 60 && @oai >= 12,
    sprintf('the fixture corpus is there (%d anthropic, %d gemini streams, %d gemini unary, %d openai)',
            scalar @ant, scalar @gem_stream, scalar @gem_unary, scalar @oai);

sub slurp {
    my $f = shift;
    open my $fh, '<:raw', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

sub stream_req {
    my ($body) = @_;
    return raw_request(method => 'POST', path => $CC, body => $JSON->encode($body), timeout => 20);
}

# Blocks of an event stream: [ event name, data ] per block; a block that is
# not SSE but a bare JSON document (Gemini error bodies) is [ undef, text ].
sub blocks {
    my $t = shift;
    $t =~ s/\r\n/\n/g;
    my @out;
    for my $b (split /\n{2,}/, $t) {
        next unless $b =~ /\S/;
        if ($b =~ /^\s*[\[{]/ && $b !~ /^data:/m) {
            push @out, [ undef, $b ];
            next;
        }
        my ($ev, @data);
        for my $l (split /\n/, $b) {
            $ev = $1 if $l =~ /^event:\s*(.*?)\s*$/;
            push @data, $1 if $l =~ /^data: ?(.*)$/;
        }
        push @out, [ $ev, join("\n", @data) ] if @data;
    }
    return @out;
}

# ---------------------------------------------------------------- expectations
# SPEC finish reasons; a choice with tool calls finishes tool_calls unless
# the provider hit its token limit. Anthropic's `refusal` (a classifier
# stopped the answer; SPEC is silent) is content_filter, as OpenAI clients
# read a filtered answer.
my %ANT_STOP = (end_turn => 'stop', stop_sequence => 'stop', max_tokens => 'length',
                tool_use => 'tool_calls', refusal => 'content_filter', pause_turn => 'stop',
                model_context_window_exceeded => 'length');
my %GEM_STOP = (STOP => 'stop', MAX_TOKENS => 'length', SAFETY => 'content_filter',
                RECITATION => 'content_filter', BLOCKLIST => 'content_filter',
                PROHIBITED_CONTENT => 'content_filter', SPII => 'content_filter',
                IMAGE_SAFETY => 'content_filter');
sub with_tools { my ($f, $n) = @_; return $n && $f ne 'length' ? 'tool_calls' : $f }

# -> { text, tools => [ { id, name, args } ], finish, usage, error => {type, message} }
sub anthropic_expect {
    my $rec = shift;
    my %x = (text => '', tools => [], usage => {});
    my (%by_block, $stop);
    for my $b (blocks($rec)) {
        my ($ev, $data) = @$b;
        next if ($ev // '') eq 'ping';
        my $j = eval { $RAW->decode($data) } or next;
        my $type = $j->{type} // $ev // '';
        if ($type eq 'message_start') {
            %{ $x{usage} } = (%{ $x{usage} }, %{ $j->{message}{usage} // {} });
        } elsif ($type eq 'content_block_start') {
            my $cb = $j->{content_block} // {};
            if (($cb->{type} // '') eq 'text') {
                $x{text} .= $cb->{text} // '';
            } elsif (($cb->{type} // '') eq 'tool_use') {
                my $t = { id => $cb->{id}, name => $cb->{name},
                          args => (ref $cb->{input} eq 'HASH' && %{ $cb->{input} })
                                  ? $JSON->encode($cb->{input}) : '' };
                push @{ $x{tools} }, $t;
                $by_block{ $j->{index} } = $t;
            }
        } elsif ($type eq 'content_block_delta') {
            my $d = $j->{delta} // {};
            if (($d->{type} // '') eq 'text_delta') {
                $x{text} .= $d->{text} // '';
            } elsif (($d->{type} // '') eq 'input_json_delta' && $by_block{ $j->{index} }) {
                $by_block{ $j->{index} }{args} .= $d->{partial_json} // '';
            }
        } elsif ($type eq 'message_delta') {
            $stop = $j->{delta}{stop_reason} if defined $j->{delta}{stop_reason};
            %{ $x{usage} } = (%{ $x{usage} }, %{ $j->{usage} // {} });
        } elsif ($type eq 'error') {
            $x{error} = { type => 'provider_error', message => $j->{error}{message} };
            last;
        }
    }
    $x{finish} = with_tools($ANT_STOP{ $stop // '' } // 'stop', scalar @{ $x{tools} });
    my $u = $x{usage};
    my $cached = $u->{cache_read_input_tokens} // 0;
    my $prompt = ($u->{input_tokens} // 0) + $cached + ($u->{cache_creation_input_tokens} // 0);
    $x{usage} = { prompt_tokens => $prompt, completion_tokens => $u->{output_tokens} // 0,
                  total_tokens => $prompt + ($u->{output_tokens} // 0), cached_tokens => $cached };
    return \%x;
}

# A google.rpc error -> the SPEC envelope the gateway owes the client.
sub gemini_error_expect {
    my ($e, $http) = @_;
    my $st = $e->{status} // '';
    my $code = $http || $e->{code} || 500;
    my @det = @{ ref $e->{details} eq 'ARRAY' ? $e->{details} : [] };
    my %x = (message => $e->{message}, upstream_status => $code);
    if ((grep { ($_->{reason} // '') eq 'API_KEY_INVALID' } @det) || $st eq 'UNAUTHENTICATED' || $code == 401) {
        @x{qw(status type)} = (401, 'authentication_error');
    } elsif ($st eq 'PERMISSION_DENIED' || $code == 403) {
        @x{qw(status type)} = (403, 'permission_error');
    } elsif ($st eq 'NOT_FOUND' || $code == 404) {
        @x{qw(status type)} = (404, qr/^(invalid_request_error|not_found_error)$/);
    } elsif ($st eq 'RESOURCE_EXHAUSTED' || $code == 429) {
        @x{qw(status type)} = (429, 'rate_limit_error');
        my ($ri) = grep { ($_->{'@type'} // '') =~ /google\.rpc\.RetryInfo$/ } @det;
        if ($ri && ($ri->{retryDelay} // '') =~ /^(\d+(?:\.\d+)?)s$/) {
            $x{retry_after} = POSIX::ceil($1);
        }
    } elsif ($code >= 500 || $code == 499 || $st =~ /^(CANCELLED|INTERNAL|UNAVAILABLE|DEADLINE_EXCEEDED|UNKNOWN)$/) {
        @x{qw(status type)} = (502, 'provider_error');
    } else {
        @x{qw(status type)} = (400, 'invalid_request_error');
    }
    return \%x;
}

sub gemini_usage {
    my $m = shift;
    return undef unless ref $m eq 'HASH';
    my $prompt = ($m->{promptTokenCount} // 0) + ($m->{toolUsePromptTokenCount} // 0);
    my $compl = ($m->{candidatesTokenCount} // 0) + ($m->{thoughtsTokenCount} // 0);
    return { prompt_tokens => $prompt, completion_tokens => $compl,
             total_tokens => $m->{totalTokenCount} // $prompt + $compl,
             cached_tokens => $m->{cachedContentTokenCount} };
}

# Folds GenerateContentResponse objects (in order) into
# { choices => { IDX => { text, tools => [ {name, args} ], finish } }, usage,
#   error, received, blocked }.
sub gemini_fold {
    my @objs = @_;
    my %x = (choices => {}, received => 0);
    for my $j (@objs) {
        if (ref $j eq 'ARRAY' && @$j == 1) { $j = $j->[0] }
        if (ref $j ne 'HASH') {                         # not JSON, or not an object
            $x{error} = { type => 'provider_error' };
            last;
        }
        if (exists $j->{error}) {
            $x{error} = gemini_error_expect(ref $j->{error} eq 'HASH' ? $j->{error} : {}, 0);
            last;
        }
        next unless exists $j->{candidates} || exists $j->{promptFeedback} || exists $j->{usageMetadata};
        $x{received} = 1;
        $x{usage} = gemini_usage($j->{usageMetadata}) if ref $j->{usageMetadata} eq 'HASH';
        my @c = @{ ref $j->{candidates} eq 'ARRAY' ? $j->{candidates} : [] };
        $x{blocked} = 1 if !@c && defined(($j->{promptFeedback} // {})->{blockReason});
        for my $pos (0 .. $#c) {
            my $cand = $c[$pos];
            my $idx = $cand->{index} // $pos;
            my $ch = $x{choices}{$idx} //= { text => '', tools => [] };
            for my $p (@{ ref(($cand->{content} // {})->{parts}) eq 'ARRAY' ? $cand->{content}{parts} : [] }) {
                next unless ref $p eq 'HASH';
                $ch->{text} .= $p->{text} if defined $p->{text} && !ref $p->{text} && !$p->{thought};
                push @{ $ch->{tools} }, { name => $p->{functionCall}{name}, args => $p->{functionCall}{args} // {} }
                    if ref $p->{functionCall} eq 'HASH';
            }
            $ch->{reason} = $cand->{finishReason} if defined $cand->{finishReason};
        }
    }
    if (!$x{error} && !$x{received}) {
        $x{error} = { type => 'provider_error' };       # no GenerateContentResponse at all
    }
    $x{choices}{0} //= { text => '', tools => [], blocked => $x{blocked} } unless %{ $x{choices} };
    for my $ch (values %{ $x{choices} }) {
        my $f = defined $ch->{reason} ? ($GEM_STOP{ $ch->{reason} } // 'stop')
              : $ch->{blocked} ? 'content_filter' : 'stop';
        $ch->{finish} = with_tools($f, scalar @{ $ch->{tools} });
    }
    return \%x;
}

sub gemini_stream_expect {
    my $rec = shift;
    my @objs;
    for my $b (blocks($rec)) {
        my $j = eval { $RAW->decode($b->[1]) };
        push @objs, defined $j ? $j : 'invalid';
    }
    my $x = gemini_fold(@objs);
    # A stream whose candidates did not all send a finishReason was cut
    # (SPEC): it ends with the error event, no finish_reason is made up.
    if (!$x->{error} && grep { !defined $_->{reason} && !exists $_->{blocked} } values %{ $x->{choices} }) {
        $x->{error} = { type => 'provider_error', code => 'invalid_upstream_response' };
    }
    return $x;
}

# ---------------------------------------------------------------- comparisons
sub tools_match {
    my ($got, $want, $gemini) = @_;
    my @g = grep { defined } @{ $got // [] };
    return 'got ' . @g . ' tool calls, want ' . @$want if @g != @$want;
    my %ids;
    for my $k (0 .. $#$want) {
        my ($g, $w) = ($g[$k], $want->[$k]);
        return "tool $k: index $g->{index}" if $g->{index} != $k;
        return "tool $k: name " . ($g->{name} // 'undef') . ", want $w->{name}" if ($g->{name} // '') ne $w->{name};
        if ($gemini) {
            return "tool $k: no id" unless defined $g->{id} && length $g->{id};
            return "tool $k: id $g->{id} used twice" if $ids{ $g->{id} }++;
            my $args = eval { $RAW->decode($g->{arguments} // '') };
            return "tool $k: arguments are not JSON: " . ($g->{arguments} // 'undef') unless defined $args;
            my $d = same_data($args, $w->{args});
            return "tool $k arguments: $d" if $d;
        } else {
            return "tool $k: id " . ($g->{id} // 'undef') . ", want $w->{id}" if ($g->{id} // '') ne $w->{id};
            my $wa = eval { $RAW->decode($w->{args}) };
            if (defined $wa) {
                my $ga = eval { $RAW->decode($g->{arguments} // '') };
                return "tool $k: arguments are not JSON: " . ($g->{arguments} // 'undef') unless defined $ga;
                my $d = same_data($ga, $wa);
                return "tool $k arguments: $d" if $d;
            } elsif (($g->{arguments} // '') ne $w->{args}) {   # cut short by max_tokens
                return "tool $k: partial arguments '" . ($g->{arguments} // '') . "', want '$w->{args}'";
            }
        }
    }
    return '';
}

sub first_deltas_ok {
    my $tools = shift;
    for my $t (grep { defined } @{ $tools // [] }) {
        my $f = $t->{first} // {};
        return "tool $t->{index}: first delta lacks id/type/function.name: " . $JSON->encode($f)
            unless defined $f->{id} && ($f->{type} // '') eq 'function'
                && ref $f->{function} eq 'HASH' && defined $f->{function}{name};
        return "tool $t->{index}: id sent " . @{ $t->{ids} } . ' times' if @{ $t->{ids} } != 1;
    }
    return '';
}

sub usage_match {
    my ($got, $want) = @_;
    return 'no usage chunk' unless ref $got eq 'HASH';
    for my $k (qw(prompt_tokens completion_tokens total_tokens)) {
        return "$k: got " . ($got->{$k} // 'undef') . ", want $want->{$k}" if ($got->{$k} // -1) != $want->{$k};
    }
    if (defined $want->{cached_tokens} && $want->{cached_tokens} > 0) {
        my $c = ($got->{prompt_tokens_details} // {})->{cached_tokens} // -1;
        return "cached_tokens: got $c, want $want->{cached_tokens}" if $c != $want->{cached_tokens};
    }
    return '';
}

# One translated stream against its expectation: 9 tests.
sub check_stream {
    my ($name, $r, $x, $gemini) = @_;
    is $r->{status}, 200, "$name: 200 event stream"
        or diag substr($r->{body} // '', 0, 300);
    my $s = assemble($r->{body});
    ok !@{ $s->{bad} } && !$s->{not_chunk}, "$name: every event is a chunk, an error or [DONE]"
        or diag "bad: @{ $s->{bad} }";
    my @idx = sort { $a <=> $b } keys %{ $s->{choices} };
    my @noroles = grep { ($s->{choices}{$_}{first_delta_role} // '') ne 'assistant' } @idx;
    ok !@noroles, "$name: the first delta of every choice carries role assistant"
        or diag "choices without role first: @noroles";
    my @want_idx = sort { $a <=> $b } keys %{ $x->{choices} // { 0 => {} } };
    @want_idx = grep { exists $s->{choices}{$_} } @want_idx if $x->{error};
    my ($text_d, $tool_d, $first_d, $fin_d) = ('', '', '', '');
    for my $i (@want_idx) {
        my $g = $s->{choices}{$i} // { tool_calls => [], finish => [] };
        my $w = $gemini ? $x->{choices}{$i} : $x;
        $text_d ||= "choice $i: text '" . ($g->{text} // '') . "', want '$w->{text}'"
            if ($g->{text} // '') ne $w->{text};
        my $td = tools_match($g->{tool_calls}, $w->{tools}, $gemini);
        $tool_d ||= "choice $i: $td" if $td;
        my $fd = $g->{bad_tool_index} ? 'a tool-call delta without index' : first_deltas_ok($g->{tool_calls});
        $first_d ||= "choice $i: $fd" if $fd;
        my $want_fin = $x->{error} ? [] : [ $w->{finish} ];
        $fin_d ||= "choice $i: finish " . $JSON->encode($g->{finish}) . ', want ' . $JSON->encode($want_fin)
            if $JSON->encode($g->{finish}) ne $JSON->encode($want_fin);
    }
    if (!$x->{error} && join(',', @idx) ne join(',', @want_idx)) {
        $fin_d ||= "choices [@idx], want [@want_idx]";
    }
    is $text_d, '', "$name: assembled text";
    is $tool_d, '', "$name: tool calls (id, name, parsed arguments)";
    is $first_d, '', "$name: each tool call's first delta has id, type, function.name";
    is $fin_d, '', $x->{error} ? "$name: no finish_reason before the error"
                               : "$name: finish_reason " . ($gemini ? 'of each choice' : $x->{finish});
    if ($x->{error}) {
        my $e = $s->{error} // {};
        ok $s->{error} && $s->{error_last} && !$s->{done},
            "$name: the stream ends with the error event, no [DONE]" or diag substr($r->{body}, -300);
        my $d = '';
        $d = "type $e->{type}" if ref $x->{error}{type} eq 'Regexp' ? ($e->{type} // '') !~ $x->{error}{type}
                                                                     : ($e->{type} // '') ne $x->{error}{type};
        $d ||= "message '" . ($e->{message} // '') . "'"
            if defined $x->{error}{message} && index($e->{message} // '', $x->{error}{message}) < 0;
        $d ||= 'request_id' if ($e->{request_id} // '') ne ($r->{headers}{'x-request-id'} // '-');
        is $d, '', "$name: error event " . $JSON->encode({ %{ $x->{error} }, type => "$x->{error}{type}" }) ;
    } else {
        ok $s->{done} == 1 && $s->{done_last} && !$s->{error} && $r->{body} =~ /data: \[DONE\]\n\n\z/,
            "$name: data: [DONE] last (raw bytes), no error event"
            or diag 'error: ' . $JSON->encode($s->{error}) . ' tail: ' . substr($r->{body} // '', -200);
        my $ud = usage_match($s->{usage}, $x->{usage} // { prompt_tokens => 0, completion_tokens => 0, total_tokens => 0 });
        $ud ||= 'usage chunk has choices' unless $s->{usage_choices_empty};
        is $ud, '', "$name: usage chunk";
    }
}

# ---------------------------------------------------------------- anthropic
for my $f (@ant) {
    (my $name = basename($f)) =~ s/\.txt$//;
    my $x = anthropic_expect(slurp($f));
    my $r = stream_req(chat_body("mockant/fixture-$name", 'replay', stream => $T,
                                 stream_options => { include_usage => $T }));
    check_stream("anthropic $name", $r, $x, 0);
}

# ---------------------------------------------------------------- gemini streams
for my $f (@gem_stream) {
    my $dir = basename(File::Basename::dirname($f));
    (my $name = basename($f)) =~ s/\.txt$//;
    my $x = gemini_stream_expect(slurp($f));
    my $r = stream_req(chat_body("mockgem/fixture-$dir.$name", 'replay', stream => $T,
                                 stream_options => { include_usage => $T }));
    check_stream("gemini $dir/$name", $r, $x, 1);
}

# ---------------------------------------------------------------- gemini unary
for my $f (@gem_unary) {
    my $dir = basename(File::Basename::dirname($f));
    (my $name = basename($f)) =~ s/\.json$//;
    my $n = "gemini $dir/$name";
    my $rec = $RAW->decode(slurp($f));
    my $res = post_json($CC, chat_body("mockgem/fixture-$dir.$name", 'replay'));
    my $j = dec($res) // {};
    if (ref $rec eq 'HASH' && ref $rec->{error} eq 'HASH') {
        my $x = gemini_error_expect($rec->{error}, $rec->{error}{code});
        my $e = ref $j->{error} eq 'HASH' ? $j->{error} : {};
        is $res->code, $x->{status}, "$n: status $x->{status}" or diag $res->content;
        my $d = '';
        $d = "type $e->{type}" if ref $x->{type} ? ($e->{type} // '') !~ $x->{type} : ($e->{type} // '') ne $x->{type};
        $d ||= "message '" . ($e->{message} // '') . "'" if ($e->{message} // '') ne $x->{message};
        $d ||= 'upstream_status ' . ($e->{upstream_status} // 'null') if ($e->{upstream_status} // 0) != $x->{upstream_status};
        $d ||= 'provider ' . ($e->{provider} // 'null') if ($e->{provider} // '') ne 'mockgem';
        $d ||= 'request_id' if ($e->{request_id} // '') ne ($res->header('x-request-id') // '-');
        is $d, '', "$n: envelope (type, provider message, upstream_status, provider, request_id)";
        if (defined $x->{retry_after}) {
            is $res->header('retry-after'), $x->{retry_after}, "$n: retry-after $x->{retry_after} from RetryInfo";
        }
        next;
    }
    my $x = gemini_fold($rec);
    if ($x->{error}) {      # not a GenerateContentResponse: an invalid answer
        is $res->code, 502, "$n: not a generateContent answer: 502" or diag substr($res->content, 0, 300);
        is $j->{error} && $j->{error}{type}, 'provider_error', "$n: provider_error" or diag substr($res->content, 0, 300);
        next;
    }
    is $res->code, 200, "$n: 200" or diag substr($res->content, 0, 300);
    my $d = '';
    my @gi = map { $_->{index} } @{ $j->{choices} // [] };
    my @wi = sort { $a <=> $b } keys %{ $x->{choices} };
    $d = "choices [@gi], want [@wi]" if "@gi" ne "@wi";
    for my $c (@{ $j->{choices} // [] }) {
        last if $d;
        my $w = $x->{choices}{ $c->{index} };
        my $m = $c->{message} // {};
        $d = 'role' if ($m->{role} // '') ne 'assistant';
        $d ||= "text '" . ($m->{content} // '') . "', want '$w->{text}'" if ($m->{content} // '') ne $w->{text};
        $d ||= "finish " . ($c->{finish_reason} // 'null') . ", want $w->{finish}" if ($c->{finish_reason} // '') ne $w->{finish};
        my @tc = map { { index => $_, id => $m->{tool_calls}[$_]{id},
                         name => $m->{tool_calls}[$_]{function}{name},
                         arguments => $m->{tool_calls}[$_]{function}{arguments} } }
                 0 .. $#{ $m->{tool_calls} // [] };
        $d ||= tools_match(\@tc, $w->{tools}, 1);
        $d ||= 'tool call type' if grep { ($_->{type} // '') ne 'function' } @{ $m->{tool_calls} // [] };
    }
    is $d, '', "$n: choices (text, tool calls with parsed arguments, finish reason)";
    if ($x->{usage}) {
        is usage_match($j->{usage}, $x->{usage}), '', "$n: usage";
    }
}

# ---------------------------------------------------------------- openai: relayed intact
for my $f (@oai) {
    (my $name = basename($f)) =~ s/\.sse$//;
    my @want = map { $_ eq '[DONE]' ? $_ : $RAW->decode($_) } sse_events(slurp($f));
    my $r = stream_req(chat_body("mock/fixture-$name", 'replay', stream => $T));
    my @got = map { $_ eq '[DONE]' ? $_ : (eval { $RAW->decode($_) } // "BAD: $_") } sse_events($r->{body} // '');
    is $r->{status}, 200, "openai $name: 200";
    is same_data(\@got, \@want), '', "openai $name: every event relayed intact ("
        . scalar(@want) . ' events, [DONE] last)';
}

no_key_leak();
done_testing();
