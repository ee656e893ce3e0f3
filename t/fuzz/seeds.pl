#!/usr/bin/perl
# Writes the JSON texts that the unit tests hold (C string literals, adjacent
# ones joined) as seed files: t/fuzz/seeds.pl OUTDIR t/unit/test_*.c
# Only texts that start with '{' or '[' and that JSON::PP can read are kept,
# and SSE streams (into OUTDIR-sse);
# the file name is a hash of the text (reruns add nothing twice).
use strict; use warnings; use JSON::PP; use Digest::MD5 qw(md5_hex);
my $out = shift or die "usage: seeds.pl OUTDIR FILE...\n";
mkdir $out; my $n = 0;
my $json = JSON::PP->new->allow_nonref;
for my $f (@ARGV) {
    local $/; open my $fh, '<', $f or next; my $src = <$fh>;
    $src =~ s{/\*.*?\*/}{}gs;
    # runs of adjacent literals
    while ($src =~ /((?:"(?:[^"\\\n]|\\.)*"\s*)+)/g) {
        my $run = $1; my $txt = '';
        while ($run =~ /"((?:[^"\\\n]|\\.)*)"/g) { $txt .= $1 }
        $txt =~ s/\\(["\\nrt0]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})/
            $1 eq 'n' ? "\n" : $1 eq 'r' ? "\r" : $1 eq 't' ? "\t" : $1 eq '0' ? "\0" :
            substr($1,0,1) eq 'x' ? chr(hex(substr($1,1))) : substr($1,0,1) eq 'u' ? "\\$1" : $1/ge;
        my $dir = $out;
        if ($txt =~ /^(?:event|data): ?\S/ && $txt =~ /\n\n/) {
            $dir = "$out-sse"; mkdir $dir;          # an SSE stream
        } else {
            next unless $txt =~ /^\s*[\[{]/ && length($txt) > 8;
            next unless eval { $json->decode($txt); 1 };
        }
        my $name = "$dir/" . substr(md5_hex($txt), 0, 16);
        next if -e $name;
        open my $o, '>', $name or die "$name: $!"; binmode $o; print $o $txt; close $o; $n++;
    }
}
print "$n seeds written to $out\n";
