#!/usr/bin/env bash
# llmgw integration tests: the Apache::Test suites t/*.t against a real httpd
# with the three built modules, a real memcached and the mock provider
# (t/mock/provider.js), all on 127.0.0.1 with ports picked by the OS.
#
#   t/run-tests.sh            (what `make -C build integration` runs)
#
# Everything runs in a fresh copy of t/ under /tmp/llmgw-t.XXXXXX; as root the
# copy belongs to the unprivileged user llmgwtest (Apache::Test refuses root).
# Afterwards t/logs/*error_log* (main server and extra nodes) are scanned: a crash, or an entry at level
# error/crit/alert/emerg that no regex of t/log-allow.txt allows, fails the run.
# The last line is always "N passed, N failed".
#
# Environment:
#   LLMGW_SHARED_DIR   the shared contract dir (default: TOP/../shared)
#   LLMGW_SO_LLMGW, LLMGW_SO_CACHE, LLMGW_SO_QUOTA   module paths (default: built ones)
#   LLMGW_SDK_CACHE    where t/sdk's node_modules is cached (default ~/.cache/llmgw)
#   LLMGW_KEEP_TMP=1   keep the temp dir even when everything passed
#   LLMGW_TESTS="t/health.t t/chat.t"   run only these suites
#   LLMGW_VERBOSE=1    print every test line (Apache::Test -verbose)
#   LLMGW_SANITIZE=1   the modules are the ASan/UBSan build (make -C build
#                      integration-asan): httpd (Apache::Test's and every
#                      LLMGW::Node) runs with the sanitizer runtime preloaded,
#                      reports go to t/logs/asan.PID / ubsan.PID and any
#                      report fails the run
set -u

TEST_USER=llmgwtest
APXS=${APXS:-/usr/bin/apxs}
HTTPD=${HTTPD:-/usr/sbin/apache2}
PROVIDER_KEY=sk-test-provider-secret-123

say()  { printf 'run-tests: %s\n' "$*"; }
die()  { printf 'run-tests: %s\n' "$*" >&2; echo "0 passed, 0 failed"; exit 1; }

# --------------------------------------------------------------------------
# Outer part: prepare the temp copy, then run the inner part as the test user.
# --------------------------------------------------------------------------
outer() {
    local t_src top shared work so_dir rc
    t_src=$(cd "$(dirname "$0")" && pwd)
    top=$(cd "$t_src/.." && pwd)
    shared=${LLMGW_SHARED_DIR:-$top/../shared}
    [ -d "$shared" ] || die "shared dir $shared not found (set LLMGW_SHARED_DIR)"
    shared=$(cd "$shared" && pwd)

    local so_llmgw=${LLMGW_SO_LLMGW:-$top/mod_llmgw/.libs/mod_llmgw.so}
    local so_cache=${LLMGW_SO_CACHE:-$top/mod_llmgw_cache/.libs/mod_llmgw_cache.so}
    local so_quota=${LLMGW_SO_QUOTA:-$top/mod_llmgw_quota/.libs/mod_llmgw_quota.so}
    for so in "$so_llmgw" "$so_cache" "$so_quota"; do
        [ -f "$so" ] || die "module $so not built (make -C build modules)"
    done

    work=$(mktemp -d /tmp/llmgw-t.XXXXXX) || die "mktemp failed"
    chmod 755 "$work"
    # t/ and, for t/install.t, what `make install` installs from build/
    tar -C "$top" --exclude=t/sdk/node_modules --exclude=t/logs --exclude=t/unit \
        -cf - t build/Makefile build/debian build/llmgw-example.conf build/llmgw-full.conf \
        | tar -C "$work" -xf - || die "cannot copy t/ to $work"
    mkdir -p "$work/home" "$work/run" "$work/t/htdocs"
    [ -f "$work/t/htdocs/index.html" ] || echo "llmgw test docroot" > "$work/t/htdocs/index.html"

    sdk_deps "$top" "$work"

    local as_user=()
    if [ "$(id -u)" = 0 ]; then
        if ! id "$TEST_USER" >/dev/null 2>&1; then
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$TEST_USER" 2>/dev/null \
                || id "$TEST_USER" >/dev/null 2>&1 \
                || die "cannot create user $TEST_USER"
        fi
        chown -R "$TEST_USER:" "$work"
        as_user=(runuser -u "$TEST_USER" --)
    fi
    can_read() { "${as_user[@]}" test -r "$1"; }

    # Modules by absolute path when the test user can read them, else copies.
    so_dir="$work/modules"
    local v so
    for v in so_llmgw so_cache so_quota; do
        so=${!v}
        case $so in /*) ;; *) so=$(cd "$(dirname "$so")" && pwd)/$(basename "$so");; esac
        if ! can_read "$so"; then
            mkdir -p "$so_dir"
            cp "$so" "$so_dir/" && so="$so_dir/$(basename "$so")"
            [ -n "${as_user[*]}" ] && chown -R "$TEST_USER:" "$so_dir"
        fi
        printf -v "$v" '%s' "$so"
    done

    local fixtures="$shared/fixtures"
    if ! can_read "$fixtures/README.md"; then
        cp -r "$fixtures" "$work/fixtures" && fixtures="$work/fixtures"
        [ -n "${as_user[*]}" ] && chown -R "$TEST_USER:" "$work/fixtures"
    fi

    say "running in $work"
    "${as_user[@]}" env \
        HOME="$work/home" \
        LLMGW_WORK="$work" \
        LLMGW_TOP="$top" \
        LLMGW_BUILD="$work/build" \
        LLMGW_SHARED_DIR="$shared" \
        LLMGW_FIXTURES="$fixtures" \
        LLMGW_SO_LLMGW="$so_llmgw" \
        LLMGW_SO_CACHE="$so_cache" \
        LLMGW_SO_QUOTA="$so_quota" \
        LLMGW_TESTS="${LLMGW_TESTS:-}" LLMGW_VERBOSE="${LLMGW_VERBOSE:-}" \
        LLMGW_SANITIZE="${LLMGW_SANITIZE:-}" \
        LLMGW_ASAN_RT="$( [ -n "${LLMGW_SANITIZE:-}" ] && ${CC:-gcc} -print-file-name=libasan.so)" \
        APXS="$APXS" HTTPD="$HTTPD" \
        bash "$work/t/run-tests.sh" --inner &
    local child=$!
    trap 'kill -TERM $child 2>/dev/null' INT TERM HUP
    wait $child; rc=$?
    # A signal interrupts the first wait; wait again for the inner cleanup.
    while kill -0 $child 2>/dev/null; do wait $child; rc=$?; done
    trap - INT TERM HUP

    if [ $rc = 0 ] && [ -z "${LLMGW_KEEP_TMP:-}" ]; then
        rm -rf "$work"
    else
        say "logs kept in $work/t/logs and $work/run"
    fi
    exit $rc
}

# The openai SDK for t/sdk_openai.t: `npm ci` once per package-lock into a
# cache dir, then copied into the temp copy.
sdk_deps() {
    local top=$1 work=$2 lock="$1/t/sdk/package-lock.json"
    [ -f "$lock" ] || return 0
    local sum cache
    sum=$(sha256sum "$lock" | cut -c1-16)
    cache=${LLMGW_SDK_CACHE:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/llmgw}/sdk-$sum
    # No writable cache (a user without a home): install into the temp dir.
    mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache="$work/sdk-cache"
    if [ ! -f "$cache/node_modules/.package-lock.json" ]; then
        say "installing the SDK test dependencies (npm ci) into $cache"
        rm -rf "$cache" && mkdir -p "$cache" \
            && cp "$top/t/sdk/package.json" "$lock" "$cache/" \
            && (cd "$cache" && npm_config_cache="$cache/.npm" \
                npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1) \
            || { say "npm ci failed (see $cache/npm.log): t/sdk_openai.t will fail"; return 0; }
    fi
    cp -r "$cache/node_modules" "$work/t/sdk/node_modules"
}

# --------------------------------------------------------------------------
# Inner part, as the test user, in the temp copy.
# --------------------------------------------------------------------------
MEMCACHED_PID= MOCK_PID=

cleanup() {
    local pidfile="$LLMGW_WORK/t/logs/httpd.pid" pid
    if [ -s "$pidfile" ]; then
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
            for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.3; done
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    [ -n "$MOCK_PID" ] && kill -TERM "$MOCK_PID" 2>/dev/null
    [ -n "$MEMCACHED_PID" ] && kill -TERM "$MEMCACHED_PID" 2>/dev/null
    [ -n "$BLACKHOLE_PID" ] && kill -TERM "$BLACKHOLE_PID" 2>/dev/null
    MOCK_PID= MEMCACHED_PID= BLACKHOLE_PID=
}

free_port() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                      Listen => 1, ReuseAddr => 1) or die "$!\n";
        print $s->sockport, "\n";'
}

memcached_answers() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ARGV[0]", Timeout => 1) or exit 1;
        print $s "version\r\n"; my $l = <$s>; exit(($l // "") =~ /^VERSION/ ? 0 : 1);' "$1"
}

start_memcached() {
    local port try
    for try in 1 2 3; do
        port=$(free_port) || return 1
        memcached -l 127.0.0.1 -p "$port" -U 0 -m 64 -c 1024 >"$RUN/memcached.log" 2>&1 &
        MEMCACHED_PID=$!
        for _ in $(seq 50); do
            if memcached_answers "$port"; then
                export LLMGW_MEMCACHED_PORT=$port LLMGW_MEMCACHED="127.0.0.1:$port"
                return 0
            fi
            kill -0 "$MEMCACHED_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -TERM "$MEMCACHED_PID" 2>/dev/null; MEMCACHED_PID=
    done
    return 1
}

# A port whose accept queue is full and never drained: a connect there
# gets no answer (the kernel drops the SYNs), so the upstream clients'
# connect timeout is what ends it (t/timeouts.t).
start_blackhole() {
    local pf="$RUN/blackhole.port"
    rm -f "$pf"
    perl -MIO::Socket::INET -MSocket -e '
        my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                      Listen => 1, ReuseAddr => 1) or die "$!\n";
        my @fill;                       # until a connect gets no answer
        while (my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1",
                                             PeerPort => $l->sockport, Timeout => 1)) {
            push @fill, $c;
        }
        @fill or die "could not fill the accept queue\n";
        open my $f, ">", $ARGV[0] or die; print $f $l->sockport, "\n"; close $f;
        sleep 1 while 1;' "$pf" >"$RUN/blackhole.log" 2>&1 &
    BLACKHOLE_PID=$!
    for _ in $(seq 50); do
        if [ -s "$pf" ]; then
            export LLMGW_BLACKHOLE_PORT=$(tr -dc 0-9 < "$pf")
            return 0
        fi
        sleep 0.1
    done
    return 1
}

start_mock() {
    local pf="$RUN/mock.port"
    [ -f t/mock/provider.js ] || { say "t/mock/provider.js is missing"; return 1; }
    rm -f "$pf"
    node t/mock/provider.js --port 0 --port-file "$pf" --fixtures "$LLMGW_FIXTURES" \
        >"$RUN/mock.log" 2>&1 &
    MOCK_PID=$!
    for _ in $(seq 100); do
        if [ -s "$pf" ]; then
            LLMGW_MOCK_PORT=$(tr -dc 0-9 < "$pf")
            [ -n "$LLMGW_MOCK_PORT" ] && { export LLMGW_MOCK_PORT; return 0; }
        fi
        kill -0 "$MOCK_PID" 2>/dev/null || break
        sleep 0.1
    done
    say "the mock provider did not start:"; sed 's/^/  /' "$RUN/mock.log" | tail -20
    return 1
}

write_base_conf() {
    local m=/usr/lib/apache2/modules
    {
        echo "# Generated by t/run-tests.sh: the modules Apache::Test inherits."
        for mod in mpm_event authz_core authz_host mime headers env setenvif \
                   deflate filter alias dir dbd; do
            echo "LoadModule ${mod}_module $m/mod_${mod}.so"
        done
        echo "LoadModule llmgw_module $LLMGW_SO_LLMGW"
        echo "LoadModule llmgw_cache_module $LLMGW_SO_CACHE"
        echo "LoadModule llmgw_quota_module $LLMGW_SO_QUOTA"
        echo "TypesConfig /etc/mime.types"
    } > t/conf/base.conf
}

# Counts from the Test::Harness summary: prints "PASSED FAILED RESULT".
# Tests a script planned but never ran count as failed.
harness_counts() {
    perl -ne '
        $tests = $1 if /^Files=\d+, Tests=(\d+)/;
        $result = $1 if /^Result: (\w+)/;
        if (/\(Wstat: \d+.*?Tests: (\d+) Failed: (\d+)\)/) { $failed += $2; $file_fail = 1; }
        if (/You planned (\d+) tests? but ran (\d+)/ && $1 > $2) { $unrun += $1 - $2 }
        if (/No plan found in TAP output|No subtests run/) { $unrun += 1 }
        END { $tests //= 0; $failed //= 0; $unrun //= 0;
              printf "%d %d %s\n", $tests - $failed, $failed + $unrun, $result // "NONE" }
    ' "$1"
}

# Error log entries that fail the run (crashes, error and worse), minus the
# allowed ones of t/log-allow.txt.
scan_error_log() {
    local log=t/logs/error_log allow="$RUN/log-allow.re" bad="$RUN/log-bad.txt"
    [ -f "$log" ] || { say "no $log"; return 1; }
    grep -Ev '^[[:space:]]*(#|$)' t/log-allow.txt 2>/dev/null > "$allow"
    # the main server's log and those of the extra nodes (LLMGW::Node)
    grep -hE 'exit signal|Segmentation fault|AddressSanitizer|\[[A-Za-z0-9_]*:(error|crit|alert|emerg)\]' t/logs/*error_log* \
        | { if [ -s "$allow" ]; then grep -Ev -f "$allow"; else cat; fi; } > "$bad"
    if [ -s "$bad" ]; then
        say "error_log has $(wc -l < "$bad") unexpected entries:"
        sed 's/^/  /' "$bad" | head -50
        return 1
    fi
    # SPEC: provider keys never appear in logs.
    if grep -lF "$PROVIDER_KEY" t/logs/* 2>/dev/null | grep -q .; then
        say "the provider key appears in the logs:"
        grep -nF "$PROVIDER_KEY" t/logs/* | head -5 | sed 's/^/  /'
        return 1
    fi
    return 0
}

# LLMGW_SANITIZE: HTTPD becomes a wrapper that starts the real httpd with
# the ASan runtime preloaded (the modules are instrumented, httpd is not)
# and the reports written under t/logs. Leaks are not checked: httpd frees
# its pools at exit only in part, by design.
sanitize_wrap() {
    local rt=${LLMGW_ASAN_RT:-} logs="$LLMGW_WORK/t/logs" w="$RUN/httpd-asan"
    [ -n "$rt" ] && [ -f "$rt" ] || { say "LLMGW_SANITIZE: no libasan.so (${rt:-none})"; return 1; }
    mkdir -p "$logs"
    cat > "$w" <<EOF
#!/bin/sh
export LD_PRELOAD="$rt\${LD_PRELOAD:+:\$LD_PRELOAD}"
export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
exec "$HTTPD" "\$@"
EOF
    chmod 755 "$w"
    HTTPD=$w
    export HTTPD
    say "sanitized run: httpd through $w"
}

# Any sanitizer report (LLMGW_SANITIZE) fails the run.
scan_sanitizer_logs() {
    local f bad=0
    for f in t/logs/asan.* t/logs/ubsan.*; do
        [ -s "$f" ] || continue
        say "sanitizer report in $f:"
        head -40 "$f" | sed 's/^/  /'
        bad=1
    done
    return $bad
}

inner() {
    cd "$LLMGW_WORK" || exit 1
    RUN="$LLMGW_WORK/run"
    trap cleanup EXIT
    trap 'exit 130' INT TERM HUP
    if [ -n "${LLMGW_SANITIZE:-}" ]; then
        sanitize_wrap || die "cannot set up the sanitized httpd"
    fi

    export LLMGW_TEST_PROVIDER_KEY=$PROVIDER_KEY
    export APACHE_TEST_NO_STICKY_PREFERENCES=1 APACHE_TEST_NO_COLOR=1

    start_memcached || die "memcached did not start (see $RUN/memcached.log)"
    say "memcached on 127.0.0.1:$LLMGW_MEMCACHED_PORT"
    start_mock || die "mock provider did not start"
    say "mock provider on 127.0.0.1:$LLMGW_MOCK_PORT"
    start_blackhole || die "the black-hole listener did not start"
    write_base_conf

    local tests=() rc
    [ -n "${LLMGW_TESTS:-}" ] && read -r -a tests <<< "$LLMGW_TESTS"
    [ -n "${LLMGW_VERBOSE:-}" ] && tests=(-verbose "${tests[@]}")
    # a port the OS says is free: Apache::Test's own "select" starts at
    # 8529 and races with any other run on the machine
    perl t/TEST.PL -apxs "$APXS" -httpd "$HTTPD" \
        -httpd_conf "$LLMGW_WORK/t/conf/base.conf" -port "$(free_port)" \
        "${tests[@]}" 2>&1 | tee "$RUN/harness.out"
    rc=${PIPESTATUS[0]}
    cleanup

    local passed failed result fail=0
    read -r passed failed result < <(harness_counts "$RUN/harness.out")
    [ "$rc" = 0 ] || { say "Apache::Test exited with status $rc"; fail=1; }
    [ "$result" = PASS ] || { say "harness result: $result (expected PASS)"; fail=1; }
    [ "$passed" -gt 0 ] || { say "no test ran"; fail=1; }
    [ "$failed" = 0 ] || fail=1
    scan_error_log || fail=1
    [ -n "${LLMGW_SANITIZE:-}" ] && { scan_sanitizer_logs || fail=1; }
    if [ -s "$RUN/mock.log" ] && grep -qiE 'uncaught|unhandled|TypeError|ReferenceError' "$RUN/mock.log"; then
        say "the mock provider logged errors (not counted):"; grep -iE 'uncaught|unhandled|Error' "$RUN/mock.log" | head -5 | sed 's/^/  /'
    fi
    echo "$passed passed, $failed failed"
    exit $fail
}

if [ "${1:-}" = --inner ]; then inner; else outer; fi
