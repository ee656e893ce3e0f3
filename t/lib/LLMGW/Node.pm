package LLMGW::Node;
# An extra httpd "node" for multi-node scenarios (memcached shared between
# nodes, a node whose memcached dies...). Apache::Test runs one server with
# one server-wide LLMGWStore; a scenario that needs another store starts
# nodes of its own:
#
#   my $n = LLMGW::Node->start(name => 'a', conf => $directives);
#   my $res = $n->post('/v1/chat/completions', $body, %headers);
#   $n->url('/v1/chat/completions');  $n->error_log;  $n->stop;
#
# A node is the same httpd binary and the same modules as the Apache::Test
# server (the LoadModule lines of t/conf/base.conf, written by
# t/run-tests.sh), event MPM, on a free 127.0.0.1 port, run by the test
# user. Its base config has the mock provider (`mock`, default provider),
# `<Location /v1>` (llmgw), `<Location /health>` (llmgw-health) and
# `LLMGWStore memcached://$LLMGW_MEMCACHED`; start(store => SPEC) changes the
# store, conf => TEXT is appended at server level. Logs go to
# t/logs/node-NAME.error_log and t/logs/node-NAME.access_log, where
# t/run-tests.sh scans every *error_log*. Every node still running is
# stopped at exit.
use strict;
use warnings FATAL => 'all';

use Cwd ();
use File::Basename ();
use File::Path ();
use File::Spec ();
use File::Temp ();
use IO::Socket::INET ();
use JSON::PP ();
use LWP::UserAgent ();
use LLMGW::Test ();
use HTTP::Request ();
use Time::HiRes qw(sleep time);

my %running;      # pid => node

sub _t_dir {
    my $dir = eval { Apache::Test::vars('t_dir') };
    return $dir if $dir && -d $dir;
    $dir = File::Spec->catdir(File::Basename::dirname(__FILE__), '..', '..');
    return Cwd::abs_path($dir);
}

sub _free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, ReuseAddr => 1)
        or die "LLMGW::Node: no free port: $!\n";
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub _load_modules {
    my $t = shift;
    my $base = "$t/conf/base.conf";
    return qq(Include "$base"\n) if -f $base;
    my $m = '/usr/lib/apache2/modules';
    my $txt = '';
    $txt .= "LoadModule ${_}_module $m/mod_$_.so\n"
        for qw(mpm_event authz_core authz_host mime headers env setenvif
               deflate filter alias dir dbd);
    for my $m (['llmgw', 'LLMGW', 'mod_llmgw'], ['llmgw_cache', 'CACHE', 'mod_llmgw_cache'],
               ['llmgw_quota', 'QUOTA', 'mod_llmgw_quota']) {
        my ($mod, $env, $dir) = @$m;
        my $path = $ENV{"LLMGW_SO_$env"} // "$t/../$dir/.libs/$dir.so";
        $txt .= "LoadModule ${mod}_module $path\n";
    }
    return $txt . "TypesConfig /etc/mime.types\n";
}

# start(name => NAME, conf => TEXT, store => SPEC, timeout => S)
sub start {
    my ($class, %a) = @_;
    my $name = $a{name} // 'node';
    die "LLMGW::Node: bad name '$name'\n" unless $name =~ /^[\w.-]+$/;
    my $t = _t_dir();
    my $logs = "$t/logs";
    File::Path::make_path($logs);
    my $httpd = $ENV{HTTPD} // '/usr/sbin/apache2';
    my $mock = $ENV{LLMGW_MOCK_PORT} or die "LLMGW::Node: LLMGW_MOCK_PORT not set\n";
    my $store = $a{store}
        // ($ENV{LLMGW_MEMCACHED} ? "memcached://$ENV{LLMGW_MEMCACHED}" : 'shm');
    my $run = File::Temp::tempdir("llmgw-node-$name-XXXXXX", TMPDIR => 1,
                                  CLEANUP => 1);
    my $self = bless {
        name => $name, run => $run, t => $t,
        error_log => "$logs/node-$name.error_log",
        access_log => "$logs/node-$name.access_log",
        pid_file => "$run/httpd.pid",
        conf_file => "$run/httpd.conf",
    }, $class;

    my $last_err = '';
    for my $try (1 .. 3) {
        my $port = _free_port();
        $self->{port} = $port;
        $self->_write_conf($httpd, $store, $mock, $a{conf} // '');
        my $log_size = -s $self->{error_log} // 0;
        my $rc = system($httpd, '-d', $t, '-f', $self->{conf_file}, '-k', 'start');
        if ($rc == 0 && $self->_wait_up($a{timeout} // 15)) {
            $running{ $self->{pid} } = $self;
            return $self;
        }
        $last_err = $self->_log_tail($log_size);
        $self->stop;
        last unless $last_err =~ /Address already in use|could not bind/i;
    }
    die "LLMGW::Node '$name' did not start:\n$last_err\n";
}

sub _write_conf {
    my ($self, $httpd, $store, $mock, $extra) = @_;
    my $modules = _load_modules($self->{t});
    open my $fh, '>', $self->{conf_file} or die "$self->{conf_file}: $!\n";
    print $fh <<"EOF";
# LLMGW::Node '$self->{name}' (generated)
$modules
ServerName llmgw-node
Listen 127.0.0.1:$self->{port}
PidFile "$self->{pid_file}"
DefaultRunTimeDir "$self->{run}"
ErrorLog "$self->{error_log}"
LogLevel info
LogFormat "%h %t \\"%r\\" %>s %b %{llmgw-cache-status}n %{llmgw-request-id}n" llmgwnode
CustomLog "$self->{access_log}" llmgwnode
DocumentRoot "$self->{t}/htdocs"
KeepAlive On

<IfModule mpm_event_module>
    StartServers          2
    ServerLimit           4
    MinSpareThreads       4
    MaxSpareThreads       16
    ThreadsPerChild       8
    MaxRequestWorkers     32
    MaxConnectionsPerChild 0
</IfModule>

LLMGWStore $store
LLMGWProvider mock openai http://127.0.0.1:$mock/v1 key=env:LLMGW_TEST_PROVIDER_KEY models=echo,inspect
LLMGWDefaultProvider mock
LLMGWTimeout 5
LLMGWConnectTimeout 2

<Location /v1>
    SetHandler llmgw
</Location>
<Location /health>
    SetHandler llmgw-health
</Location>

# ---- the scenario's own directives
$extra
EOF
    close $fh;
}

sub _wait_up {
    my ($self, $timeout) = @_;
    my $ua = LWP::UserAgent->new(timeout => 2);
    my $deadline = time + $timeout;
    while (time < $deadline) {
        if (!$self->{pid} && open my $fh, '<', $self->{pid_file}) {
            my $pid = <$fh>;
            $self->{pid} = $1 if defined $pid && $pid =~ /(\d+)/;
        }
        if ($self->{pid}) {
            return 0 unless kill 0, $self->{pid};
            my $res = $ua->get($self->url('/health'));
            # up: /health answers (503 "degraded" when its store is down)
            return 1 if $res->code == 200
                || ($res->code == 503 && ($res->content // '') =~ /"degraded"/);
        }
        sleep 0.1;
    }
    return 0;
}

sub _log_tail {
    my ($self, $from) = @_;
    open my $fh, '<', $self->{error_log} or return '(no error log)';
    seek $fh, $from // 0, 0;
    local $/;
    my $txt = <$fh> // '';
    $txt = substr($txt, -3000) if length $txt > 3000;
    return $txt;
}

sub name      { $_[0]{name} }
sub port      { $_[0]{port} }
sub pid       { $_[0]{pid} }
sub error_log { $_[0]{error_log} }
sub conf_file { $_[0]{conf_file} }
sub url       { my ($self, $path) = @_; "http://127.0.0.1:$self->{port}" . ($path // '') }

# The node's error log so far (whole, or from a byte offset).
sub log_text { my ($self, $from) = @_; $self->_log_tail($from) }
sub log_size { -s $_[0]{error_log} // 0 }

# A request to the node; $body: hashref (JSON), string or undef.
my $JSON = JSON::PP->new->utf8->canonical;
sub request {
    my ($self, $method, $path, $body, @headers) = @_;
    my %h = @headers;
    my $content = ref $body ? $JSON->encode($body) : $body;
    $self->{ua} //= LWP::UserAgent->new(timeout => 30, keep_alive => 4);
    my $req = HTTP::Request->new($method => $self->url($path));
    $req->header('Content-Type' => 'application/json') if defined $content;
    $req->header($_ => $h{$_}) for keys %h;
    $req->content($content) if defined $content;
    return $self->{ua}->request($req);
}
sub post { my ($self, $path, $body, @h) = @_; $self->request('POST', $path, $body, @h) }
sub get  { my ($self, $path, @h) = @_; $self->request('GET', $path, undef, @h) }

# `apachectl -k CMD` for this node: graceful (SIGUSR1: new children, those
# in flight finish their requests), graceful-stop (SIGWINCH: the listeners
# close, the server exits once its requests are done), restart. Returns
# system()'s status.
sub ctl {
    my ($self, $cmd) = @_;
    die "LLMGW::Node: bad command '$cmd'\n" unless $cmd =~ /^(graceful|graceful-stop|restart)$/;
    my $httpd = $ENV{HTTPD} // '/usr/sbin/apache2';
    return system($httpd, '-d', $self->{t}, '-f', $self->{conf_file}, '-k', $cmd);
}

# The pids of the node's children (processes whose parent is the node).
sub children {
    my $self = shift;
    my $pid = $self->{pid} or return ();
    my @kids;
    for my $st (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $st or next;
        my $l = <$fh> // next;
        push @kids, $1 if $l =~ /^(\d+) \(.*\) \S (\d+) / && $2 == $pid;
    }
    return @kids;
}

sub stop {
    my $self = shift;
    my $pid = $self->{pid};
    if (!$pid && open my $fh, '<', $self->{pid_file}) {
        my $l = <$fh>;
        $pid = $1 if defined $l && $l =~ /(\d+)/;
    }
    return unless $pid;
    delete $running{$pid};
    if (kill 0, $pid) {
        kill 'TERM', $pid;
        LLMGW::Test::wait_for(sub { !kill 0, $pid }, 5);
        kill 'KILL', $pid if kill 0, $pid;
    }
    delete $self->{pid};
    delete $self->{ua};
}

END {
    local $?;
    $_->stop for values %running;
}

1;
