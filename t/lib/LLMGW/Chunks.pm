package LLMGW::Chunks;
# Reading an OpenAI chat.completion.chunk SSE body the way a client does:
# every event decoded, the stream assembled per choice (role, text, tool
# calls by index, finish reasons), the usage chunk, the error event and the
# position of [DONE]. Used by the translation, fixture and fallback suites.
#
#   my $s = assemble($body);
#   $s->{choices}{0}{text}, $s->{choices}{0}{tool_calls}[0]{arguments} ...
#
# And same_data($got, $want): deep comparison of decoded JSON where numbers
# compare numerically (a re-serialised 0.1 may come back as
# 0.10000000000000001), returning '' when equal or the first difference.
use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use JSON::PP ();
use B ();
use Scalar::Util qw(looks_like_number);
use LLMGW::Test qw(sse_events);

our @EXPORT = qw(assemble same_data);

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

# assemble($body) -> {
#   events      => [ data strings ], json => [ decoded or undef ],
#   bad         => [ events that are neither JSON nor [DONE] ],
#   done        => number of [DONE], done_last => [DONE] is the last event,
#   error       => the error object of a {"error":...} event (undef if none),
#   error_last  => the error event is the last event,
#   chunks      => number of chat.completion.chunk events,
#   not_chunk   => number of JSON events that are neither chunks nor errors,
#   ids         => { id => count }, models => { model => count },
#   usage       => usage of the last chunk that carried one,
#   usage_chunks=> number of chunks with a usage object,
#   usage_choices_empty => every usage chunk had choices: [],
#   usage_after_finish  => the usage chunk came after every finish_reason,
#   choices => { INDEX => {
#       first_delta_role => role in the first delta of this choice (or undef),
#       role  => first role seen, text => concatenated content (undef if none),
#       finish => [ finish reasons in order ], finish_last => the chunk with
#       a finish_reason was the last chunk of this choice,
#       tool_calls => [ by tool index: { index, id, type, name, arguments,
#                       first => the first delta of this call (hash),
#                       deltas => number of deltas, arg_deltas => number of
#                       non-empty argument deltas, ids => [ every id sent ] } ],
#       refusal => concatenated refusal deltas,
#       bad_tool_index => a tool-call delta had no usable index } } }
sub assemble {
    my $body = shift // '';
    my %s = (events => [], json => [], bad => [], done => 0, done_last => 0,
             error => undef, error_last => 0, chunks => 0, not_chunk => 0,
             ids => {}, models => {}, usage => undef, usage_chunks => 0,
             usage_choices_empty => 1, usage_after_finish => 1, choices => {});
    my @ev = sse_events($body);
    $s{events} = \@ev;
    my $seen_finish_after_usage = 0;
    my $last_choice_chunk_of = {};
    for my $i (0 .. $#ev) {
        my $data = $ev[$i];
        if ($data eq '[DONE]') {
            $s{done}++;
            $s{done_last} = ($i == $#ev) ? 1 : 0;
            push @{ $s{json} }, undef;
            next;
        }
        my $j = eval { $JSON->decode($data) };
        push @{ $s{json} }, $j;
        if (ref $j ne 'HASH') {
            push @{ $s{bad} }, $data;
            next;
        }
        if (exists $j->{error}) {
            $s{error} = $j->{error};
            $s{error_last} = ($i == $#ev) ? 1 : 0;
            next;
        }
        if (($j->{object} // '') ne 'chat.completion.chunk') {
            $s{not_chunk}++;
            next;
        }
        $s{chunks}++;
        $s{ids}{ $j->{id} // '' }++;
        $s{models}{ $j->{model} // '' }++;
        if (ref $j->{usage} eq 'HASH') {
            $s{usage} = $j->{usage};
            $s{usage_chunks}++;
            $s{usage_choices_empty} = 0
                unless ref $j->{choices} eq 'ARRAY' && !@{ $j->{choices} };
        }
        for my $c (@{ ref $j->{choices} eq 'ARRAY' ? $j->{choices} : [] }) {
            my $idx = $c->{index} // 0;
            my $ch = $s{choices}{$idx} //= { finish => [], tool_calls => [], n => 0 };
            my $d = ref $c->{delta} eq 'HASH' ? $c->{delta} : {};
            $ch->{first_delta_role} = $d->{role} if $ch->{n}++ == 0;
            $ch->{role} //= $d->{role};
            $ch->{text} .= $d->{content} if defined $d->{content} && !ref $d->{content};
            $ch->{refusal} .= $d->{refusal} if defined $d->{refusal} && !ref $d->{refusal};
            for my $tc (@{ ref $d->{tool_calls} eq 'ARRAY' ? $d->{tool_calls} : [] }) {
                my $k = $tc->{index};
                if (!defined $k || !looks_like_number($k) || $k < 0) {
                    $ch->{bad_tool_index} = 1;      # a delta without a usable index
                    next;
                }
                my $t = $ch->{tool_calls}[$k] //= { index => $k, deltas => 0, arg_deltas => 0, ids => [] };
                $t->{first} //= $tc;
                $t->{deltas}++;
                if (defined $tc->{id}) { push @{ $t->{ids} }, $tc->{id}; $t->{id} //= $tc->{id} }
                $t->{type} //= $tc->{type};
                my $f = ref $tc->{function} eq 'HASH' ? $tc->{function} : {};
                $t->{name} //= $f->{name};
                if (defined $f->{arguments}) {
                    $t->{arguments} .= $f->{arguments};
                    $t->{arg_deltas}++ if length $f->{arguments};
                }
            }
            if (defined $c->{finish_reason}) {
                push @{ $ch->{finish} }, $c->{finish_reason};
                $seen_finish_after_usage = 1 if $s{usage_chunks};
            }
            $last_choice_chunk_of->{$idx} = defined $c->{finish_reason} ? 1 : 0;
        }
    }
    $s{usage_after_finish} = 0 if $seen_finish_after_usage;
    $s{choices}{$_}{finish_last} = $last_choice_chunk_of->{$_} for keys %{ $s{choices} };
    return \%s;
}

# same_data($got, $want): '' when equal, else where they differ.
sub same_data {
    my ($g, $w, $path) = @_;
    $path //= '$';
    if (!defined $w) {
        return defined $g ? "$path: got " . _show($g) . ', want null' : '';
    }
    return "$path: got null, want " . _show($w) unless defined $g;
    if (JSON::PP::is_bool($w) || JSON::PP::is_bool($g)) {
        return (JSON::PP::is_bool($w) && JSON::PP::is_bool($g) && !!$w == !!$g) ? ''
             : "$path: got " . _show($g) . ', want ' . _show($w);
    }
    if (ref $w eq 'HASH') {
        return "$path: got " . _show($g) . ', want an object' unless ref $g eq 'HASH';
        for my $k (sort keys %$w) {
            return "$path: key '$k' missing" unless exists $g->{$k};
            my $d = same_data($g->{$k}, $w->{$k}, "$path.$k");
            return $d if $d;
        }
        for my $k (sort keys %$g) {
            return "$path: unexpected key '$k'" unless exists $w->{$k};
        }
        return '';
    }
    if (ref $w eq 'ARRAY') {
        return "$path: got " . _show($g) . ', want an array' unless ref $g eq 'ARRAY';
        return "$path: " . @$g . ' elements, want ' . @$w if @$g != @$w;
        for my $i (0 .. $#$w) {
            my $d = same_data($g->[$i], $w->[$i], "$path\[$i\]");
            return $d if $d;
        }
        return '';
    }
    return "$path: got " . _show($g) . ', want ' . _show($w) if ref $g;
    if (_is_num($w) && _is_num($g)) {
        my $tol = 1e-9 * (abs($w) > 1 ? abs($w) : 1);
        return abs($g - $w) <= $tol ? '' : "$path: got $g, want $w";
    }
    return "$g" eq "$w" ? '' : "$path: got " . _show($g) . ', want ' . _show($w);
}

# A JSON number (not a string that looks like one).
sub _is_num {
    my $f = B::svref_2object(\$_[0])->FLAGS;
    return ($f & (B::SVp_IOK() | B::SVp_NOK())) && !($f & B::SVp_POK()) ? 1 : 0;
}

sub _show {
    my $v = shift;
    my $t = eval { $JSON->encode($v) } // "$v";
    return length $t > 120 ? substr($t, 0, 117) . '...' : $t;
}

1;
