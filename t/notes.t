# Request notes (SPEC "Observability", usable as %{NAME}n in LogFormat) are
# set at the end of the response, so a stream's line has its tokens, cost
# and time to first token like a non-stream answer's (the llmgw_notes
# LogFormat of t/conf/extra.conf.in).
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LLMGW::Test;

plan tests => 4 * 8 + 2, need_module('llmgw');

# fields: id provider model status prompt completion %>s %U cost ttft cache workspace key
sub log_line {
    my ($rid) = @_;
    my $log = Apache::Test::vars('t_logs') . '/llmgw_notes_log';
    for (1 .. 50) {                    # the line is written after the response
        if (open my $fh, '<', $log) {
            my ($line) = grep { /^\Q$rid\E / } <$fh>;
            return [ split ' ', $line ] if $line;
        }
        select undef, undef, undef, 0.1;
    }
    return [];
}

my @cases = (
    [ 'OpenAI-format stream', 'mock/qpriced', 1, 'mock' ],
    [ 'translated Anthropic stream', 'mockant/echo', 1, 'mockant' ],
    [ 'translated Gemini stream', 'mockgem/echo', 1, 'mockgem' ],
    [ 'non-stream', 'mock/qpriced', 0, 'mock' ],
);
for my $c (@cases) {
    my ($name, $model, $stream, $prov) = @$c;
    my $body = chat_body($model, "notes for $name, a few words");
    if ($stream) {
        $body->{stream} = JSON::PP::true();
        $body->{stream_options} = { include_usage => JSON::PP::true() };
    }
    my $res = raw_request(method => 'POST', path => '/v1/chat/completions',
                          body => $JSON->encode($body), timeout => 20);
    is $res->{status}, 200, "$name: 200";
    my $rid = $res->{headers}{'x-request-id'} // 'none';
    my $f = log_line($rid);
    is $f->[1], $prov, "$name: provider note";
    like $f->[4] // '-', qr/^[1-9]\d*$/, "$name: prompt tokens note";
    like $f->[5] // '-', qr/^[1-9]\d*$/, "$name: completion tokens note";
    like $f->[9] // '-', qr/^\d+$/, "$name: llmgw-ttft-ms";
    if ($model =~ /qpriced/) {
        my $want = (($f->[4] // 0) + ($f->[5] // 0)) * 1000 / 1e6;
        ok abs(($f->[8] =~ /^[\d.eE+-]+$/ ? $f->[8] : -1) - $want) < 1e-9, "$name: llmgw-cost = tokens x price"
            or diag "cost $f->[8], want $want";
    }
    else {
        is $f->[8], '-', "$name: no cost without a price";
    }
    is $f->[10], '-', "$name: no cache note where no cache is on";
    unlike join(' ', @$f), qr/\Q${\ provider_key()}\E/, "$name: no key in the log line";
}
{
    my $res = raw_request(method => 'POST', path => '/cache/v1/chat/completions',
                          body => $JSON->encode(chat_body('echo', "notes cache $$ " . time)), timeout => 20);
    my $f = log_line($res->{headers}{'x-request-id'} // 'none');
    is $f->[10], 'MISS', 'cache note on a cache location';
}
no_key_leak();
