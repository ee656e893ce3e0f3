package LLMGW::Postgres;
# A throw-away PostgreSQL server for the suites that need a real one
# (Debian's `postgresql` package): a cluster made with initdb in a temporary
# directory, started with pg_ctl on a free 127.0.0.1 port by the user the
# tests run as (never root: initdb refuses it), trust authentication on
# loopback only, stopped (and its directory removed) at the end.
#
#   my $pg = LLMGW::Postgres->start or skip...;   # undef when not installed
#   $pg->dbd_params;          # DBDParams for mod_dbd's pgsql driver
#   $pg->psql('SELECT 1');    # the output of one statement (-At)
#   $pg->dump;                # pg_dump of the database (text)
#   $pg->data_dir;            # the cluster's files
#   $pg->stop;
use strict;
use warnings FATAL => 'all';

use File::Temp ();
use IO::Socket::INET ();

my @running;

sub bin_dir {
    my @dirs = sort { ($b =~ /(\d+)/)[0] <=> ($a =~ /(\d+)/)[0] }
               grep { -x "$_/initdb" && -x "$_/pg_ctl" } glob('/usr/lib/postgresql/*/bin');
    return $dirs[0];
}

sub _free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, ReuseAddr => 1) or die "no free port: $!\n";
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub start {
    my ($class) = @_;
    my $bin = bin_dir() or return undef;
    my $dir = File::Temp::tempdir('llmgw-pg-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $self = bless { bin => $bin, dir => $dir, data => "$dir/data",
                       user => 'llmgw', db => 'llmgw' }, $class;
    my $log = "$dir/initdb.log";
    system("$bin/initdb -D '$self->{data}' -U llmgw -A trust -E UTF8 --no-locale >'$log' 2>&1") == 0
        or die "initdb failed:\n" . _slurp($log);
    for my $try (1 .. 3) {
        $self->{port} = _free_port();
        my $opts = "-c listen_addresses=127.0.0.1 -p $self->{port} -k '$dir' -c fsync=off";
        if (system("$bin/pg_ctl -D '$self->{data}' -o \"$opts\" -l '$dir/pg.log' -w -t 30 start >/dev/null 2>&1") == 0) {
            push @running, $self;
            $self->{up} = 1;
            last;
        }
    }
    die "PostgreSQL did not start:\n" . _slurp("$dir/pg.log") unless $self->{up};
    system("$bin/createdb -h 127.0.0.1 -p $self->{port} -U llmgw llmgw") == 0
        or die "createdb failed\n";
    return $self;
}

sub _slurp { my $f = shift; open my $fh, '<', $f or return ''; local $/; <$fh> // '' }

sub port       { $_[0]{port} }
sub data_dir   { $_[0]{data} }
sub dbd_params { "host=127.0.0.1 port=$_[0]{port} dbname=llmgw user=llmgw" }

sub psql {
    my ($self, $sql) = @_;
    open my $fh, '-|', "$self->{bin}/psql", '-h', '127.0.0.1', '-p', $self->{port},
        '-U', 'llmgw', '-d', 'llmgw', '-At', '-c', $sql or die "psql: $!\n";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    $out =~ s/\s+\z//;
    return $out;
}

sub dump {
    my $self = shift;
    open my $fh, '-|', "$self->{bin}/pg_dump", '-h', '127.0.0.1', '-p', $self->{port},
        '-U', 'llmgw', 'llmgw' or die "pg_dump: $!\n";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return $out;
}

# Every byte of the cluster's files (after a checkpoint), to search for a
# string that must never be stored.
sub raw_files {
    my $self = shift;
    $self->psql('CHECKPOINT');
    my $all = '';
    my @todo = ($self->{data});
    while (my $d = shift @todo) {
        opendir my $dh, $d or next;
        for my $e (readdir $dh) {
            next if $e eq '.' || $e eq '..';
            my $p = "$d/$e";
            if (-d $p) { push @todo, $p; next }
            open my $fh, '<:raw', $p or next;
            local $/;
            $all .= <$fh> // '';
        }
    }
    return $all;
}

sub stop {
    my $self = shift;
    return unless $self->{up};
    system("$self->{bin}/pg_ctl -D '$self->{data}' -m fast -w -t 30 stop >/dev/null 2>&1");
    $self->{up} = 0;
}

END {
    local $?;
    $_->stop for @running;
}

1;
