package LLMGW::Memcached;
# A memcached of one test only (Debian's `memcached`), on a free 127.0.0.1
# port, so that the test can kill, pause (SIGSTOP) and restart it:
#
#   my $port = free_port();
#   my $pid = mc_start($port) or BAIL_OUT(...);   # answering, or undef
#   mc_answers($port);                             # within a second?
#   mc_stop($pid);
use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use IO::Socket::INET ();
use IO::Select ();
use POSIX ();
use Time::HiRes qw(time sleep);

our @EXPORT = qw(free_port mc_answers mc_start mc_stop);

# A port nothing listens on now (the OS chose it).
sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, ReuseAddr => 1) or die "no free port: $!\n";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# Whether memcached answers within a second (a paused one accepts the
# connection and never answers: never a blocking read).
sub mc_answers {
    my $port = shift;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1) or return 0;
    print $s "version\r\n";
    return 0 unless IO::Select->new($s)->can_read(1);
    my $n = sysread($s, my $l, 64) // 0;
    return $n && $l =~ /^VERSION/;
}

# memcached on port, 16 MB; its pid once it answers (within 5 s), else undef.
sub mc_start {
    my $port = shift;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        { exec 'memcached', '-l', '127.0.0.1', '-p', $port, '-U', '0', '-m', '16' };
        POSIX::_exit(127);
    }
    my $until = time + 5;
    while (time < $until) {
        return $pid if mc_answers($port);
        sleep 0.05;
    }
    kill 'TERM', $pid;
    waitpid $pid, 0;
    return undef;
}

sub mc_stop {
    my $pid = shift;
    kill 'CONT', $pid;              # a paused one must see the TERM
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

1;
