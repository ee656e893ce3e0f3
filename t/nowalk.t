# A gateway location has no file behind it: like mod_proxy's, it skips the
# directory and file walk (README "How a request stays cheap"). /nowalk is
# an Alias of a directory that `Require all denied` guards (t/conf/extra.conf.in):
# the gateway's /nowalk/v1 answers anyway, the directory's files do not.
use strict;
use warnings FATAL => 'all';
use FindBin; use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use LLMGW::Test;

plan tests => 4, need_module('llmgw', 'alias');

my $res = post_json('/nowalk/v1/chat/completions', chat_body('mock/echo', 'no walk'));
is $res->code, 200, 'the gateway location is not under the <Directory> section'
    or diag substr($res->content // '', 0, 300);
my $j = dec($res) // {};
is $j->{object}, 'chat.completion', 'a chat completion';
ok defined $res->header('x-request-id'), 'the gateway answered';
is GET('/nowalk/httpd.conf')->code, 403, 'the directory itself is denied (the section is in force)';
