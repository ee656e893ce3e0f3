# One timeout rule for both upstream clients (native mod_llmgw_http.c: mock;
# libcurl: cmock), as SPEC and README say: LLMGWTimeout bounds the wait for
# the first byte and a whole non-stream answer; LLMGWIdleTimeout bounds the
# silence between a stream's events and nothing else. Mounts of
# t/conf/upstream.conf.in: /to-idle1 (Timeout 5, Idle 1) and /to-first1
# (Timeout 1, Idle 5). The mock's slow-MS waits MS before the answer (and
# before each event of a stream); hang never answers. Only statuses and
# envelopes are asserted, never durations.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

plan tests => 2 * (3 + 6 + 3 + 3 + 3 + 2 + 4), need_module('llmgw');

my $T = JSON::PP::true();

for my $p (qw(mock cmock)) {
    my $client = $p eq 'mock' ? 'native' : 'curl';

    # A non-stream answer slower than the idle timeout but within
    # LLMGWTimeout: idle does not apply to it.
    {
        my $res = post_json('/to-idle1/v1/chat/completions', chat_body("$p/slow-2000", 'patience'));
        is $res->code, 200, "$client: non-stream within LLMGWTimeout, beyond LLMGWIdleTimeout: 200"
            or diag substr($res->content // '', 0, 300);
        is((dec($res) // {})->{choices}[0]{message}{content}, 'patience', "$client: the answer relayed");
        isnt $res->header('x-llmgw') // '', '', "$client: gateway headers";
    }

    # A stream whose first event comes after the idle timeout but within
    # LLMGWTimeout starts; its later silences are bounded by the idle one.
    {
        my $res = post_json('/to-idle1/v1/chat/completions',
                            chat_body("$p/slow-2500", 'a b c d e f g h', stream => $T));
        is $res->code, 200, "$client: stream's first byte within LLMGWTimeout: started";
        my @ev = sse_events($res->decoded_content(charset => 'none'));
        ok scalar(@ev) >= 2, "$client: the first event relayed";
        is((dec($ev[0]) // {})->{choices}[0]{delta}{role}, 'assistant', "$client: role chunk first");
        my $last = dec($ev[-1]) // {};
        is $last->{error}{type}, 'timeout_error', "$client: a silence over LLMGWIdleTimeout ends it"
            or diag "last: " . ($ev[-1] // '');
        is $last->{error}{provider}, $p, "$client: error names the provider";
        ok !(grep { $_ eq '[DONE]' } @ev), "$client: no [DONE] after the stall";
    }

    # LLMGWTimeout 1: a non-stream answer later than that is a 504, even
    # with a longer idle timeout.
    {
        my $res = post_json('/to-first1/v1/chat/completions', chat_body("$p/slow-2000", 'late'));
        is $res->code, 504, "$client: non-stream beyond LLMGWTimeout: 504";
        my $e = (dec($res) // {})->{error} // {};
        is $e->{type}, 'timeout_error', "$client: timeout_error";
        is $e->{code}, 'provider_timeout', "$client: provider_timeout";
    }
    # ... and so is a stream whose first event comes later than that.
    {
        my $res = post_json('/to-first1/v1/chat/completions',
                            chat_body("$p/slow-2000", 'late', stream => $T));
        is $res->code, 504, "$client: stream's first byte beyond LLMGWTimeout: 504";
        my $e = (dec($res) // {})->{error} // {};
        is $e->{type}, 'timeout_error', "$client: stream: timeout_error";
        like $res->header('Content-Type') // '', qr{^application/json}, "$client: stream: a JSON envelope";
    }
    {
        my $res = post_json('/to-first1/v1/chat/completions', chat_body("$p/hang", 'x', stream => $T));
        is $res->code, 504, "$client: stream that never answers: 504";
        my $res2 = post_json('/to-first1/v1/chat/completions', chat_body("$p/hang", 'x'));
        is $res2->code, 504, "$client: non-stream that never answers: 504";
        my $ok = post_json('/to-first1/v1/chat/completions', chat_body("$p/echo", 'quick', stream => $T));
        my @ev = sse_events($ok->decoded_content(charset => 'none'));
        is $ev[-1], '[DONE]', "$client: a prompt stream completes";
    }
    {
        my $res = post_json('/to-first1/v1/chat/completions', chat_body("$p/echo", 'quick'));
        is $res->code, 200, "$client: a prompt answer passes";
        is((dec($res) // {})->{choices}[0]{message}{content}, 'quick', "$client: content");
    }
    # A provider whose connect gets no answer (its accept queue is full:
    # the SYNs are dropped): LLMGWConnectTimeout (2 s here) ends it.
    {
        my $hole = $p eq 'mock' ? 'hole' : 'chole';
        my $res = post_json('/v1/chat/completions', chat_body("$hole/x", 'x', stream => $T));
        is $res->code, 504, "$client: connect never answered: 504"
            or diag substr($res->content // '', 0, 300);
        my $e = (dec($res) // {})->{error} // {};
        is $e->{type}, 'timeout_error', "$client: connect timeout: timeout_error";
        is $e->{code}, 'provider_timeout', "$client: connect timeout: provider_timeout";
        my $ok = post_json('/v1/chat/completions', chat_body("$p/echo", 'after'));
        is $ok->code, 200, "$client: the next request is served";
    }
}
