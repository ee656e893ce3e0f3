#!/bin/bash
# Callgrind instructions per request of one httpd -X (single process) for
# the gateway's routes: the miss path (openai), chat -> anthropic and
# chat -> gemini, the Messages and Responses client APIs translated to the
# same openai mock as the miss path, and mod_proxy_http for reference.
# Deterministic where CPU time on a shared machine is not: each setup runs
# twice under callgrind (N1 and N2 kept-alive identical requests) and reports
# (Ir(N2) - Ir(N1)) / (N2 - N1).
#
#   build/bench/callgrind.sh [setup...]     setups: proxy miss anthropic gemini
#                                           messages responses gemstream
#                                           chatstream respstream
#   gemstream: instructions per relayed chunk of a Gemini-format stream
#   translated to OpenAI chunks (build/bench/sse-upstream.js): CG_STREAMS
#   streams (default 10) of N1 and of N2 chunks, (Ir(N2) - Ir(N1)) /
#   (CG_STREAMS x (N2 - N1)). chatstream: the same of an OpenAI stream
#   relayed; respstream: an OpenAI stream as Responses events.
#   CG_N1=50 CG_N2=350                      request counts
#   CG_KEEP=1                               keep the callgrind.out files
#                                           (build/out/callgrind/) for
#                                           callgrind_annotate
# Needs valgrind, nginx, curl, node and the built modules (make -C build
# modules). Binds 127.0.0.1 only.
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
BUILD=$(dirname "$BENCH")
TOP=$(dirname "$BUILD")
OUT="$BUILD/out/callgrind"
APACHE=${APACHE:-/usr/sbin/apache2}
MODDIR=${MODDIR:-/usr/lib/apache2/modules}
N1=${CG_N1:-50}
N2=${CG_N2:-350}
SETUPS=${*:-proxy miss anthropic gemini}
SO_LLMGW="$TOP/mod_llmgw/.libs/mod_llmgw.so"

die() { echo "callgrind.sh: $*" >&2; exit 1; }
[ -f "$SO_LLMGW" ] || die "build the modules first (make -C build modules)"
command -v valgrind >/dev/null || die "valgrind is missing"
rm -rf "$OUT"; mkdir -p "$OUT/nginx/tmp" "$OUT/logs"

NGX_PID=""
cleanup() {
    [ -s "$OUT/nginx/nginx.pid" ] && kill "$(cat "$OUT/nginx/nginx.pid")" 2>/dev/null
    [ -s "$OUT/httpd.pid" ] && kill -KILL "$(cat "$OUT/httpd.pid")" 2>/dev/null
    [ -n "$SSE_PID" ] && kill "$SSE_PID" 2>/dev/null
    true
}
trap cleanup EXIT

mapfile -t P < <(node "$BENCH/free-ports.js" 3)
NGX=${P[0]}; PORT=${P[1]}; SSE=${P[2]}
STREAMS=${CG_STREAMS:-10}
SSE_PID=""
case " $SETUPS " in *" gemstream "*|*" chatstream "*|*" respstream "*)
    node "$BENCH/sse-upstream.js" --port "$SSE" > "$OUT/logs/sse.log" 2>&1 &
    SSE_PID=$! ;;
esac

cat > "$OUT/nginx/nginx.conf" <<NGX
worker_processes 1;
pid $OUT/nginx/nginx.pid;
error_log $OUT/logs/nginx_error.log warn;
daemon on;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $OUT/nginx/tmp/body;
    proxy_temp_path $OUT/nginx/tmp/proxy;
    fastcgi_temp_path $OUT/nginx/tmp/fastcgi;
    uwsgi_temp_path $OUT/nginx/tmp/uwsgi;
    scgi_temp_path $OUT/nginx/tmp/scgi;
    keepalive_requests 1000000;
    default_type application/json;
    server {
        listen 127.0.0.1:$NGX;
        location = /v1/chat/completions { return 200 '$(cat "$BENCH/chat-response.json")'; }
        location = /v1/messages { return 200 '$(cat "$BENCH/anthropic-response.json")'; }
        location ~ :generateContent\$ { return 200 '$(cat "$BENCH/gemini-response.json")'; }
    }
}
NGX
nginx -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" 2>"$OUT/logs/nginx_start.log" \
    || die "nginx failed: $(cat "$OUT/logs/nginx_start.log")"

export BENCH_UPSTREAM_KEY=sk-bench-upstream-0000

conf() {  # SETUP -> httpd.conf path
    local mods body
    case $1 in
    proxy)
        mods="LoadModule proxy_module $MODDIR/mod_proxy.so
LoadModule proxy_http_module $MODDIR/mod_proxy_http.so"
        body="ProxyPass /v1/ http://127.0.0.1:$NGX/v1/ keepalive=On" ;;
    gemstream|chatstream|respstream)
        mods="LoadModule llmgw_module $SO_LLMGW"
        body="LLMGWProvider gst gemini http://127.0.0.1:$SSE/v1beta key=env:BENCH_UPSTREAM_KEY
LLMGWProvider sst openai http://127.0.0.1:$SSE/v1 key=env:BENCH_UPSTREAM_KEY
LLMGWDefaultProvider $([ "$1" = gemstream ] && echo gst || echo sst)
<Location /v1>
    SetHandler llmgw
</Location>" ;;
    *)
        mods="LoadModule llmgw_module $SO_LLMGW"
        case $1 in miss|messages|responses) def=bench ;;
                   anthropic) def=ant ;; gemini) def=gem ;;
                   *) die "unknown setup $1" ;; esac
        body="LLMGWProvider bench openai http://127.0.0.1:$NGX/v1 key=env:BENCH_UPSTREAM_KEY
LLMGWProvider ant anthropic http://127.0.0.1:$NGX key=env:BENCH_UPSTREAM_KEY
LLMGWProvider gem gemini http://127.0.0.1:$NGX key=env:BENCH_UPSTREAM_KEY
LLMGWDefaultProvider $def
<Location /v1>
    SetHandler llmgw
</Location>" ;;
    esac
    cat > "$OUT/httpd.conf" <<CONF
ServerRoot /etc/apache2
PidFile $OUT/httpd.pid
ErrorLog $OUT/logs/httpd_error.log
LogLevel warn
ServerName localhost
DefaultRuntimeDir $OUT
LoadModule mpm_event_module $MODDIR/mod_mpm_event.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
$mods
Listen 127.0.0.1:$PORT
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 60
<Directory />
    AllowOverride None
</Directory>
$body
CONF
    echo "$OUT/httpd.conf"
}

run() {  # SETUP N -> total instructions
    local setup=$1 n=$2 cf pid i urls=() ir path=/v1/chat/completions
    local body="$BENCH/request.json"
    case $setup in
    messages) path=/v1/messages; body="$BENCH/messages-request.json" ;;
    responses|respstream) path=/v1/responses; body="$BENCH/responses-request.json" ;;
    esac
    cf=$(conf "$setup")
    rm -f "$OUT/httpd.pid" "$OUT/cg.$setup.$n"
    valgrind --tool=callgrind --collect-atstart=yes \
        --callgrind-out-file="$OUT/cg.$setup.$n" \
        "$APACHE" -X -f "$cf" > "$OUT/logs/vg.$setup.$n.log" 2>&1 &
    pid=$!
    for i in $(seq 1 300); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
        sleep 0.2
    done
    local count=$n
    case $setup in gemstream|chatstream|respstream)
        # STREAMS streams of n chunks each
        sed "s/\"model\":\"gpt-4o-mini\"/\"model\":\"stream-$n-0\",\"stream\":true/" \
            "$body" > "$OUT/stream-request.$n.json"
        body="$OUT/stream-request.$n.json"; count=$STREAMS ;;
    esac
    urls=(-o "$OUT/last-answer.$setup" "http://127.0.0.1:$PORT$path")
    for i in $(seq 2 "$count"); do urls+=(-o /dev/null "http://127.0.0.1:$PORT$path"); done
    # one connection, kept alive: curl reuses it for every URL
    curl -s -H 'Content-Type: application/json' \
        -H 'Authorization: Bearer sk-client' \
        --data-binary @"$body" "${urls[@]}" \
        -w '%{http_code}\n' > "$OUT/codes.$setup.$n"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null
    if grep -qv '^200$' "$OUT/codes.$setup.$n"; then
        echo "callgrind.sh: $setup: not every answer was 200 ($(sort "$OUT/codes.$setup.$n" | uniq -c | tr '\n' ' '))" >&2
    fi
    ir=$(grep -m1 '^summary:' "$OUT/cg.$setup.$n" | awk '{print $2}')
    [ -n "$ir" ] || { echo "callgrind.sh: no callgrind output for $setup" >&2; ir=0; }
    echo "$ir"
}

printf '%-12s %14s %14s %12s\n' setup "Ir($N1)" "Ir($N2)" "instr/req"
for s in $SETUPS; do
    a=$(run "$s" "$N1"); b=$(run "$s" "$N2")
    case $s in
    gemstream|chatstream|respstream)      # per chunk
        printf '%-12s %14s %14s %12s  (instr/chunk, %s streams)\n' "$s" "$a" "$b" \
            $(( (b - a) / (STREAMS * (N2 - N1)) )) "$STREAMS" ;;
    *)
        printf '%-12s %14s %14s %12s\n' "$s" "$a" "$b" $(( (b - a) / (N2 - N1) )) ;;
    esac
done
[ "${CG_KEEP:-0}" = 1 ] || rm -f "$OUT"/cg.*
