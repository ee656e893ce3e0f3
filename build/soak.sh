#!/bin/bash
# llmgw soak (`make -C build soak`, not part of `make test`): SOAK_N mixed
# requests (default 1,000,000) through one httpd with the three built
# modules, a memcached store and the mock provider; the resident memory and
# the open descriptors of every httpd child are sampled as it runs and
# compared, first sample after the warm-up against the last: flat means
# within 5% (SOAK_TOLERANCE).
#
# The mix, one request in five of each (wrk, SOAK_CONN connections, a Lua
# script rotating the kinds):
#   miss         /v1 chat, a new prompt every time (cache miss, stored)
#   hit          /v1 chat, the same prompt (cache hit)
#   stream       /v1 chat, stream: true (relayed SSE)
#   quota        /q/v1 chat with a gateway key (LLMGWQuota On, huge plan)
#   translation  /v1/messages (the Messages API) to an Anthropic-type mock,
#                alternately chat to it (Chat -> Anthropic translated)
# The children live for the whole run (MaxConnectionsPerChild 0, no spare
# thread reaping) so that one child's figures span the run.
#
# Knobs: SOAK_N=1000000 SOAK_CONN=16 SOAK_SAMPLE=5 (s) SOAK_TOLERANCE=5 (%)
#        SOAK_WARMUP=10 (% of the run before the first compared sample)
# Results: build/out/soak/ (httpd.conf, logs, samples.tsv, summary.txt).
set -u
BUILD=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$BUILD")
OUT="$BUILD/out/soak"
SHARED=${LLMGW_SHARED_DIR:-$TOP/../shared}
N=${SOAK_N:-1000000}
CONN=${SOAK_CONN:-16}
EVERY=${SOAK_SAMPLE:-5}
TOL=${SOAK_TOLERANCE:-5}
WARM=${SOAK_WARMUP:-10}

log() { printf '%s soak: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"

free_port() {
    perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1",
        LocalPort => 0, Listen => 1, ReuseAddr => 1)->sockport, "\n"'
}

rm -rf "$OUT"; mkdir -p "$OUT/logs" "$OUT/run"; chmod 755 "$OUT" "$OUT/run"
PIDS=()
cleanup() {
    [ -s "$OUT/run/httpd.pid" ] && kill -TERM "$(cat "$OUT/run/httpd.pid")" 2>/dev/null
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
}
trap cleanup EXIT

MC_PORT=$(free_port)
memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 256 -c 4096 $( [ "$(id -u)" = 0 ] && echo -u nobody ) \
    >"$OUT/logs/memcached.log" 2>&1 &
PIDS+=($!)
node "$TOP/t/mock/provider.js" --port 0 --port-file "$OUT/run/mock.port" \
    --fixtures "$SHARED/fixtures" >"$OUT/logs/mock.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$OUT/run/mock.port" ] && break; sleep 0.1; done
MOCK_PORT=$(tr -dc 0-9 < "$OUT/run/mock.port")
[ -n "$MOCK_PORT" ] || die "the mock provider did not start"
PORT=$(free_port)

user=""
[ "$(id -u)" = 0 ] && user="User nobody
Group nogroup"
M=/usr/lib/apache2/modules
cat > "$OUT/httpd.conf" <<EOF
ServerRoot "$OUT"
Listen 127.0.0.1:$PORT
ServerName llmgw-soak
PidFile "$OUT/run/httpd.pid"
DefaultRuntimeDir "$OUT/run"
ErrorLog "$OUT/logs/error_log"
LogLevel ${SOAK_LOGLEVEL:-warn}
$user
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule llmgw_module $TOP/mod_llmgw/.libs/mod_llmgw.so
LoadModule llmgw_cache_module $TOP/mod_llmgw_cache/.libs/mod_llmgw_cache.so
LoadModule llmgw_quota_module $TOP/mod_llmgw_quota/.libs/mod_llmgw_quota.so
<IfModule mpm_event_module>
    StartServers 2
    ServerLimit 2
    ThreadsPerChild 32
    MaxRequestWorkers 64
    MinSpareThreads 1
    MaxSpareThreads 64
    MaxConnectionsPerChild 0
</IfModule>
KeepAlive On
MaxKeepAliveRequests 0
LLMGWStore memcached://127.0.0.1:$MC_PORT
LLMGWProvider mock openai http://127.0.0.1:$MOCK_PORT/v1 key=env:SOAK_KEY models=echo
LLMGWProvider anth anthropic http://127.0.0.1:$MOCK_PORT key=env:SOAK_KEY models=echo
LLMGWDefaultProvider mock
LLMGWTimeout 30
LLMGWPlan soak requests_month=1000000000 rpm=100000000
LLMGWKey sk-soak workspace=soak plan=soak
<Location /v1>
    SetHandler llmgw
    LLMGWCache On
    LLMGWCacheTTL 3600
</Location>
<Location /q/v1>
    SetHandler llmgw
    LLMGWQuota On
</Location>
EOF
SOAK_KEY=sk-soak-provider /usr/sbin/apache2 -f "$OUT/httpd.conf" -k start || die "httpd did not start"
for _ in $(seq 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/v1/chat/completions" \
        -H 'Content-Type: application/json' \
        -d '{"model":"mock/echo","messages":[{"role":"user","content":"up"}]}' && break
    sleep 0.2
done
PARENT=$(cat "$OUT/run/httpd.pid")
log "httpd $PARENT on $PORT, memcached $MC_PORT, mock $MOCK_PORT; $N requests over $CONN connections"

cat > "$OUT/mix.lua" <<'EOF'
-- one request of each kind in turn; each thread stops after its share
local n, kinds = 0, 5
local share = tonumber(os.getenv("SOAK_SHARE"))
local made = 0       -- setup() runs in the main state: tid is the thread's global
function setup(thread) made = made + 1; thread:set("tid", made) end
local function chat(model, content, stream)
  return '{"model":"' .. model .. '","stream":' .. (stream and "true" or "false")
      .. ',"messages":[{"role":"user","content":"' .. content .. '"}]}'
end
request = function()
  n = n + 1
  local k = n % kinds
  local h = { ["Content-Type"] = "application/json" }
  if k == 0 then
    return wrk.format("POST", "/v1/chat/completions", h, chat("mock/echo", "miss " .. tid .. " " .. n, false))
  elseif k == 1 then
    return wrk.format("POST", "/v1/chat/completions", h, chat("mock/echo", "the same question", false))
  elseif k == 2 then
    return wrk.format("POST", "/v1/chat/completions", h, chat("mock/echo", "stream " .. (n % 100), true))
  elseif k == 3 then
    h["Authorization"] = "Bearer sk-soak"
    return wrk.format("POST", "/q/v1/chat/completions", h, chat("mock/echo", "quota " .. (n % 50), false))
  elseif n % 2 == 0 then
    h["anthropic-version"] = "2023-06-01"
    return wrk.format("POST", "/v1/messages", h,
      '{"model":"anth/echo","max_tokens":64,"messages":[{"role":"user","content":"messages ' .. (n % 70) .. '"}]}')
  else
    return wrk.format("POST", "/v1/chat/completions", h, chat("anth/echo", "translated " .. (n % 70), false))
  end
end
local marked = false
response = function(status, headers, body)
  if n >= share and not marked then
    -- wrk's main thread sleeps for -d: tell the script this thread is done
    marked = true
    local f = io.open(os.getenv("SOAK_DONE") .. "." .. tid, "w")
    if f then f:close() end
    wrk.thread:stop()
  end
end
done = function(summary, latency, requests)
  io.write(string.format("requests %d errors_status %d errors_connect %d errors_read %d errors_timeout %d\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.timeout))
end
EOF

THREADS=2
# wrk's -d is only an upper bound: each thread stops after its share and
# leaves a mark; once every thread has, wrk is interrupted (SIGINT: it
# prints its summary and exits)
rm -f "$OUT/run/done."*
SOAK_DONE="$OUT/run/done" SOAK_SHARE=$(( (N + THREADS - 1) / THREADS )) wrk -t$THREADS -c"$CONN" -d 24h --timeout 60s \
    -s "$OUT/mix.lua" "http://127.0.0.1:$PORT" >"$OUT/wrk.txt" 2>&1 &
WRK=$!
PIDS+=($WRK)

printf 'elapsed\tpid\trss_kb\tfds\n' > "$OUT/samples.tsv"
t0=$(date +%s)
while kill -0 $WRK 2>/dev/null; do
    # once a wrk thread is done its connections close: samples from then on
    # measure the end of the load, not the process
    ls "$OUT/run/" | grep -q '^done\.' && running=0 || running=1
    for c in $( [ $running = 1 ] && ps -o pid= --ppid "$PARENT"); do
        rss=$(awk '/^VmRSS/ {print $2}' /proc/$c/status 2>/dev/null)
        fds=$(ls /proc/$c/fd 2>/dev/null | wc -l)
        [ -n "$rss" ] && printf '%s\t%s\t%s\t%s\n' "$(( $(date +%s) - t0 ))" "$c" "$rss" "$fds" >> "$OUT/samples.tsv"
    done
    [ "$(ls "$OUT/run/" | grep -c '^done\.')" -ge $THREADS ] && kill -INT $WRK 2>/dev/null
    sleep "$EVERY"
done
wait $WRK
elapsed=$(( $(date +%s) - t0 ))
cat "$OUT/wrk.txt" >&2

perl -e '
    my ($tol, $warm, $elapsed) = @ARGV;
    my %s;
    open my $fh, "<", "'"$OUT"'/samples.tsv" or die; <$fh>;
    while (<$fh>) { chomp; my ($t, $pid, $rss, $fd) = split /\t/; push @{ $s{$pid} }, [$t, $rss, $fd] }
    my $fail = 0;
    for my $pid (sort keys %s) {
        my @v = grep { $_->[0] >= $elapsed * $warm / 100 } @{ $s{$pid} };
        next unless @v >= 2;
        my ($a, $b) = ($v[0], $v[-1]);
        my $drss = 100 * ($b->[1] - $a->[1]) / $a->[1];
        my $dfd  = 100 * ($b->[2] - $a->[2]) / $a->[2];
        my ($minr, $maxr) = (1e18, 0);
        for (@v) { $minr = $_->[1] if $_->[1] < $minr; $maxr = $_->[1] if $_->[1] > $maxr }
        my $flat = abs($drss) <= $tol && abs($dfd) <= $tol;
        $fail++ unless $flat;
        printf "child %s: RSS %d -> %d KB (%+.1f%%, range %d-%d), fds %d -> %d (%+.1f%%) over %d-%d s: %s\n",
            $pid, $a->[1], $b->[1], $drss, $minr, $maxr, $a->[2], $b->[2], $dfd, $a->[0], $b->[0],
            $flat ? "flat" : "NOT FLAT";
    }
    exit($fail ? 1 : 0);
' "$TOL" "$WARM" "$elapsed" | tee "$OUT/summary.txt"
rc=${PIPESTATUS[0]}
grep '^requests' "$OUT/wrk.txt" | tee -a "$OUT/summary.txt"
echo "elapsed $elapsed s" | tee -a "$OUT/summary.txt"
if grep -qE 'errors_status [1-9]|errors_connect [1-9]|errors_timeout [1-9]' "$OUT/wrk.txt"; then
    log "some requests failed (see $OUT/wrk.txt)"; rc=1
fi
exit $rc
