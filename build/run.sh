#!/bin/sh
# `make -C build run`: starts the gateway on 127.0.0.1:8080 with the example
# config (llmgw-example.conf) and a local mock provider; `make -C build stop`
# (or `build/run.sh stop`) stops both.
set -e
BUILD=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$BUILD")
RUN="$BUILD/run"
PORT=${LLMGW_PORT:-8080}
MOCK_PORT=${LLMGW_MOCK_PORT:-8089}

# Stops a process by its pid file and waits until it is gone (httpd removes
# its own pid file on the way out).
stop_pid() {
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    rm -f "$1"
}
stop() {
    stop_pid "$RUN/httpd.pid"
    stop_pid "$RUN/mock.pid"
}
if [ "$1" = stop ]; then stop; echo "llmgw stopped"; exit 0; fi
stop
mkdir -p "$RUN/logs"
chmod 755 "$RUN" "$RUN/logs"

# the mock provider answers model "mock/echo" (and mock/inspect, ...)
node "$TOP/t/mock/provider.js" --port "$MOCK_PORT" --port-file "$RUN/mock.port" \
    --fixtures "$TOP/../shared/fixtures" >"$RUN/logs/mock.log" 2>&1 &
echo $! > "$RUN/mock.pid"

# The management API: an admin secret (kept across runs, printed below), the
# 32 random bytes that encrypt stored provider keys (read by httpd as root
# before it drops privileges) and the SQLite database's directory, writable
# by the user the children run as.
umask 077
[ -s "$RUN/admin.key" ] || printf 'llmgw_admin_%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$RUN/admin.key"
[ -s "$RUN/secret.key" ] || head -c 32 /dev/urandom > "$RUN/secret.key"
umask 022
ADMIN_KEY=$(head -n1 "$RUN/admin.key")
LLMGW_ADMIN_SHA256=$(printf %s "$ADMIN_KEY" | sha256sum | cut -d' ' -f1)
mkdir -p "$RUN/db"
if [ "$(id -u)" = 0 ]; then chown www-data: "$RUN/db"; fi

DEFS=""
[ -n "$OPENAI_API_KEY" ] && DEFS="$DEFS -D LLMGW_OPENAI"
[ -n "$ANTHROPIC_API_KEY" ] && DEFS="$DEFS -D LLMGW_ANTHROPIC"
[ -n "$GEMINI_API_KEY" ] && DEFS="$DEFS -D LLMGW_GEMINI"
USER_DIRECTIVES=""
if [ "$(id -u)" = 0 ]; then USER_DIRECTIVES="-D LLMGW_AS_ROOT"; fi

export LLMGW_ADMIN_SHA256
export LLMGW_MOCK_KEY=mock-key LLMGW_TOP="$TOP" LLMGW_RUN="$RUN" LLMGW_PORT="$PORT" LLMGW_MOCK_PORT="$MOCK_PORT"
/usr/sbin/apache2 -f "$BUILD/llmgw-example.conf" $DEFS $USER_DIRECTIVES -k start
for i in 1 2 3 4 5 6 7 8 9 10; do
    [ -f "$RUN/httpd.pid" ] && [ -f "$RUN/mock.port" ] && break
    sleep 0.3
done
cat <<MSG
llmgw is running on http://127.0.0.1:$PORT (logs in $RUN/logs).
Try:
  curl http://127.0.0.1:$PORT/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{"model":"mock/echo","messages":[{"role":"user","content":"Hello!"}]}'

Management API (admin key: $ADMIN_KEY):
  curl http://127.0.0.1:$PORT/v1/workspaces -H "Authorization: Bearer $ADMIN_KEY" \\
       -d '{"name":"Acme","plan":"free","id":"acme"}'
  curl http://127.0.0.1:$PORT/v1/workspaces/acme/keys -H "Authorization: Bearer $ADMIN_KEY" \\
       -d '{"name":"my-app"}'
Stop it with: make -C build stop
MSG
