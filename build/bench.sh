#!/bin/bash
# llmgw benchmark (`make -C build bench`): the gateway side by side with the
# references, in one run, interleaved over several rounds, medians reported.
#
#   (a) direct to the mock upstream (nginx, fixed 1.2 KB chat.completion;
#       /stream/ proxies to build/bench/sse-upstream.js: 64 SSE chunks 20 ms apart)
#   (b) Apache serving the same bytes as a static file
#   (c) Apache mod_proxy_http to the mock, keep-alive pool
#   (d) the gateway's miss path (openai provider), non-stream
#   (e) the gateway translating to an Anthropic-format mock (nginx /v1/messages)
#   (f1) cache hits, shm store        (f2) cache hits, memcached store
#   (g) quota on (gateway key, huge plan)
#   (l) the gateway translating to a Gemini-format mock (nginx :generateContent)
#   (m) quota on with a managed key (made with the management API, SQLite
#       through mod_dbd) instead of an LLMGWKey: what a database key costs
#   (i) the Messages API translated to the openai mock   (j) the Responses API
#       translated to the openai mock   (k) the Messages API relayed to the
#       Anthropic-format mock (the same 1 KB prompt in each API's shape)
#   (h) Portkey open-source gateway (@portkey-ai/gateway from npm) on the same mock
#   (o) (d) with LLMGWOTLPEndpoint pointing at a dead collector (every span dropped)
#
# Every Apache setup is its own httpd instance with identical event MPM settings
# (2 processes x 64 threads), so peak RSS can be told apart; no access log anywhere.
#
# How CPU/req is measured (issue 16: ratios that do not swing between rounds).
# On this 2-core VM, with wrk, nginx and httpd sharing both cores (run queue
# ~40, ~57k context switches/s), one setup's CPU/req moved 20-50 % between
# rounds and an A/A check (the same setup under two labels, BENCH_AA) gave
# 1.19 / 1.38 / 0.84 in three rounds: CPU/req at saturation depends on how
# the scheduler interleaves load, upstream and server, and on what else the
# machine runs in those 5 s. So, identically for every setup:
#   - the load and the upstreams run on CPU 0, the setups under test on CPU 1
#     (BENCH_PIN=1, the default): the server is alone on its core;
#   - CPU time is the scheduler's ns run time of every thread of the setup
#     (/proc/PID/task/TID/schedstat), not 10 ms ticks;
#   - each slice is measured from just before its load to when the setup is
#     idle again, so closing keep-alive connections and a busy node process
#     are charged to their own run, not to the setup sharing the instance or
#     running next;
#   - per round, every setup's BENCH_DURATION s run as BENCH_SLICE s slices,
#     all setups interleaved A B C .. C B A ..; ratios are computed per round
#     (the setups saw the same machine), then the median over rounds.
# A/A with these: 1.01 / 0.98 / 1.05 (round 3 under others' builds).
#
# Knobs (environment or make variables):
#   BENCH_ROUNDS=3  BENCH_DURATION=5 (s of wrk -c$BENCH_CONN per setup per round)
#   BENCH_SLICE=1 (s: slices of it, interleaved)  BENCH_PIN=1 (0: no taskset)
#   BENCH_AA=d     measure setup d again as (aa): the A/A check
#   BENCH_DURATION_C1=3 (s of wrk -t1 -c1 --latency)  BENCH_CONN=32
#   BENCH_SETUPS="a d c"   only these setups (a is always run: it is the baseline)
#   BENCH_STREAM_N=30      streams per setup per round for the first-chunk time
#   BENCH_STREAMS=1000     run ONLY the concurrent-streams scenario instead: N
#                          streams (started over HOLD/6 s) straight to the SSE
#                          upstream, then through mod_proxy_http (c) and the
#                          gateway (d), one instance at a time; the upstream holds
#                          each BENCH_STREAM_HOLD (5) s, sending
#                          BENCH_STREAM_CHUNKS (64) chunks. Each instance has
#                          N/BENCH_STREAM_THREADS (256) + 1 processes x
#                          BENCH_STREAM_THREADS threads, ThreadStackSize
#                          BENCH_STREAM_STACK (1048576) (a stream holds a worker
#                          thread); BENCH_STREAM_MPM_EXTRA adds directives.
#                          BENCH_STREAMS=10000 BENCH_STREAM_HOLD=30 is the
#                          issue-16 target (ulimit -n >= N + 512).
#   BENCH_STREAM_CPU_N=200 concurrent streams per batch for CPU per relayed chunk
#   BENCH_KEEP=1           leave the processes running (debugging)
# Results: build/out/bench/ (configs, logs, raw results.tsv, table.txt).
set -u
BUILD=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$BUILD")
BENCH="$BUILD/bench"
OUT="$BUILD/out/bench"
PORTKEY_DIR="$BUILD/out/portkey"
PORTKEY_VERSION=${PORTKEY_VERSION:-1.15.2}
ROUNDS=${BENCH_ROUNDS:-3}
DUR=${BENCH_DURATION:-5}
DUR1=${BENCH_DURATION_C1:-3}
CONN=${BENCH_CONN:-32}
STREAM_N=${BENCH_STREAM_N:-30}
STREAMS=${BENCH_STREAMS:-}
ONLY=${BENCH_SETUPS:-}
APACHE=/usr/sbin/apache2
# BENCH_PIN=1 (default): the load (wrk, stream clients) and the upstreams
# (nginx, the SSE server, memcached) on CPU 0, every setup under test (httpd,
# Portkey) on CPU 1; BENCH_PIN=0: all on every core
PIN_LOAD=""; PIN_SUT=""
if [ "${BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    PIN_LOAD="taskset -c 0"; PIN_SUT="taskset -c 1"
fi
MODDIR=/usr/lib/apache2/modules

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- packages
need_pkgs() {
    local missing="" p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    echo "$missing"
}
missing=$(need_pkgs wrk memcached curl)
if ! command -v nginx >/dev/null; then missing="$missing nginx-light"; fi
if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || die "missing Debian packages:$missing (run as root to install them)"
    log "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null \
        || die "apt-get install$missing failed"
    # the Debian package starts a system nginx on port 80; the bench runs its own
    if [ -x /usr/sbin/invoke-rc.d ] && case "$missing" in *nginx*) true;; *) false;; esac; then
        invoke-rc.d nginx stop >/dev/null 2>&1 || true
    fi
fi
command -v node >/dev/null || die "node is required (build/install-deps.sh installs it)"

# ---------------------------------------------------------------- state, cleanup
rm -rf "$OUT"
mkdir -p "$OUT/www/v1/chat" "$OUT/logs"
chmod 755 "$BUILD/out" "$OUT" "$OUT/www" "$OUT/www/v1" "$OUT/www/v1/chat" "$OUT/logs"
PIDS=""            # processes this script started directly (node, memcached, sampler)
HTTPD_CONFS=""     # httpd instances (stopped with -k stop, then by pid)
NGINX_CONF=""
cleanup() {
    local c pid i alive
    [ "${BENCH_KEEP:-}" = 1 ] && { log "BENCH_KEEP=1: leaving processes running"; return; }
    for c in $HTTPD_CONFS; do
        pid=$(cat "$(dirname "$c")/httpd.pid" 2>/dev/null)
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    done
    if [ -n "$NGINX_CONF" ] && [ -f "$OUT/nginx/nginx.pid" ]; then
        kill -TERM "$(cat "$OUT/nginx/nginx.pid")" 2>/dev/null
    fi
    for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null; done
    for i in 1 2 3 4 5 6 7 8 9 10; do
        alive=""; for pid in $PIDS; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ -z "$alive" ] && break; sleep 0.2
    done
    for pid in $PIDS; do kill -KILL "$pid" 2>/dev/null; done
    for c in $HTTPD_CONFS; do
        pid=$(cat "$(dirname "$c")/httpd.pid" 2>/dev/null)
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    done
    true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# the streams scenario needs N descriptors in the client and 2N in the SSE
# upstream's node process (its baseline and one setup's streams at a time)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ -n "${BENCH_STREAMS:-}" ] && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((BENCH_STREAMS + 512)) ]; then
    die "open files limit $(ulimit -n) is too low for BENCH_STREAMS=$BENCH_STREAMS (raise the hard limit: ulimit -Hn)"
fi

# ---------------------------------------------------------------- ports
mapfile -t P < <(node "$BENCH/free-ports.js" 16)
NGX=${P[0]}; SSE=${P[1]}; MC=${P[2]}; PK=${P[3]}
PB=${P[4]}; PC=${P[5]}; PD=${P[6]}; PE=${P[7]}; PF1=${P[8]}; PF2=${P[9]}; PG=${P[10]}; PS=${P[11]}
PI=${P[12]}; DEADOTLP=${P[13]}     # nothing listens on DEADOTLP: a dead collector
PL=${P[14]}; PM=${P[15]}

# ---------------------------------------------------------------- bodies
cp "$BENCH/chat-response.json" "$OUT/www/v1/chat/completions"
chmod 644 "$OUT/www/v1/chat/completions"
REQ="$OUT/request.json"          # 1 KB chat request, model gpt-4o-mini (vhost default provider)
cp "$BENCH/request.json" "$REQ"
STREAM_REQ="$OUT/stream-request.json"
sed 's/"model":"gpt-4o-mini"/"model":"bs\/stream-64-20","stream":true/' "$REQ" > "$STREAM_REQ"
SHORT_REQ="$OUT/short-stream-request.json" # 2 chunks x 5 ms: first-chunk timing
sed 's/"model":"gpt-4o-mini"/"model":"bs\/stream-2-5","stream":true/' "$REQ" > "$SHORT_REQ"
ANT_STREAM_REQ="$OUT/ant-stream-request.json" # the same stream from an Anthropic-format upstream
sed 's/"model":"gpt-4o-mini"/"model":"bsa\/stream-64-20","stream":true/' "$REQ" > "$ANT_STREAM_REQ"
HOLD_S=${BENCH_STREAM_HOLD:-5}    # the streams scenario: upstream holds each HOLD_S s
HOLD_CHUNKS=${BENCH_STREAM_CHUNKS:-64}
HOLD_MS=$((HOLD_S * 1000 / HOLD_CHUNKS))
HOLD_REQ="$OUT/hold-request.json" # HOLD_CHUNKS chunks x HOLD_MS ms
sed "s/\"model\":\"gpt-4o-mini\"/\"model\":\"bs\/stream-$HOLD_CHUNKS-$HOLD_MS\",\"stream\":true/" "$REQ" > "$HOLD_REQ"
# workers for the streams scenario: N streams + a spare process of
# BENCH_STREAM_THREADS threads each, BENCH_STREAM_STACK bytes of stack a thread
THREADS=${BENCH_STREAM_THREADS:-256}
STACK=${BENCH_STREAM_STACK:-1048576}
STREAM_PROCS=$(( (${STREAMS:-0} + THREADS - 1) / THREADS + 1 ))

# ---------------------------------------------------------------- upstreams
$PIN_LOAD node "$BENCH/sse-upstream.js" --port "$SSE" > "$OUT/logs/sse.log" 2>&1 &
PIDS="$PIDS $!"; disown $! 2>/dev/null

mkdir -p "$OUT/nginx/tmp"
NGINX_CONF="$OUT/nginx/nginx.conf"
cat > "$NGINX_CONF" <<EOF
# generated by build/bench.sh: the mock upstream
worker_processes 1;
worker_rlimit_nofile 65536;
pid $OUT/nginx/nginx.pid;
error_log $OUT/logs/nginx_error.log warn;
daemon on;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $OUT/nginx/tmp/body;
    proxy_temp_path $OUT/nginx/tmp/proxy;
    fastcgi_temp_path $OUT/nginx/tmp/fastcgi;
    uwsgi_temp_path $OUT/nginx/tmp/uwsgi;
    scgi_temp_path $OUT/nginx/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    tcp_nodelay on;
    client_body_buffer_size 64k;
    upstream sse { server 127.0.0.1:$SSE; keepalive 64; }
    server {
        listen 127.0.0.1:$NGX backlog=4096;
        default_type application/json;
        location = /v1/chat/completions { return 200 '$(cat "$BENCH/chat-response.json")'; }
        location = /v1/messages { return 200 '$(cat "$BENCH/anthropic-response.json")'; }
        location ~ ^/v1beta/models/[^/]+:generateContent$ { return 200 '$(cat "$BENCH/gemini-response.json")'; }
        location /stream/ {
            proxy_pass http://sse/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 300s;
        }
    }
}
EOF
$PIN_LOAD nginx -c "$NGINX_CONF" -p "$OUT/nginx" 2>"$OUT/logs/nginx_start.log" || { cat "$OUT/logs/nginx_start.log" >&2; die "nginx failed to start"; }

if [ -z "$STREAMS" ]; then
    $PIN_LOAD memcached -l 127.0.0.1 -p "$MC" -U 0 -m 256 -t 1 -c 4096 -u nobody > "$OUT/logs/memcached.log" 2>&1 &
    PIDS="$PIDS $!"; disown $! 2>/dev/null
fi

export BENCH_UPSTREAM_KEY=sk-bench-upstream-0000

# ---------------------------------------------------------------- Apache instances
USER_DIRECTIVES=""
[ "$(id -u)" = 0 ] && USER_DIRECTIVES="User www-data
Group www-data"

# mpm_conf NORMAL|STREAMS
mpm_conf() {
    if [ "$1" = STREAMS ]; then cat <<EOF
# a streaming request holds a worker thread for its whole duration:
# $STREAM_PROCS processes x $THREADS threads = $((STREAM_PROCS * THREADS)) workers for $STREAMS streams;
# a thread costs only the stack pages it touches ($STACK bytes reserved each, not 8 MB)
ThreadStackSize $STACK
StartServers $STREAM_PROCS
ServerLimit $STREAM_PROCS
ThreadLimit $THREADS
ThreadsPerChild $THREADS
MaxRequestWorkers $((STREAM_PROCS * THREADS))
MinSpareThreads $THREADS
MaxSpareThreads $((STREAM_PROCS * THREADS))
ListenBacklog 16384
${BENCH_STREAM_MPM_EXTRA:-}
EOF
    else cat <<EOF
StartServers 2
ServerLimit 2
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 128
MinSpareThreads 16
MaxSpareThreads 128
ListenBacklog 4096
EOF
    fi
}

# write_httpd NAME MPM "LoadModule lines" "Listen ports" BODY -> prints conf path
write_httpd() {
    local name=$1 mpm=$2 mods=$3 ports=$4 body=$5 dir="$OUT/$1" p
    mkdir -p "$dir"; chmod 755 "$dir"
    {
        cat <<EOF
# generated by build/bench.sh: setup $name
ServerRoot /etc/apache2
PidFile $dir/httpd.pid
ErrorLog $OUT/logs/${name}_error.log
LogLevel warn
ServerName localhost
DefaultRuntimeDir $dir
$USER_DIRECTIVES
LoadModule mpm_event_module $MODDIR/mod_mpm_event.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
$mods
EOF
        for p in $ports; do echo "Listen 127.0.0.1:$p"; done
        mpm_conf "$mpm"
        cat <<EOF
MaxConnectionsPerChild 0
KeepAlive On
# as in every production config (Debian apache2.conf): no .htaccess lookups
<Directory />
    AllowOverride None
</Directory>
KeepAliveTimeout 30
MaxKeepAliveRequests 0
Timeout 300
$body
EOF
    } > "$dir/httpd.conf"
    echo "$dir/httpd.conf"
}

start_httpd() {  # CONF -> 0 when started and answering
    local conf=$1 dir i
    dir=$(dirname "$conf")
    if ! $APACHE -f "$conf" -t > "$dir/configtest.log" 2>&1; then return 1; fi
    $PIN_SUT $APACHE -f "$conf" -k start > "$dir/start.log" 2>&1 || return 1
    HTTPD_CONFS="$HTTPD_CONFS $conf"
    for i in $(seq 1 50); do [ -s "$dir/httpd.pid" ] && return 0; sleep 0.1; done
    return 1
}

# Which llmgw modules exist and load, and which directives they know.
SO_LLMGW="$TOP/mod_llmgw/.libs/mod_llmgw.so"
SO_CACHE="$TOP/mod_llmgw_cache/.libs/mod_llmgw_cache.so"
SO_QUOTA="$TOP/mod_llmgw_quota/.libs/mod_llmgw_quota.so"
LM_LLMGW="LoadModule llmgw_module $SO_LLMGW"
LM_CACHE="LoadModule llmgw_cache_module $SO_CACHE"
LM_QUOTA="LoadModule llmgw_quota_module $SO_QUOTA"
directive_ok() {  # "LoadModule lines" "directives" -> 0 when apache2 -t accepts them
    local t="$OUT/probe.conf"
    printf 'ServerRoot /etc/apache2\nServerName localhost\nPidFile %s/probe.pid\nDefaultRuntimeDir %s\nErrorLog /dev/null\nListen 127.0.0.1:%s\nLoadModule mpm_event_module %s/mod_mpm_event.so\nLoadModule authz_core_module %s/mod_authz_core.so\n%s\n%s\n' \
        "$OUT" "$OUT" "$PS" "$MODDIR" "$MODDIR" "$1" "$2" > "$t"
    $APACHE -f "$t" -t > "$OUT/probe.log" 2>&1
}
GW_MODS="$LM_LLMGW"
HAVE_CACHE=0; HAVE_QUOTA=0
if [ -f "$SO_CACHE" ] && directive_ok "$LM_LLMGW
$LM_CACHE" "LLMGWCache On"; then HAVE_CACHE=1; GW_MODS="$GW_MODS
$LM_CACHE"; fi
CACHE_WHY=$(grep -v '^Syntax OK' "$OUT/probe.log" | head -1 | cut -c1-100)
if [ -f "$SO_QUOTA" ] && directive_ok "$LM_LLMGW
$LM_QUOTA" "LLMGWPlan huge requests_month=1000000000
LLMGWKey bench-key-0001 workspace=bench plan=huge
LLMGWQuota On"; then HAVE_QUOTA=1; GW_MODS="$GW_MODS
$LM_QUOTA"; fi
QUOTA_WHY=$(grep -v '^Syntax OK' "$OUT/probe.log" | head -1 | cut -c1-100)

# gateway body: providers on the mock, one vhost per default provider
gw_common() {  # STORE
    cat <<EOF
LLMGWStore $1
LLMGWProvider bench openai http://127.0.0.1:$NGX/v1 key=env:BENCH_UPSTREAM_KEY
LLMGWProvider ant anthropic http://127.0.0.1:$NGX key=env:BENCH_UPSTREAM_KEY
LLMGWProvider gem gemini http://127.0.0.1:$NGX/v1beta key=env:BENCH_UPSTREAM_KEY
LLMGWProvider bs openai http://127.0.0.1:$NGX/stream/v1 key=env:BENCH_UPSTREAM_KEY
LLMGWProvider bsa anthropic http://127.0.0.1:$NGX/stream key=env:BENCH_UPSTREAM_KEY
LLMGWTimeout 300
EOF
}
gw_vhost() {  # PORT DEFAULT-PROVIDER EXTRA
    cat <<EOF
<VirtualHost 127.0.0.1:$1>
    LLMGWDefaultProvider $2
    $3
    <Location /v1>
        SetHandler llmgw
    </Location>
</VirtualHost>
EOF
}
CACHE_OFF=""; [ $HAVE_CACHE = 1 ] && CACHE_OFF="LLMGWCache Off"
QUOTA_OFF=""; [ $HAVE_QUOTA = 1 ] && QUOTA_OFF="LLMGWQuota Off"
PLAN="LLMGWPlan huge requests_month=1000000000 rpm=1000000000
LLMGWKey bench-key-0001 workspace=bench plan=huge"

# ---------------------------------------------------------------- setups
# id label url rss-name extra-headers
declare -A URL HDRS RSSN LABEL STATUS WHY
SETUP_IDS="a b c d e f1 f2 g h i j k l m o"
LABEL[a]="direct to mock (nginx)";       URL[a]="http://127.0.0.1:$NGX/v1/chat/completions"
LABEL[b]="Apache static file";           URL[b]="http://127.0.0.1:$PB/v1/chat/completions";  RSSN[b]=static
LABEL[c]="Apache mod_proxy_http";        URL[c]="http://127.0.0.1:$PC/v1/chat/completions";  RSSN[c]=proxy
LABEL[d]="llmgw miss (openai)";          URL[d]="http://127.0.0.1:$PD/v1/chat/completions";  RSSN[d]=gateway
LABEL[e]="llmgw -> anthropic";           URL[e]="http://127.0.0.1:$PE/v1/chat/completions";  RSSN[e]=gateway
LABEL[f1]="llmgw cache hit, shm";        URL[f1]="http://127.0.0.1:$PF1/v1/chat/completions"; RSSN[f1]=cache_shm
LABEL[f2]="llmgw cache hit, memcached";  URL[f2]="http://127.0.0.1:$PF2/v1/chat/completions"; RSSN[f2]=cache_mc
LABEL[g]="llmgw quota on";               URL[g]="http://127.0.0.1:$PG/v1/chat/completions";  RSSN[g]=quota
LABEL[l]="llmgw -> gemini";              URL[l]="http://127.0.0.1:$PL/v1/chat/completions";  RSSN[l]=gateway
LABEL[m]="llmgw quota, managed key";     URL[m]="http://127.0.0.1:$PM/v1/chat/completions";  RSSN[m]=managed
LABEL[o]="llmgw miss, dead OTLP collector"; URL[o]="http://127.0.0.1:$PI/v1/chat/completions"; RSSN[o]=otlp_dead
LABEL[h]="Portkey gateway $PORTKEY_VERSION"; URL[h]="http://127.0.0.1:$PK/v1/chat/completions"; RSSN[h]=portkey
LABEL[i]="llmgw messages -> openai";     URL[i]="http://127.0.0.1:$PD/v1/messages";          RSSN[i]=gateway
LABEL[j]="llmgw responses -> openai";    URL[j]="http://127.0.0.1:$PD/v1/responses";         RSSN[j]=gateway
LABEL[k]="llmgw messages -> anthropic";  URL[k]="http://127.0.0.1:$PE/v1/messages";          RSSN[k]=gateway
declare -A BODY
BODY[i]="$BENCH/messages-request.json"; BODY[j]="$BENCH/responses-request.json"; BODY[k]="$BENCH/messages-request.json"
HDRS[g]="Authorization: Bearer bench-key-0001"
HDRS[h]="x-portkey-provider: openai|x-portkey-custom-host: http://127.0.0.1:$NGX/v1|Authorization: Bearer $BENCH_UPSTREAM_KEY"
for s in $SETUP_IDS; do HDRS[$s]=${HDRS[$s]:-}; RSSN[$s]=${RSSN[$s]:-}; BODY[$s]=${BODY[$s]:-$REQ}; STATUS[$s]=""; WHY[$s]=""; done
# A/A check: BENCH_AA=X measures setup X a second time under the label (aa)
# (same instance, URL, body and headers): (aa)/(X) should be 1.00
AA=${BENCH_AA:-}
if [ -n "$AA" ]; then
    case " $SETUP_IDS " in *" $AA "*) ;; *) die "BENCH_AA=$AA: no such setup";; esac
    SETUP_IDS="$SETUP_IDS aa"
    LABEL[aa]="A/A: (${AA}) again"; URL[aa]=${URL[$AA]}; RSSN[aa]=${RSSN[$AA]}; HDRS[aa]=${HDRS[$AA]}
    BODY[aa]=${BODY[$AA]}; STATUS[aa]=""; WHY[aa]=""
fi
STREAM_URL_a="http://127.0.0.1:$NGX/stream/v1/chat/completions"
STREAM_URL_c="http://127.0.0.1:$PC/stream/v1/chat/completions"
STREAM_URL_d="http://127.0.0.1:$PD/v1/chat/completions"
STREAM_URL_h="http://127.0.0.1:$PK/v1/chat/completions"
STREAM_HDR_h="x-portkey-custom-host: http://127.0.0.1:$NGX/stream/v1"

wanted() { [ "$1" = a ] && return 0; [ "$1" = aa ] && { [ -n "$AA" ] && wanted "$AA"; return; }; [ -z "$ONLY" ] && return 0; case " $ONLY " in *" $1 "*) return 0;; esac; return 1; }
na() { STATUS[$1]=${2}; WHY[$1]=$3; log "($1) ${LABEL[$1]}: $2: $3"; }

RSS_TARGETS=""
add_httpd() {  # SETUP-IDS NAME CONF
    local conf=$3 s
    if start_httpd "$conf"; then
        RSS_TARGETS="$RSS_TARGETS $2=$(dirname "$conf")/httpd.pid"
    else
        local why
        why=$(grep -hvE '^(Syntax OK|AH00016.*)?$' "$(dirname "$conf")"/configtest.log "$(dirname "$conf")"/start.log 2>/dev/null | head -1 | cut -c1-100)
        for s in $1; do na "$s" FAIL "httpd did not start: $why"; done
    fi
}

# ---------------------------------------------------------------- streams-only scenario
# N streams at once straight to the SSE upstream (the baseline), then through
# mod_proxy_http (c) and through the gateway (d), one instance at a time (each
# has N/THREADS+1 processes: two at once would double the machine's threads).
# Per setup: completed/failed, first chunk p50/p90, RSS of the httpd children
# (idle after warm-up; at the plateau: the peak while the streams are open;
# pools keep their blocks, so it does not drop as the first streams end),
# CPU time of the instance over the run, and where the RSS is at the peak
# (thread stacks, heap) from /proc/PID/smaps, sampled every 3 s. Both
# wait up to 120 s for a connection to the upstream (a node process that
# accepts 10,000 connections in a few seconds on a loaded machine overflows
# its accept queue: SYNs are retried for tens of seconds).
if [ -n "$STREAMS" ]; then
    stream_setup() {  # ID NAME PORT URL "LoadModule lines" BODY
        local id=$1 name=$2 port=$3 url=$4 conf sampler c0 c1 pid i bd bk
        conf=$(write_httpd "$name" STREAMS "$5" "$port" "$6")
        start_httpd "$conf" || { log "($id) failed to start: $(cat "$OUT/$name/configtest.log" "$OUT/$name/start.log" 2>/dev/null | head -3)"; return 1; }
        for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
        node "$BENCH/rss-sampler.js" --out "$OUT/rss_$id.json" --interval 500 --series gateway="$OUT/$name/httpd.pid" &
        sampler=$!; PIDS="$PIDS $sampler"
        # warm: every process loads, a few streams end to end; then short
        # streams one at a time on new connections, 12 a process, so that
        # each process has run the code once (its first touch of library
        # and module code pages is not a stream's memory) while few pools
        # are left warm (one connection at a time: a process recycles one)
        sleep 2
        node "$BENCH/stream-client.js" "$url" "$STREAM_REQ" --n 8 --stagger 0 > "$OUT/streams-warm_$id.json"
        node "$BENCH/stream-client.js" "$url" "$SHORT_REQ" --n $((STREAM_PROCS * 12)) --stagger 25 > "$OUT/streams-warm2_$id.json"
        sleep 1.5
        log "($id) warm-up (8 streams, then $((STREAM_PROCS * 12)) one at a time): $(cat "$OUT/streams-warm_$id.json") $(cat "$OUT/streams-warm2_$id.json")"
        log "($id) $STREAMS concurrent streams (upstream holds each ~$HOLD_S s: $HOLD_CHUNKS chunks x $HOLD_MS ms)"
        node "$BENCH/rss-breakdown.js" "$OUT/$name/httpd.pid" "$STACK" > "$OUT/smaps_idle_$id.json"
        echo "{\"t\":$(date +%s%3N)}" > "$OUT/streams_${id}_t0.json"
        c0=$(node "$BENCH/cpu-ticks.js" "$OUT/$name/httpd.pid")
        # at the plateau: where the RSS is, and the first chunk of a short
        # stream through the setup and straight to the upstream, alternately
        # (both see the same load), on a kept-alive connection each (no
        # connect in it), while the N streams are open
        ( sleep $((HOLD_S / 2 + 2))
          while [ ! -e "$OUT/done_$id" ]; do
              node "$BENCH/rss-breakdown.js" "$OUT/$name/httpd.pid" "$STACK" --keep-max "$OUT/smaps_$id.json"
              sleep 3
          done ) &
        bk=$!
        ( sleep $((HOLD_S / 2 + 2))
          node "$BENCH/stream-client.js" "$url" "$SHORT_REQ" --n 60 --sequential --stagger 20 \
              --alternate "http://127.0.0.1:$SSE/v1/chat/completions" --out2 "$OUT/probe_a_$id.json" > "$OUT/probe_$id.json" ) &
        bd=$!
        node "$BENCH/stream-client.js" "$url" "$HOLD_REQ" \
            --n "$STREAMS" --concurrent --ramp $((HOLD_S * 1000 / 6)) --timeout $((HOLD_S * 4 + 120)) > "$OUT/streams_$id.json"
        c1=$(node "$BENCH/cpu-ticks.js" "$OUT/$name/httpd.pid")
        touch "$OUT/done_$id"
        wait "$bd" "$bk"
        echo $(( (c1 - c0) * 10 )) > "$OUT/cpu_ms_$id"
        kill -TERM "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; PIDS=${PIDS/ $sampler/}
        pid=$(cat "$OUT/$name/httpd.pid" 2>/dev/null)
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        HTTPD_CONFS=${HTTPD_CONFS/ $conf/}
        log "($id) $(cat "$OUT/streams_$id.json")"
    }
    wait_port_s() { local i; for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
    wait_port_s "$SSE" || die "SSE upstream not listening"
    log "$STREAMS concurrent streams direct to the upstream (baseline)"
    node "$BENCH/stream-client.js" "http://127.0.0.1:$SSE/v1/chat/completions" "$HOLD_REQ" \
        --n "$STREAMS" --concurrent --ramp $((HOLD_S * 1000 / 6)) --timeout $((HOLD_S * 4 + 120)) > "$OUT/streams_a.json"
    log "(a) $(cat "$OUT/streams_a.json")"
    RAN=""
    if wanted c; then
        stream_setup c sproxy "$PC" "http://127.0.0.1:$PC/v1/chat/completions" \
            "LoadModule proxy_module $MODDIR/mod_proxy.so
LoadModule proxy_http_module $MODDIR/mod_proxy_http.so" \
            "ProxyPass /v1/ http://127.0.0.1:$SSE/v1/ keepalive=On flushpackets=on connectiontimeout=120" && RAN="$RAN c"
    fi
    if wanted d; then
        stream_setup d streams "$PS" "http://127.0.0.1:$PS/v1/chat/completions" "$GW_MODS" \
            "LLMGWStore shm:64M
LLMGWProvider bs openai http://127.0.0.1:$SSE/v1 key=env:BENCH_UPSTREAM_KEY
LLMGWTimeout 300
LLMGWConnectTimeout 120
$(gw_vhost "$PS" bs "$CACHE_OFF $QUOTA_OFF")" && RAN="$RAN d"
    fi
    node - "$OUT" "$STREAMS" "$HOLD_S" "$HOLD_MS" "$STREAM_PROCS" "$THREADS" "$STACK" "$RAN" "$HOLD_CHUNKS" <<'EOF' | tee "$OUT/table.txt"
const fs = require('fs');
const [out, n, hs, hms, procs, threads, stack, ran, chunks] = process.argv.slice(2);
const rd = (f) => { try { return JSON.parse(fs.readFileSync(`${out}/${f}`)); } catch (e) { return null; } };
const a = rd('streams_a.json');
const label = { c: 'Apache mod_proxy_http', d: 'llmgw (openai, relayed)' };
console.log('');
console.log(`${n} concurrent streams (${chunks} chunks x ${hms} ms = ~${hs} s upstream hold each), event MPM ${procs} x ${threads} threads, ThreadStackSize ${stack}`);
console.log(`  (a) direct to the upstream: ${a.ok}/${a.n} ok, first chunk p50/p90 ${a.ttfb_ms_p50?.toFixed(1)}/${a.ttfb_ms_p90?.toFixed(1)} ms, wall ${a.wall_s.toFixed(1)} s`);
console.log('');
console.log('  setup                        ok/n         errors  1st chunk p50  +p50 vs (a)  p90      idle RSS   plateau RSS  KB/stream  stack KB/str   CPU s');
for (const id of ran.trim().split(/\s+/).filter(Boolean)) {
  const s = rd(`streams_${id}.json`), r = rd(`rss_${id}.json`).gateway, m = rd(`smaps_${id}.json`), t0 = rd(`streams_${id}_t0.json`).t;
  const cpu = +fs.readFileSync(`${out}/cpu_ms_${id}`, 'utf8') / 1000;
  // idle: the last sample before the run; plateau: the peak (on a loaded
  // machine the streams open later than the ramp: no fixed window holds
  // them all)
  const before = r.series.filter((x) => x[0] < t0);
  const idle = before.length ? before[before.length - 1][1] : r.series[0][1];
  const pl = r.peak_kb;
  const per = (pl - idle) / n;
  const mi = rd(`smaps_idle_${id}.json`);
  const dl = (k) => (m && mi ? ((m[k] - mi[k]) / n).toFixed(1) : '-');
  console.log(`  (${id}) ${label[id].padEnd(24)} ${(s.ok + '/' + s.n).padEnd(12)} ${String(s.errors).padStart(6)}  ${(s.ttfb_ms_p50?.toFixed(1) + ' ms').padStart(13)}  ${('+' + (s.ttfb_ms_p50 - a.ttfb_ms_p50).toFixed(2) + ' ms').padStart(11)}  ${(s.ttfb_ms_p90?.toFixed(0) + ' ms').padStart(7)}  ${((idle / 1024).toFixed(0) + ' MB').padStart(8)}  ${((pl / 1024).toFixed(0) + ' MB').padStart(11)}  ${per.toFixed(1).padStart(9)}  ${dl('stack_kb').padStart(13)}  ${cpu.toFixed(1).padStart(5)}`);
  if (s.errors) console.log(`      errors: ${JSON.stringify(s.error_kinds)}`);
  const pr = rd(`probe_${id}.json`), pa = rd(`probe_a_${id}.json`);
  if (pr && pa) console.log(`      first chunk of a new stream while ${n} are open (${pr.n} one after the other, alternating with direct ones, kept alive): p50 ${pr.ttfb_ms_p50?.toFixed(2)} ms, direct ${pa.ttfb_ms_p50?.toFixed(2)} ms: added ${(pr.ttfb_ms_p50 - pa.ttfb_ms_p50).toFixed(2)} ms (${pr.ok}/${pr.n} and ${pa.ok}/${pa.n} ok)`);
  if (m) console.log(`      smaps at the largest sample, KB a stream (minus idle) / n: stacks ${dl('stack_kb')}, heap ${dl('heap_kb')}, shm ${dl('shm_kb')}, files ${dl('file_kb')}; most touched stack ${m.stack_touched_max_kb} KB; ${m.procs} processes, ${m.threads} threads`);
}
EOF
    exit 0
fi

# (m): a key made with the management API (SQLite through mod_dbd): the
# workspace on the huge plan, one member key, used as (g) uses its LLMGWKey
managed_setup() {
    local dir="$OUT/managed" admin=bench-admin-secret-0001 ws key
    mkdir -p "$dir/db"; rm -f "$dir/db/llmgw.db"; chmod 777 "$dir/db"
    head -c 32 /dev/urandom > "$dir/secret.key"; chmod 644 "$dir/secret.key"
    add_httpd m managed "$(write_httpd managed NORMAL "$GW_MODS
LoadModule dbd_module $MODDIR/mod_dbd.so" "$PM" "$(gw_common shm:64M)
DBDriver sqlite3
DBDParams $dir/db/llmgw.db
LLMGWAdminKey sha256:$(printf %s "$admin" | sha256sum | cut -c1-64)
LLMGWSecretKeyFile $dir/secret.key
LLMGWManagedKeys On
LLMGWPlan huge requests_month=1000000000 rpm=1000000000
<VirtualHost 127.0.0.1:$PM>
    LLMGWDefaultProvider bench
    $CACHE_OFF
    <LocationMatch \"^/v1/(workspaces|billing)(/|\$)\">
        SetHandler llmgw-admin
    </LocationMatch>
    <Location /v1/chat>
        SetHandler llmgw
        LLMGWQuota On
    </Location>
</VirtualHost>")"
    [ "${STATUS[m]}" = FAIL ] && return
    ws=$(curl -s -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
        -d '{"name":"bench","plan":"huge"}' "http://127.0.0.1:$PM/v1/workspaces" |
        node -e 'let d="";process.stdin.on("data",c=>d+=c).on("end",()=>{try{console.log(JSON.parse(d).id||"")}catch(e){}})')
    key=$(curl -s -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
        -d '{"name":"bench-key"}' "http://127.0.0.1:$PM/v1/workspaces/$ws/keys" |
        node -e 'let d="";process.stdin.on("data",c=>d+=c).on("end",()=>{try{console.log(JSON.parse(d).key||"")}catch(e){}})')
    if [ -z "$ws" ] || [ -z "$key" ]; then
        na m FAIL "the management API did not make a workspace and key (see $OUT/logs/managed_error.log)"
        return
    fi
    HDRS[m]="Authorization: Bearer $key"
}

# ---------------------------------------------------------------- start the default setups
log "ports: nginx $NGX, sse $SSE, memcached $MC, static $PB, proxy $PC, gateway $PD/$PE, cache $PF1/$PF2, quota $PG, portkey $PK"
if wanted b; then
    add_httpd b static "$(write_httpd static NORMAL "LoadModule mime_module $MODDIR/mod_mime.so" "$PB" "TypesConfig /dev/null
DocumentRoot $OUT/www
<Directory $OUT/www>
    Require all granted
</Directory>
<Location /v1/chat/completions>
    ForceType application/json
</Location>")"
fi
if wanted c; then
    add_httpd c proxy "$(write_httpd proxy NORMAL "LoadModule proxy_module $MODDIR/mod_proxy.so
LoadModule proxy_http_module $MODDIR/mod_proxy_http.so" "$PC" "ProxyPass /v1/ http://127.0.0.1:$NGX/v1/ keepalive=On
ProxyPass /stream/ http://127.0.0.1:$NGX/stream/ keepalive=On flushpackets=on")"
fi
if wanted d || wanted e || wanted i || wanted j || wanted k || wanted l; then
    add_httpd "d e i j k l" gateway "$(write_httpd gateway NORMAL "$GW_MODS" "$PD $PE $PL" "$(gw_common shm:64M)
$(gw_vhost "$PD" bench "$CACHE_OFF $QUOTA_OFF")
$(gw_vhost "$PE" ant "$CACHE_OFF $QUOTA_OFF")
$(gw_vhost "$PL" gem "$CACHE_OFF $QUOTA_OFF")")"
fi
if [ $HAVE_CACHE = 1 ]; then
    wanted f1 && add_httpd f1 cache_shm "$(write_httpd cache_shm NORMAL "$GW_MODS" "$PF1" "$(gw_common shm:64M)
$(gw_vhost "$PF1" bench "LLMGWCache On
    $QUOTA_OFF")")"
    wanted f2 && add_httpd f2 cache_mc "$(write_httpd cache_mc NORMAL "$GW_MODS" "$PF2" "$(gw_common "memcached://127.0.0.1:$MC")
$(gw_vhost "$PF2" bench "LLMGWCache On
    $QUOTA_OFF")")"
else
    na f1 n/a "LLMGWCache not available (${CACHE_WHY:-mod_llmgw_cache not built})"
    na f2 n/a "LLMGWCache not available"
fi
if [ $HAVE_QUOTA = 1 ]; then
    wanted g && add_httpd g quota "$(write_httpd quota NORMAL "$GW_MODS" "$PG" "$(gw_common shm:64M)
$PLAN
$(gw_vhost "$PG" bench "LLMGWQuota On
    $CACHE_OFF")")"
    wanted m && managed_setup
else
    na g n/a "LLMGWQuota/LLMGWKey/LLMGWPlan not available (${QUOTA_WHY:-mod_llmgw_quota not built})"
    na m n/a "mod_llmgw_quota not built"
fi

# (i): (d) with traces on, to a collector that is not there (every span
# dropped): what a dead collector costs a request
if wanted o; then
    add_httpd o otlp_dead "$(write_httpd otlp_dead NORMAL "$GW_MODS" "$PI" "$(gw_common shm:64M)
LLMGWOTLPEndpoint http://127.0.0.1:$DEADOTLP
$(gw_vhost "$PI" bench "$CACHE_OFF $QUOTA_OFF")")"
fi

# Portkey: npm package in build/out/portkey (outside the source tree)
if wanted h; then
    PKG="$PORTKEY_DIR/node_modules/@portkey-ai/gateway"
    if [ ! -f "$PKG/build/start-server.js" ]; then
        log "installing @portkey-ai/gateway@$PORTKEY_VERSION into $PORTKEY_DIR (npm)"
        mkdir -p "$PORTKEY_DIR"
        if ! timeout 300 npm install --prefix "$PORTKEY_DIR" --no-audit --no-fund --loglevel=error \
                "@portkey-ai/gateway@$PORTKEY_VERSION" > "$OUT/logs/npm.log" 2>&1; then
            log "npm could not install @portkey-ai/gateway (registry unreachable?): see $OUT/logs/npm.log"
        fi
    fi
    if [ -f "$PKG/build/start-server.js" ]; then
        (cd "$PKG" && exec $PIN_SUT node build/start-server.js --port="$PK" --headless) > "$OUT/logs/portkey.log" 2>&1 &
        echo $! > "$OUT/portkey.pid"; PIDS="$PIDS $!"; disown $! 2>/dev/null
        RSS_TARGETS="$RSS_TARGETS portkey=$OUT/portkey.pid:self"
    else
        na h n/a "npm install of @portkey-ai/gateway failed (registry unreachable?)"
    fi
fi

node "$BENCH/rss-sampler.js" --out "$OUT/rss.json" --interval 250 $RSS_TARGETS &
PIDS="$PIDS $!"; SAMPLER=$!

# ---------------------------------------------------------------- sanity checks
curl_post() {  # URL HEADERS BODYFILE OUT-HEADERS -> prints status
    local url=$1 hs=$2 body=$3 oh=$4 args=() h
    IFS='|' read -ra hl <<< "$hs"
    for h in "${hl[@]}"; do [ -n "$h" ] && args+=(-H "$h"); done
    curl -s -o "$oh.body" -D "$oh" -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
        "${args[@]}" --data-binary @"$body" "$url"
}
wait_port() { local i; for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
wait_port "$NGX" || die "nginx mock not listening"
wait_port "$SSE" || die "SSE upstream not listening"
for s in $SETUP_IDS; do
    wanted "$s" || continue
    [ -n "${STATUS[$s]}" ] && continue
    port=${URL[$s]#http://127.0.0.1:}; port=${port%%/*}
    if ! wait_port "$port"; then na "$s" FAIL "not listening on $port"; continue; fi
    code=""
    for try in 1 2 3 4 5 6 7 8 9 10; do
        code=$(curl_post "${URL[$s]}" "${HDRS[$s]}" "${BODY[$s]}" "$OUT/check_$s.hdr")
        [ "$code" = 200 ] && break; sleep 0.3
    done
    # the answer of each API: a chat completion, a Messages answer, a response
    if [ "$code" != 200 ] || ! grep -qE '"choices"|"type":"message"|"object":"response"' "$OUT/check_$s.hdr.body"; then
        na "$s" FAIL "HTTP $code: $(head -c 160 "$OUT/check_$s.hdr.body" | tr '\n' ' ')"; continue
    fi
    case $s in f1|f2)
        curl_post "${URL[$s]}" "${HDRS[$s]}" "$REQ" "$OUT/check2_$s.hdr" >/dev/null
        if ! grep -qi '^x-cache-status: *HIT' "$OUT/check2_$s.hdr"; then
            na "$s" FAIL "second identical request is not a cache hit ($(grep -i '^x-cache-status' "$OUT/check2_$s.hdr" | tr -d '\r' || echo no x-cache-status))"; continue
        fi;;
    esac
    STATUS[$s]=ok
done
declare -A STREAM_OK
for s in a c d h; do
    wanted "$s" && [ "${STATUS[$s]}" = ok ] || continue
    u="STREAM_URL_$s"; hx="STREAM_HDR_$s"
    extra=(); [ -n "${!hx:-}" ] && extra=(--header "${!hx}")
    [ "$s" = h ] && extra+=(--header "x-portkey-provider: openai" --header "Authorization: Bearer $BENCH_UPSTREAM_KEY")
    r=$(node "$BENCH/stream-client.js" "${!u}" "$STREAM_REQ" --n 1 --stagger 0 "${extra[@]}")
    case $r in *'"ok":1'*) STREAM_OK[$s]=1 ;; *) log "($s) stream check failed: $r"; STREAM_OK[$s]=0; printf "%s\t0\tstream_failed\t1\n" "$s" >> "$OUT/stream_checks.tsv" ;; esac
done

# ---------------------------------------------------------------- runs
RES="$OUT/results.tsv"; cat "$OUT/stream_checks.tsv" > "$RES" 2>/dev/null || : > "$RES"
CLK_TCK=$(getconf CLK_TCK)
to_us() {  # wrk latency value (e.g. 123.45us, 1.23ms, 2.00s) -> microseconds
    awk -v v="$1" 'BEGIN{ n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else if (v ~ /s$/) print n*1000000; else print n }'
}
# memcached commands served so far (every get, set, add, cas, touch, incr,
# decr, delete): around (f2)'s run, the store round trips per cache hit
mc_ops() {
    { exec 3<>/dev/tcp/127.0.0.1/"$MC" && printf 'stats\r\nquit\r\n' >&3 && cat <&3; } 2>/dev/null |
        awk '$2 ~ /^(cmd_get|cmd_set|cmd_touch|incr_hits|incr_misses|decr_hits|decr_misses|delete_hits|delete_misses|cas_hits|cas_misses|cas_badval)$/ { n += $3 } END { print n + 0 }'
}
# CPU time of a setup's processes in ns: the scheduler's run time of every
# thread (/proc/PID/task/TID/schedstat, first field: ns, not 10 ms ticks) of
# the parent and its living children, plus what the children already reaped
# used (cutime+cstime, ticks; the MPM settings keep it constant)
cpu_ns() {  # SETUP -> ns ("" for a setup without processes of its own)
    local n=${RSSN[$1]:-} pf root kids p
    case $n in "") echo ""; return;; portkey) pf="$OUT/portkey.pid";; *) pf="$OUT/$n/httpd.pid";; esac
    root=$(cat "$pf" 2>/dev/null) || { echo 0; return; }
    kids=$(pgrep -P "$root" | tr '\n' ' ')
    { awk -v hz="$CLK_TCK" '{ sub(/.*\) /, ""); split($0, f, " "); printf "r %.0f\n", (f[14] + f[15]) * 1e9 / hz }' "/proc/$root/stat"
      for p in $root $kids; do cat /proc/"$p"/task/*/schedstat; done; } 2>/dev/null |
        awk '{ s += ($1 == "r") ? $2 : $1 } END { printf "%.0f\n", s }'
}
# After a setup's load ends, wait (up to 20 s) until its processes are idle
# (< 2 ms of CPU in 200 ms) and print their CPU ns then: the work a run leaves
# behind (keep-alive connections closing, a node process still busy for
# seconds) is charged to that run, not to the setup measured next.
idle_ns() {  # SETUP -> ns
    local a b i
    a=$(cpu_ns "$1"); [ -n "$a" ] || { sleep 0.2; echo ""; return; }
    for i in $(seq 1 100); do
        sleep 0.2
        b=$(cpu_ns "$1")
        [ $((b - a)) -le 2000000 ] && break
        a=$b
    done
    [ "$i" = 100 ] && log "($1) still busy 20 s after its run"
    echo "$b"
}
settle() { idle_ns "$1" > /dev/null; }
# CPU/req and req/s at c$CONN, all setups interleaved: each setup's
# BENCH_DURATION s is cut into slices of BENCH_SLICE s, run A B C .. then
# .. C B A, and so on; each slice's CPU is measured from just before its load
# to when its processes are idle again. A setup's figure for the round is
# its CPU over all its slices / its requests over all its slices, so every
# setup of a round saw the same machine (other load, cache, frequency) in
# the same proportions, and a ratio of one round compares like with like.
SLICE=${BENCH_SLICE:-1}
NSLICE=$(( (DUR + SLICE - 1) / SLICE ))
run_load_round() {  # ROUND SETUP...
    local r=$1; shift
    local seqs=("$@") pass i s f t0 t1 n sec m0 m1 order
    declare -A NS REQ SECS ERR MCOPS   # not MC: that is memcached's port
    for s in "${seqs[@]}"; do NS[$s]=0; REQ[$s]=0; SECS[$s]=0; ERR[$s]=0; MCOPS[$s]=0; done
    for pass in $(seq 1 "$NSLICE"); do
        order=("${seqs[@]}")
        if [ $((pass % 2)) = 0 ]; then order=(); for ((i = ${#seqs[@]} - 1; i >= 0; i--)); do order+=("${seqs[$i]}"); done; fi
        for s in "${order[@]}"; do
            f="$OUT/wrk_${s}_r${r}_s$pass.c$CONN.txt"
            m0=""; [ "$s" = f2 ] && m0=$(mc_ops)
            t0=$(cpu_ns "$s")
            BENCH_BODY="${BODY[$s]}" BENCH_HEADERS="${HDRS[$s]}" $PIN_LOAD wrk -t2 -c"$CONN" -d"${SLICE}s" --timeout 10s -s "$BENCH/post.lua" "${URL[$s]}" > "$f" 2>&1
            t1=$(idle_ns "$s")
            [ -n "$m0" ] && MCOPS[$s]=$(( MCOPS[$s] + $(mc_ops) - m0 ))
            n=$(awk '/requests in/{print $1}' "$f"); sec=$(awk '/requests in/{sub(/s,$/, "", $4); print $4}' "$f")
            [ -n "$n" ] && [ -n "$sec" ] || { ERR[$s]=$((ERR[$s] + 1)); continue; }
            REQ[$s]=$((REQ[$s] + n)); SECS[$s]=$(awk -v a="${SECS[$s]}" -v b="$sec" 'BEGIN{print a + b}')
            [ -n "$t0" ] && [ -n "$t1" ] && NS[$s]=$((NS[$s] + t1 - t0))
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$r" "$pass" "$n" "$sec" "${t0:+$((t1 - t0))}" >> "$OUT/slices.tsv"
            ERR[$s]=$((ERR[$s] + $(awk -F'[ ,]+' '/Non-2xx or 3xx responses:/{n+=$NF} /Socket errors:/{for(i=1;i<=NF;i++) if ($i ~ /^[0-9]+$/) n+=$i} END{print n+0}' "$f")))
        done
    done
    for s in "${seqs[@]}"; do
        local rps="" cpu_us="" ops=""
        if [ "${REQ[$s]}" -gt 0 ]; then
            rps=$(awk -v n="${REQ[$s]}" -v t="${SECS[$s]}" 'BEGIN{printf "%.2f", n/t}')
            printf '%s\t%s\trps\t%s\n' "$s" "$r" "$rps" >> "$RES"
            if [ -n "${RSSN[$s]:-}" ]; then
                cpu_us=$(awk -v c="${NS[$s]}" -v n="${REQ[$s]}" 'BEGIN{printf "%.1f", c/1000/n}')
                printf '%s\t%s\tcpu_us\t%s\n' "$s" "$r" "$cpu_us" >> "$RES"
            fi
            if [ "$s" = f2 ]; then
                ops=$(awk -v a="${MCOPS[$s]}" -v n="${REQ[$s]}" 'BEGIN{printf "%.2f", a/n}')
                printf '%s\t%s\tstore_ops\t%s\n' "$s" "$r" "$ops" >> "$RES"
            fi
        fi
        printf '%s\t%s\terrors\t%s\n' "$s" "$r" "${ERR[$s]}" >> "$RES"
        log "round $r ($s) ${LABEL[$s]}: ${rps:-?} req/s, ${cpu_us:-?} us CPU/req (${REQ[$s]} requests in $NSLICE slices)${ops:+, $ops store ops/req}"
    done
}
run_lat() {  # SETUP ROUND: added latency at one connection
    local s=$1 r=$2 f="$OUT/wrk_${1}_r$2.c1.txt" p50 p99 err
    BENCH_BODY="${BODY[$s]}" BENCH_HEADERS="${HDRS[$s]}" $PIN_LOAD wrk -t1 -c1 -d"${DUR1}s" --timeout 10s --latency -s "$BENCH/post.lua" "${URL[$s]}" > "$f" 2>&1
    p50=$(awk '$1=="50%"{print $2}' "$f"); p99=$(awk '$1=="99%"{print $2}' "$f")
    err=$(awk -F'[ ,]+' '/Non-2xx or 3xx responses:/{n+=$NF} /Socket errors:/{for(i=1;i<=NF;i++) if ($i ~ /^[0-9]+$/) n+=$i} END{print n+0}' "$f")
    [ -n "$p50" ] && printf '%s\t%s\tp50_us\t%s\n' "$s" "$r" "$(to_us "$p50")" >> "$RES"
    [ -n "$p99" ] && printf '%s\t%s\tp99_us\t%s\n' "$s" "$r" "$(to_us "$p99")" >> "$RES"
    printf '%s\t%s\terrors\t%s\n' "$s" "$r" "$err" >> "$RES"
    log "round $r ($s) c1: p50 ${p50:-?}, p99 ${p99:-?}, errors $err"
}
run_stream() {  # SETUP ROUND
    local s=$1 r=$2 u="STREAM_URL_$1" hx="STREAM_HDR_$1" extra=() j
    [ -n "${!hx:-}" ] && extra=(--header "${!hx}")
    [ "$s" = h ] && extra+=(--header "x-portkey-provider: openai" --header "Authorization: Bearer $BENCH_UPSTREAM_KEY")
    # batching: 3 full streams (64 chunks x 20 ms) at once, first-to-last time
    # (the first-chunk time is measured by run_ttfb, all setups interleaved)
    j='{"errors":0}'
    j2=$($PIN_LOAD node "$BENCH/stream-client.js" "${!u}" "$STREAM_REQ" --n 3 --stagger 0 "${extra[@]}")
    echo "$j" > "$OUT/stream_${s}_r$r.json"; echo "$j2" >> "$OUT/stream_${s}_r$r.json"
    node -e '
const j = JSON.parse(process.argv[1]), j2 = JSON.parse(process.argv[2]), [s, r] = process.argv.slice(3);
const out = [];
if (j2.spread_ms_min != null) out.push([s, r, "spread_ms", j2.spread_ms_min]);
out.push([s, r, "stream_errors", j.errors + j2.errors]);
console.log(out.map((x) => x.join("\t")).join("\n"));' "$j" "$j2" "$s" "$r" >> "$RES"
    log "round $r ($s) stream: $j2"
}

run_ttfb() {  # ROUND: first-chunk time of every streaming setup, interleaved
    local r=$1 s u hx specs=() j
    for s in a c d h; do
        [ "${STREAM_OK[$s]:-0}" = 1 ] || continue
        u="STREAM_URL_$s"; hx="STREAM_HDR_$s"
        spec="$s=${!u}"
        [ -n "${!hx:-}" ] && spec="$spec|${!hx}"
        [ "$s" = h ] && spec="$spec|x-portkey-provider: openai|Authorization: Bearer $BENCH_UPSTREAM_KEY"
        specs+=("$spec")
    done
    [ ${#specs[@]} -gt 0 ] || return 0
    j=$($PIN_LOAD node "$BENCH/ttfb-compare.js" "$SHORT_REQ" "$STREAM_N" "${specs[@]}")
    echo "$j" > "$OUT/ttfb_r$r.json"
    node -e '
const j = JSON.parse(process.argv[1]), r = process.argv[2];
for (const [s, v] of Object.entries(j)) {
  if (v.ttfb_ms_p50 != null) console.log([s, r, "ttfb_ms", v.ttfb_ms_p50].join("\t"));
  console.log([s, r, "stream_errors", v.errors].join("\t"));
}' "$j" "$r" >> "$RES"
    log "round $r first chunk: $j"
}

# CPU per relayed chunk: STREAM_CPU_N concurrent 64-chunk streams through
# mod_proxy_http (c) and the gateway (d), the CPU of each instance measured
# around its own batch; OpenAI-format (relayed) and Anthropic-format (the
# gateway translates to OpenAI chunks, mod_proxy relays the Anthropic events)
STREAM_CPU_N=${BENCH_STREAM_CPU_N:-200}
run_stream_cpu() {  # ROUND
    local r=$1 s kind url req t0 t1 j ok
    local jobs="c:oai d:oai c:ant d:ant"
    [ $((r % 2)) = 0 ] && jobs="d:oai c:oai d:ant c:ant"
    for job in $jobs; do
        s=${job%%:*}; kind=${job#*:}
        [ "${STREAM_OK[$s]:-0}" = 1 ] || continue
        case $s:$kind in
            c:oai) url=$STREAM_URL_c; req=$STREAM_REQ;;
            d:oai) url=$STREAM_URL_d; req=$STREAM_REQ;;
            c:ant) url="http://127.0.0.1:$PC/stream/v1/messages"; req=$ANT_STREAM_REQ;;
            d:ant) url=$STREAM_URL_d; req=$ANT_STREAM_REQ;;
        esac
        t0=$(cpu_ns "$s")
        j=$($PIN_LOAD node "$BENCH/stream-client.js" "$url" "$req" --n "$STREAM_CPU_N" --concurrent --timeout 60)
        t1=$(idle_ns "$s")
        ok=$(node -e 'const j = JSON.parse(process.argv[1]); console.log(j.ok + " " + j.errors)' "$j")
        # per upstream content chunk: every stream carries 64
        awk -v s="$s" -v r="$r" -v k="$kind" -v a="$t0" -v b="$t1" -v ok="${ok% *}" -v e="${ok#* }" \
            'BEGIN{ if (ok > 0) printf "%s\t%s\tstream_cpu_%s\t%.2f\n", s, r, k, (b-a)/1000/(ok*64); printf "%s\t%s\tstream_errors\t%d\n", s, r, e }' >> "$RES"
        log "round $r ($s) $STREAM_CPU_N concurrent $kind streams: $(( (t1 - t0) / 1000000 )) ms CPU, $j"
    done
}

# warm-up: every setup 1 s at full concurrency (fills pools, JITs Portkey)
for s in $SETUP_IDS; do
    [ "${STATUS[$s]}" = ok ] || continue
    BENCH_BODY="${BODY[$s]}" BENCH_HEADERS="${HDRS[$s]}" $PIN_LOAD wrk -t2 -c"$CONN" -d2s -s "$BENCH/post.lua" "${URL[$s]}" > "$OUT/warm_$s.txt" 2>&1
done

order=""; for s in $SETUP_IDS; do [ "${STATUS[$s]}" = ok ] && order="$order $s"; done
order=($order)
for r in $(seq 1 "$ROUNDS"); do
    # rotate the order each round so no setup always follows the same one
    n=${#order[@]}; k=$(( (r - 1) % n ))
    rot=(); for i in $(seq 0 $((n - 1))); do rot+=("${order[$(( (i + k) % n ))]}"); done
    run_load_round "$r" "${rot[@]}"
    for s in "${rot[@]}"; do
        run_lat "$s" "$r"
        if [ "${STREAM_OK[$s]:-0}" = 1 ]; then run_stream "$s" "$r"; fi
        settle "$s"
    done
    run_ttfb "$r"
    run_stream_cpu "$r"
done
kill -TERM "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; PIDS=${PIDS/ $SAMPLER/}

# ---------------------------------------------------------------- report
{
    printf 'machine\t%s, %s cores, %s MB RAM, %s\n' "$(uname -sr)" "$(nproc)" "$(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo)" \
        "$($APACHE -v | awk -F': ' '/version/{print $2}'), nginx $(nginx -v 2>&1 | sed 's/.*\///'), node $(node --version)"
    printf 'stream_cpu_n\t%s\n' "$STREAM_CPU_N"
    printf 'aa\t%s\nslice\t%s\npin\t%s\n' "$AA" "$SLICE" "${PIN_SUT:+load and upstreams on CPU 0, setups on CPU 1}"
    printf 'rounds\t%s\nconc\t%s\ndur\t%s\ndur1\t%s\nstream_n\t%s\n' "$ROUNDS" "$CONN" "$DUR" "$DUR1" "$STREAM_N"
    printf 'stream_desc\tvia nginx /stream/ to a Node SSE server (first chunk at once); first chunk: %s short streams per setup, setups interleaved request by request, one kept-alive connection each; spread: 3 concurrent 64-chunk streams, 20 ms apart\n' "$STREAM_N"
    printf 'setups\t['
    sep=""; for s in $SETUP_IDS; do printf '%s["%s","%s","%s"]' "$sep" "$s" "${LABEL[$s]}" "${RSSN[$s]}"; sep=,; done
    printf ']\n'
} > "$OUT/meta.tsv"
: > "$OUT/status.tsv"
for s in $SETUP_IDS; do
    st=${STATUS[$s]}
    if [ -z "$st" ]; then if wanted "$s"; then st=FAIL; WHY[$s]="not started"; else st=skipped; WHY[$s]="not in BENCH_SETUPS"; fi; fi
    printf '%s\t%s\t%s\n' "$s" "$st" "${WHY[$s]}" >> "$OUT/status.tsv"
done
node "$BENCH/summarize.js" "$OUT" | tee "$OUT/table.txt"
echo "raw results, configs and logs: $OUT"
