package LLMGW::Metrics;
# Reading the Prometheus text exposition of llmgw-metrics in the suites:
#   my $m = parse_metrics($text);
#   metric_value($m, 'llmgw_requests_total', provider => 'mock', ...)
#       the value of the one sample whose labels are exactly these (undef if none)
#   metric_sum($m, 'llmgw_requests_total')      every sample of a name added up
#   promtool_ok($text, $name)                    one test: `promtool check metrics`
use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use File::Temp ();
use Test::More ();

our @EXPORT_OK = qw(parse_metrics metric_value metric_sum promtool_ok);

# { types => {family => type}, samples => {name => [{labels => {}, value => N}]} }
sub parse_metrics {
    my ($text) = @_;
    my %m = (types => {}, samples => {});
    for my $line (split /\n/, $text // '') {
        if ($line =~ /^# TYPE (\S+) (\S+)/) { $m{types}{$1} = $2; next }
        next if $line =~ /^#/ || $line !~ /\S/;
        my ($name, $lab, $val) = $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/ or next;
        my %l;
        while (defined $lab && $lab =~ /\G([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gc) {
            my ($k, $v) = ($1, $2);
            $v =~ s/\\n/\n/g; $v =~ s/\\(["\\])/$1/g;
            $l{$k} = $v;
        }
        push @{ $m{samples}{$name} }, { labels => \%l, value => $val eq '+Inf' ? 9**9**9 : $val + 0 };
    }
    return \%m;
}

sub metric_value {
    my ($m, $name, %want) = @_;
    for my $s (@{ $m->{samples}{$name} // [] }) {
        my $l = $s->{labels};
        next unless keys %$l == keys %want;
        next if grep { !defined $l->{$_} || $l->{$_} ne $want{$_} } keys %want;
        return $s->{value};
    }
    return undef;
}

sub metric_sum {
    my ($m, $name) = @_;
    my $n = 0;
    $n += $_->{value} for @{ $m->{samples}{$name} // [] };
    return $n;
}

# promtool is a dependency of the suites (build/install-deps.sh installs
# Debian's prometheus package): its absence fails, it is never skipped.
sub promtool_ok {
    my ($text, $name) = @_;
    my $tool = -x '/usr/bin/promtool' ? '/usr/bin/promtool' : 'promtool';
    my $fh = File::Temp->new;
    print $fh $text;
    close $fh;
    my $out = `$tool check metrics < $fh 2>&1`;
    my $rc = $?;
    Test::More::ok($rc == 0 && $out !~ /\S/, $name)
        or Test::More::diag("promtool (exit $rc): " . substr($out, 0, 2000));
}

1;
