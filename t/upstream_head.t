# Long response heads from the provider, through both upstream clients
# (native mod_llmgw_http.c: mock; libcurl: cmock). The native client starts
# with a 16 KB read buffer (a stream keeps it for its whole life) and grows
# it for a longer head, up to 64 KB; a head over that is refused with the
# envelope. The mock's bighead-N adds an N-byte response header.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

plan tests => 2 * 5 + 3, need_module('llmgw');

my $T = JSON::PP::true();

for my $p (qw(mock cmock)) {
    my $client = $p eq 'mock' ? 'native' : 'curl';
    # 30 KB of headers: more than the first buffer holds
    my $res = post_json('/v1/chat/completions', chat_body("$p/bighead-30000", 'long head'));
    is $res->code, 200, "$client: a 30 KB response head: 200"
        or diag substr($res->content // '', 0, 300);
    is((dec($res) // {})->{choices}[0]{message}{content}, 'long head', "$client: the answer after it");

    $res = post_json('/v1/chat/completions',
                     chat_body("$p/bighead-30000", 'a b c', stream => $T));
    is $res->code, 200, "$client: a stream with a 30 KB head: 200";
    my @ev = sse_events($res->decoded_content(charset => 'none'));
    is $ev[-1], '[DONE]', "$client: the stream completes";
    is join('', map { (dec($_) // {})->{choices}[0]{delta}{content} // '' } @ev[0 .. $#ev - 1]),
       'a b c', "$client: every event relayed";
}

# the native client's limit stands: a head over 64 KB is not an answer
my $res = post_json('/v1/chat/completions', chat_body('mock/bighead-70000', 'too long'));
is $res->code, 502, 'native: a 70 KB response head: 502';
my $e = (dec($res) // {})->{error} // {};
is $e->{provider}, 'mock', 'native: the envelope names the provider';
like $res->header('Content-Type') // '', qr{^application/json}, 'native: a JSON envelope';
