# Packaging: `make -C build install` (its install-files part, staged with
# DESTDIR) installs the three modules and Debian's llmgw.load,
# llmgw_cache.load, llmgw_quota.load and .conf files; `a2enmod llmgw_quota`
# in a scratch copy of an /etc/apache2 tree enables llmgw with it (the
# Depends: line), and httpd accepts the result (httpd -t). The documented
# full example config passes httpd -t too. The machine's own /etc/apache2
# is never touched.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Temp ();
use File::Compare ();
use LLMGW::Test;

plan tests => 16, need_module('llmgw');

my $build = $ENV{LLMGW_BUILD} // "$FindBin::Bin/../build";
my $httpd = $ENV{HTTPD} // '/usr/sbin/apache2';
my @so = (SO_LLMGW => $ENV{LLMGW_SO_LLMGW}, SO_CACHE => $ENV{LLMGW_SO_CACHE},
          SO_QUOTA => $ENV{LLMGW_SO_QUOTA});
my %so = @so;
my @vars = map { "$so[2 * $_]=$so[2 * $_ + 1]" } 0 .. 2;

sub run_cmd {
    my ($env, @cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        @ENV{ keys %$env } = values %$env;
        exec @cmd or exit 127;
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

# ---- make install, staged
my $dest = File::Temp::tempdir(CLEANUP => 1);
my ($rc, $out) = run_cmd({}, 'make', '-s', '-C', $build, 'install-files', "DESTDIR=$dest", @vars);
is $rc, 0, 'make install-files DESTDIR=... succeeds' or diag $out;
my $mods = "$dest/usr/lib/apache2/modules";
my $avail = "$dest/etc/apache2/mods-available";
ok File::Compare::compare("$mods/mod_llmgw.so", $so{SO_LLMGW}) == 0, 'mod_llmgw.so installed';
ok -f "$mods/mod_llmgw_cache.so" && -f "$mods/mod_llmgw_quota.so", 'mod_llmgw_cache.so and mod_llmgw_quota.so installed';
ok((grep { -f "$avail/$_" } map { ("$_.load", "$_.conf") } qw(llmgw llmgw_cache llmgw_quota)) == 6,
   'llmgw{,_cache,_quota}.{load,conf} in mods-available');
my $load = do { local (@ARGV, $/) = "$avail/llmgw.load"; <> };
like $load, qr{^LoadModule llmgw_module /usr/lib/apache2/modules/mod_llmgw\.so$}m, 'llmgw.load';
my $qload = do { local (@ARGV, $/) = "$avail/llmgw_quota.load"; <> };
like $qload, qr/^# Depends: llmgw$/m, 'llmgw_quota.load depends on llmgw';

# ---- installed into a scratch tree (MODDIR and APACHE_CONFDIR), a2enmod, httpd -t
my $root = File::Temp::tempdir(CLEANUP => 1);
my $conf = "$root/etc/apache2";
($rc, $out) = run_cmd({}, 'make', '-s', '-C', $build, 'install-files', "MODDIR=$root/modules",
                      "APACHE_CONFDIR=$conf", @vars);
is $rc, 0, 'make install-files MODDIR=... APACHE_CONFDIR=...' or diag $out;
mkdir "$conf/mods-enabled";
mkdir "$root/state";
for my $m (qw(mpm_event authz_core)) {
    open my $f, '>', "$conf/mods-available/$m.load" or die $!;
    print $f "LoadModule ${m}_module /usr/lib/apache2/modules/mod_$m.so\n";
}
open my $ev, '>', "$conf/envvars" or die $!;
close $ev;
my %a2 = (APACHE_CONFDIR => $conf, APACHE_STATE_DIRECTORY => "$root/state", APACHE_ENVVARS => "$conf/envvars");
SKIP: {
    skip 'a2enmod is not installed (Debian apache2)', 6 unless -x '/usr/sbin/a2enmod';
    ($rc, $out) = run_cmd(\%a2, '/usr/sbin/a2enmod', '-q', 'mpm_event', 'authz_core', 'llmgw_quota', 'llmgw_cache');
    is $rc, 0, 'a2enmod llmgw_quota llmgw_cache' or diag $out;
    ok -l "$conf/mods-enabled/llmgw.load", 'llmgw enabled as their dependency';
    ok -l "$conf/mods-enabled/llmgw_quota.load" && -l "$conf/mods-enabled/llmgw_quota.conf",
       'llmgw_quota .load and .conf enabled';
    ok -l "$conf/mods-enabled/llmgw.conf", 'llmgw.conf enabled';
    open my $hc, '>', "$root/httpd.conf" or die $!;
    print $hc <<"EOF";
ServerRoot $conf
ServerName localhost
PidFile $root/httpd.pid
ErrorLog $root/error.log
DefaultRuntimeDir $root
Listen 127.0.0.1:1
IncludeOptional $conf/mods-enabled/*.load
IncludeOptional $conf/mods-enabled/*.conf
EOF
    close $hc;
    ($rc, $out) = run_cmd({}, $httpd, '-t', '-f', "$root/httpd.conf");
    is $rc, 0, 'httpd -t with the enabled modules' or diag $out;
    ($rc, $out) = run_cmd({}, $httpd, '-M', '-f', "$root/httpd.conf");
    like $out, qr/llmgw_module.*llmgw_quota_module|llmgw_quota_module.*llmgw_module/s, 'httpd -M lists them';
}

# ---- the full example configuration
($rc, $out) = run_cmd({ OPENAI_API_KEY => 'x', ANTHROPIC_API_KEY => 'y' }, $httpd, '-t',
                      '-f', "$build/llmgw-full.conf", '-C', "Define LLMGW_MODULES $mods",
                      '-C', "Define LLMGW_RUN $root");
is $rc, 0, 'build/llmgw-full.conf: httpd -t' or diag $out;
($rc, $out) = run_cmd({ ANTHROPIC_API_KEY => 'y' }, $httpd, '-t',
                      '-f', "$build/llmgw-full.conf", '-C', "Define LLMGW_MODULES $mods",
                      '-C', "Define LLMGW_RUN $root");
isnt $rc, 0, 'build/llmgw-full.conf without OPENAI_API_KEY: refused';
like $out, qr/OPENAI_API_KEY/, 'the error names the variable';
