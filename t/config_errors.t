# Every directive mistake fails `apachectl -t` (httpd -t), naming the
# directive, the file and the line, instead of starting a gateway that sends
# requests without a key or never enforces a budget.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use LLMGW::Test;

my @bad = (
    [ 'unknown default provider',      'LLMGWDefaultProvider nope', 'LLMGWDefaultProvider', qr/nope/ ],
    [ 'default provider in a Location', "<Location /x>\n    LLMGWDefaultProvider ghost\n</Location>",
      'LLMGWDefaultProvider', qr/ghost/, 1 ],
    [ 'alias to an unknown provider',  'LLMGWModelAlias a nope/m', 'LLMGWModelAlias', qr/nope/ ],
    [ 'alias without a model',         'LLMGWModelAlias a mock/', 'LLMGWModelAlias', qr/PROVIDER\/MODEL/ ],
    [ 'key from an unset variable',    'LLMGWProvider p openai http://127.0.0.1:1/v1 key=env:LLMGW_SURELY_UNSET_VAR',
      'LLMGWProvider', qr/LLMGW_SURELY_UNSET_VAR is not set/ ],
    [ 'memcache:// instead of memcached://', 'LLMGWStore memcache://127.0.0.1:11211', 'LLMGWStore', qr/memcache:/ ],
    [ 'store with no server',          'LLMGWStore memcached://', 'LLMGWStore', qr/memcached/ ],
    [ 'price nan',                     'LLMGWPrice mock/m nan 1', 'LLMGWPrice', qr/'nan' is not a price/ ],
    [ 'price inf',                     'LLMGWPrice mock/m 1 inf', 'LLMGWPrice', qr/'inf' is not a price/ ],
    [ 'price negative',                'LLMGWPrice mock/m -1 1', 'LLMGWPrice', qr/not a price/ ],
    [ 'too many prices',               'LLMGWPrice mock/m 1 2 3 4 5', 'LLMGWPrice', qr/takes/ ],
    [ 'base URL without a host',       'LLMGWProvider p openai http://', 'LLMGWProvider', qr/BASE-URL/ ],
    [ 'base URL with credentials',     'LLMGWProvider p openai http://u:pw@127.0.0.1/v1', 'LLMGWProvider', qr/BASE-URL/ ],
    [ 'max body overflow',             'LLMGWMaxBody 99999999999999999999999', 'LLMGWMaxBody', qr/bytes/ ],
    [ 'max body too large',            'LLMGWMaxBody 4294967296000', 'LLMGWMaxBody', qr/bytes/ ],
    [ 'max body zero',                 'LLMGWMaxBody 0', 'LLMGWMaxBody', qr/bytes/ ],
    [ 'unknown provider type',         'LLMGWProvider p cohere http://127.0.0.1/v1', 'LLMGWProvider', qr/TYPE/ ],
    [ 'retries out of range',          'LLMGWRetries 11', 'LLMGWRetries', qr/0 to 10/ ],
    [ 'timeout nan',                   'LLMGWConnectTimeout nan', 'LLMGWConnectTimeout', qr/seconds/ ],
    [ 'provider timeout nan',          'LLMGWProvider p openai http://127.0.0.1:1/v1 timeout=nan', 'LLMGWProvider', qr/seconds/ ],
    [ 'default max tokens overflow',   'LLMGWDefaultMaxTokens 99999999999999999999', 'LLMGWDefaultMaxTokens', qr/1 to/ ],
    [ 'OTLP endpoint not http',        'LLMGWOTLPEndpoint ftp://127.0.0.1/x', 'LLMGWOTLPEndpoint', qr/http/ ],
    [ 'OTLP queue of 0',               'LLMGWOTLPEndpoint http://127.0.0.1:1 queue=0', 'LLMGWOTLPEndpoint', qr/queue=/ ],
    [ 'empty models=',                 'LLMGWProvider p openai http://127.0.0.1:1/v1 models=,,', 'LLMGWProvider', qr/models=/ ],
    [ 'responses= on anthropic',       'LLMGWProvider p anthropic http://127.0.0.1:1 responses=native', 'LLMGWProvider', qr/responses=/ ],
    [ 'responses= unknown value',      'LLMGWProvider p openai http://127.0.0.1:1/v1 responses=yes', 'LLMGWProvider', qr/native or translate/ ],
    [ 'unknown envelope',              'LLMGWEnvelope anthropic', 'LLMGWEnvelope', qr/openai or indoxhub/ ],
    [ 'response TTL zero',             'LLMGWResponseTTL 0', 'LLMGWResponseTTL', qr/30 days/ ],
    [ 'response TTL over 30 days',     'LLMGWResponseTTL 2592001', 'LLMGWResponseTTL', qr/30 days/ ],
    [ 'rule of an unknown router',     'LLMGWRoute nope tools -> mock/m', 'LLMGWRoute', qr/no LLMGWRouter named 'nope'/ ],
    [ 'rule to an unknown provider',   "LLMGWRouter r\nLLMGWRoute r tools -> ghost/m", 'LLMGWRoute', qr/ghost/, 1 ],
    [ 'rule to an unknown alias',      "LLMGWRouter r\nLLMGWRoute r -> mock/a,justaname", 'LLMGWRoute', qr/justaname/, 1 ],
    [ 'rule to a router',              "LLMGWRouter r\nLLMGWRoute r -> r", 'LLMGWRoute', qr/is a router/, 1 ],
    [ 'unknown condition',             "LLMGWRouter r\nLLMGWRoute r vision -> mock/m", 'LLMGWRoute', qr/unknown condition 'vision'/, 1 ],
    [ 'bad prompt_tokens',             "LLMGWRouter r\nLLMGWRoute r prompt_tokens>lots -> mock/m", 'LLMGWRoute', qr/prompt_tokens>N/, 1 ],
    [ 'bad header condition',          "LLMGWRouter r\nLLMGWRoute r header:X-Team -> mock/m", 'LLMGWRoute', qr/header:NAME=VALUE/, 1 ],
    [ 'rule without ->',               "LLMGWRouter r\nLLMGWRoute r tools mock/m", 'LLMGWRoute', qr/missing/, 1 ],
    [ 'router without rules',          'LLMGWRouter lonely', 'LLMGWRouter', qr/no LLMGWRoute/ ],
    [ 'router twice',                  "LLMGWRouter r\nLLMGWRouter r", 'LLMGWRouter', qr/twice/, 1 ],
    [ 'router named like an alias',    "LLMGWModelAlias r mock/m\nLLMGWRouter r\nLLMGWRoute r -> mock/m", 'LLMGWRouter', qr/both a router and an LLMGWModelAlias/, 1 ],
    [ 'weight zero',                   'LLMGWModelAlias a mock/m weight=0 mock/n', 'LLMGWModelAlias', qr/not a weight/ ],
    [ 'weight not a number',           'LLMGWModelAlias a mock/m weight=x', 'LLMGWModelAlias', qr/not a weight/ ],
    [ 'weight before a target',        'LLMGWModelAlias a weight=2 mock/m', 'LLMGWModelAlias', qr/follow a target/ ],
    [ 'weighted target unknown',       'LLMGWModelAlias a mock/m weight=2 ghost/n', 'LLMGWModelAlias', qr/ghost/ ],
    [ 'circuit of an unknown provider', 'LLMGWCircuit ghost failures=3', 'LLMGWCircuit', qr/ghost/ ],
    [ 'circuit failures zero',         'LLMGWCircuit mock failures=0', 'LLMGWCircuit', qr/failures=/ ],
    [ 'circuit cooldown nan',          'LLMGWCircuit mock cooldown=nan', 'LLMGWCircuit', qr/seconds/ ],
    [ 'circuit unknown option',        'LLMGWCircuit mock retries=3', 'LLMGWCircuit', qr/unknown option/ ],
);

plan tests => 3 * @bad + 2 + 2;

my $httpd = $ENV{HTTPD} // '/usr/sbin/apache2';
my $dir = tempdir(CLEANUP => 1, DIR => $ENV{LLMGW_WORK} // '/tmp');

# A minimal server config holding the mod_llmgw lines of one case; the
# case's text starts at line $first.
sub config_with {
    my ($extra) = @_;
    my @head = (
        "ServerRoot $dir",
        "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so",
        "LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so",
        "LoadModule llmgw_module $ENV{LLMGW_SO_LLMGW}",
        "Listen 127.0.0.1:1",
        "ServerName localhost",
        "PidFile $dir/httpd.pid",
        "ErrorLog $dir/error_log",
        "DefaultRuntimeDir $dir",
        "LLMGWProvider mock openai http://127.0.0.1:1/v1",
    );
    return (join("\n", @head, $extra) . "\n", scalar(@head) + 1);
}

my $n = 0;
sub check {
    my ($text) = @_;
    my ($conf, $first) = config_with($text);
    my $file = "$dir/case" . ++$n . ".conf";
    open my $fh, '>', $file or die "$file: $!";
    print $fh $conf;
    close $fh;
    my $out = `$httpd -t -f $file 2>&1`;
    return ($? >> 8, $out, $file, $first);
}

for my $case (@bad) {
    my ($name, $text, $directive, $detail, $line_offset) = @$case;
    my ($rc, $out, $file, $first) = check($text);
    my $line = $first + ($line_offset // 0);
    isnt $rc, 0, "$name: httpd -t fails" or diag $out;
    like $out, qr/\Q$directive\E.*$detail|$detail.*\Q$directive\E/s, "$name: names $directive and the problem"
        or diag $out;
    like $out, qr/\Q$file\E.*\b$line\b|\bline $line of \Q$file\E/s, "$name: names the file and line $line"
        or diag $out;
}

# The same directives, right: Syntax OK (the checks refuse only mistakes).
{
    my ($rc, $out) = check(join "\n",
        'LLMGWDefaultProvider mock',
        '<Location /x>', '    LLMGWDefaultProvider mock', '</Location>',
        'LLMGWModelAlias a mock/m',
        'LLMGWStore memcached://127.0.0.1:11211',
        'LLMGWPrice mock/m 0.4 1.6 0.1 0.5',
        'LLMGWMaxBody 1048576',
        'LLMGWProvider later openai http://127.0.0.1:2/v1',
        'LLMGWModelAlias b later/m',
        'LLMGWModelAlias bal mock/m weight=3 later/n weight=1',
        'LLMGWRoute hpp/auto tools json stream images prompt_tokens>10 prompt_tokens<90000 tier=pro header:X-Team=ml -> mock/t, bal',
        'LLMGWRouter hpp/auto',
        'LLMGWRoute hpp/auto -> later/x',
        'LLMGWCircuit later failures=2 window=10 cooldown=0.5',
        'LLMGWCircuit mock');
    is $rc, 0, 'a correct configuration passes httpd -t' or diag $out;
    like $out, qr/Syntax OK/, 'Syntax OK';
}
{
    local $ENV{LLMGW_SET_VAR} = 'sk-from-env';
    my ($rc, $out) = check('LLMGWProvider p openai http://127.0.0.1:1/v1 key=env:LLMGW_SET_VAR');
    is $rc, 0, 'key=env: with the variable set passes' or diag $out;
    # an alias may name a provider defined after it
    ($rc, $out) = check("LLMGWModelAlias early z/m\nLLMGWProvider z openai http://127.0.0.1:3/v1");
    is $rc, 0, 'an alias to a provider defined later passes' or diag $out;
}
