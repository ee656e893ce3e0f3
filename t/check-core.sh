#!/bin/sh
# The pure core (mod_llmgw/{core,providers,store}, the satellites' core/ and
# the core headers in include/) never includes an httpd header: it is
# unit-tested without httpd and linked into every module. Fails naming each
# offending line. Run by `make -C build unit` (and so by `make test`).
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
core="mod_llmgw/core mod_llmgw/providers mod_llmgw/store mod_llmgw_cache/core mod_llmgw_quota/core"
headers=$(ls include/*.h | grep -v '^include/llmgw\.h$')   # llmgw.h: the hooks, httpd side
bad=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](httpd|http_[a-z_]+|ap_[a-z_]+|util_[a-z_]+|mod_[a-z_]+|mpm_common|scoreboard)\.h[>"]' \
      $(find $core -name '*.[ch]') $headers)
inc=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*\.c"|#[[:space:]]*include[[:space:]]*"\.\./' \
      $(find mod_llmgw* include t/unit -name '*.[ch]'))
status=0
if [ -n "$bad" ]; then
    echo "check-core: the pure core includes httpd headers:"; echo "$bad" | sed 's/^/  /'; status=1
fi
if [ -n "$inc" ]; then
    echo "check-core: a source includes a .c file or a file of a parent or sibling folder:"; echo "$inc" | sed 's/^/  /'; status=1
fi
[ $status = 0 ] && echo "check-core: the core includes no httpd header ($(find $core -name '*.c' | wc -l) sources)"
exit $status
