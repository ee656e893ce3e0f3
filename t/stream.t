# Streaming chat completions (stream: true): SSE framing, role first, text,
# finish_reason, usage chunk, [DONE]; no buffering (also behind a DEFLATE
# output filter); errors mid-stream as a final envelope event; fixture replay;
# client disconnect aborts the upstream transfer.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use POSIX ();
use LLMGW::Test;

plan tests => 17 + 4 + 2 * 7 + 8 + 3 + 3 + 3 + 2 + 2 + 1, need_module('llmgw');

my $CC = '/v1/chat/completions';

sub stream_req {
    my ($path, $body, %o) = @_;
    return raw_request(method => 'POST', path => $path, body => $JSON->encode($body),
                       headers => $o{headers} // {}, %o);
}

sub chunks_of {
    my $r = shift;
    my @ev = sse_events($r->{body} // '');
    return (\@ev, [ map { $_ eq '[DONE]' ? $_ : (dec($_) // { _bad => $_ }) } @ev ]);
}

# ---- basic stream ----
{
    my $text = 'The quick brown fox jumps over the lazy dog.';
    my $r = stream_req($CC, chat_body('mock/echo', $text, stream => JSON::PP::true));
    is $r->{status}, 200, 'stream: 200';
    like $r->{headers}{'content-type'} // '', qr{^text/event-stream}i, 'stream: text/event-stream';
    ok !exists $r->{headers}{'content-length'}, 'stream: no Content-Length (chunked)';
    like $r->{headers}{'x-request-id'} // '', uuid_re, 'stream: x-request-id';
    is $r->{headers}{'x-llmgw'}, 'route=mock:echo; cache=none; attempts=1', 'stream: x-llmgw';
    is $r->{headers}{'x-provider'}, 'mock', 'stream: x-provider';
    like $r->{body} // '', qr/\A(?:(?::[^\n]*\n|data: [^\n]*\n)+\n)+\z/,
        'stream: body is a sequence of "data: ...\n\n" events'
        or diag substr($r->{body} // '', 0, 400);
    my ($raw, $ev) = chunks_of($r);
    ok @$ev >= 4, 'stream: several events (' . scalar(@$ev) . ')';
    is $raw->[-1], '[DONE]', 'stream: data: [DONE] last';
    is scalar(grep { $_ eq '[DONE]' } @$raw), 1, 'stream: one [DONE]';
    my @json = grep { ref } @$ev;
    ok !grep({ $_->{_bad} } @json), 'stream: every event but [DONE] is JSON';
    is $json[0]{choices}[0]{delta}{role}, 'assistant', 'stream: first delta carries role';
    ok !grep({ ($_->{object} // '') ne 'chat.completion.chunk' } @json), 'stream: object chat.completion.chunk';
    my $got = join '', map { $_->{choices}[0]{delta}{content} // '' } grep { @{ $_->{choices} // [] } } @json;
    is $got, $text, 'stream: assembled text';
    my @fin = map { $_->{choices}[0]{finish_reason} } grep { @{ $_->{choices} // [] } && $_->{choices}[0]{finish_reason} } @json;
    is_deeply \@fin, ['stop'], 'stream: one finish_reason stop';
    ok !grep({ $_->{usage} } @json), 'stream: no usage chunk without include_usage';
    ok !exists $r->{headers}{'content-encoding'}, 'stream: not compressed';
}

# ---- stream_options.include_usage ----
{
    my $r = stream_req($CC, chat_body('mock/echo', 'count my tokens', stream => JSON::PP::true,
                                      stream_options => { include_usage => JSON::PP::true }));
    is $r->{status}, 200, 'include_usage: 200';
    my ($raw, $ev) = chunks_of($r);
    my ($u) = grep { ref && $_->{usage} } @$ev;
    ok $u && $u->{usage}{prompt_tokens} > 0 && $u->{usage}{completion_tokens} > 0,
        'include_usage: usage chunk with tokens';
    is_deeply $u ? $u->{choices} : undef, [], 'include_usage: usage chunk has empty choices';
    is $raw->[-1], '[DONE]', 'include_usage: [DONE] last';
}

# ---- no buffering: the first event arrives long before the last ----
for my $case ([ '/v1', {} ], [ '/gz/v1', { 'Accept-Encoding' => 'gzip, deflate' } ]) {
    my ($mount, $h) = @$case;
    my $r = stream_req("$mount/chat/completions",
                       chat_body('mock/slow-300', 'abcdefghijklmnop', stream => JSON::PP::true),
                       headers => $h);
    my $name = "slow stream via $mount";
    is $r->{status}, 200, "$name: 200";
    ok !defined $r->{headers}{'content-encoding'}, "$name: not compressed"
        or diag "content-encoding: " . ($r->{headers}{'content-encoding'} // '');
    like $r->{headers}{'content-type'} // '', qr{^text/event-stream}i, "$name: event stream";
    my (undef, $ev) = chunks_of($r);
    is join('', map { ref && @{ $_->{choices} // [] } ? $_->{choices}[0]{delta}{content} // '' : '' } @$ev),
        'abcdefghijklmnop', "$name: text complete";
    ok defined $r->{t_first_data}, "$name: data arrived";
    ok defined $r->{t_first_data} && $r->{t_first_data} < $r->{t_end} / 2,
        sprintf("$name: first event at %.2fs, before half of the total %.2fs",
                $r->{t_first_data} // -1, $r->{t_end});
    my %sizes = map { $_->[1] => 1 } @{ $r->{reads} };
    ok keys(%sizes) >= 4, "$name: the body arrived in several pieces (" . keys(%sizes) . ')';
}

# ---- upstream drops the connection mid-stream: final error event ----
{
    my $r = stream_req($CC, chat_body('mock/drop', 'this text will be cut short', stream => JSON::PP::true));
    is $r->{status}, 200, 'drop mid-stream: 200 (stream had started)';
    my ($raw, $ev) = chunks_of($r);
    ok @$ev >= 2, 'drop mid-stream: the chunks before the drop were relayed';
    is ref $ev->[0] && $ev->[0]{choices}[0]{delta}{role}, 'assistant', 'drop mid-stream: first chunk relayed';
    my $last = $ev->[-1];
    ok ref $last && ref $last->{error} eq 'HASH', 'drop mid-stream: last event is {"error":...}'
        or diag "last event: $raw->[-1]";
    my $e = ref $last && ref $last->{error} eq 'HASH' ? $last->{error} : {};
    is $e->{type}, 'provider_error', 'drop mid-stream: type provider_error';
    is $e->{provider}, 'mock', 'drop mid-stream: provider mock';
    is $e->{request_id}, $r->{headers}{'x-request-id'}, 'drop mid-stream: request_id';
    ok !grep({ $_ eq '[DONE]' } @$raw), 'drop mid-stream: no [DONE] after the error';
}

# ---- an error before the first byte is a JSON envelope, not SSE ----
{
    my $r = stream_req($CC, chat_body('mock/error-429', 'x', stream => JSON::PP::true));
    is $r->{status}, 429, 'stream + upstream 429: 429';
    like $r->{headers}{'content-type'} // '', qr{^application/json}i, 'stream + upstream 429: JSON envelope';
    is eval { dec($r->{body})->{error}{type} }, 'rate_limit_error', 'stream + upstream 429: rate_limit_error';
}

# ---- recorded OpenAI stream relayed intact ----
{
    my $name = 'test_parse_pydantic_tool';
    my $file = "$ENV{LLMGW_FIXTURES}/openai/$name.sse";
    open my $fh, '<:raw', $file or die "$file: $!";
    my $want = do { local $/; <$fh> };
    my $r = stream_req($CC, chat_body("mock/fixture-$name", 'x', stream => JSON::PP::true));
    is $r->{status}, 200, 'fixture replay: 200';
    my @want = map { $_ eq '[DONE]' ? $_ : dec($_) } sse_events($want);
    my (undef, $got) = chunks_of($r);
    is scalar(@$got), scalar(@want), 'fixture replay: same number of events';
    is_deeply $got, \@want, 'fixture replay: every event intact';
}

# ---- client disconnects mid-stream: upstream transfer aborted ----
{
    my $before = mock_stats()->{aborted};
    my $r = stream_req($CC, chat_body('mock/slow-200', 'a' x 200, stream => JSON::PP::true),
                       stop_after => qr/"content":"a/);
    ok $r->{closed_early}, 'disconnect: client closed after the first content chunk';
    my $t0 = time;
    my $after = $before;
    wait_for(sub { ($after = mock_stats()->{aborted}) > $before }, 2.5, 0.1);
    ok $after > $before, sprintf('disconnect: upstream transfer aborted (%.1fs after)', time - $t0);
    my $res = Apache::TestRequest::GET('/health');
    is $res->code, 200, 'disconnect: gateway still healthy';
}

# ---- concurrent streams run side by side ----
{
    my $n = 8;
    my $body = chat_body('mock/slow-200', 'abcdefgh', stream => JSON::PP::true);
    my $t0 = time;
    my @kids;
    for (1 .. $n) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $r = stream_req($CC, $body);
            my @ev = sse_events($r->{body} // '');
            POSIX::_exit(($r->{status} // 0) == 200 && @ev && $ev[-1] eq '[DONE]' ? 0 : 1);
        }
        push @kids, $pid;
    }
    my $ok = 0;
    for (@kids) { waitpid $_, 0; $ok++ if $? == 0 }
    my $dt = time - $t0;
    is $ok, $n, "concurrent: $n streams complete";
    ok $dt < 2.5, sprintf('concurrent: %d streams of ~1 s took %.2f s (not serialised)', $n, $dt);
}

# ---- errors: unreachable provider before the first byte ----
{
    my $r = stream_req($CC, chat_body('dead/x', 'x', stream => JSON::PP::true));
    is $r->{status}, 502, 'stream to dead provider: 502';
    like $r->{headers}{'content-type'} // '', qr{^application/json}i, 'stream to dead provider: JSON envelope';
}
no_key_leak();
