#!/usr/bin/env bash
# Runs libFuzzer targets for a bounded time each:
#   t/fuzz/run.sh SECONDS build/out/fuzz/fuzz_json ...
# Each target starts from its corpus: t/fuzz/corpus/NAME (hand seeds and
# every crash found, kept as regression cases: all of them are run first),
# the JSON texts of the unit tests (t/fuzz/corpus/unit, made by
# t/fuzz/seeds.pl) for targets reading JSON, and the recorded provider
# answers and streams of $LLMGW_SHARED_DIR/fixtures that fit it. New inputs go to a temp dir, never into the tree. A crash, a
# leak, a timeout or any sanitizer report fails the run; its input is kept
# under build/out/fuzz/artifacts and its log printed.
set -u
secs=${1:?usage: run.sh SECONDS TARGET...}; shift
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
shared=${LLMGW_SHARED_DIR:-$top/../shared}
fx="$shared/fixtures"
art="$top/build/out/fuzz/artifacts"
mkdir -p "$art"
work=$(mktemp -d /tmp/llmgw-fuzz.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT

# The fixtures that seed a target: JSON answers, SSE streams or both.
seeds_for() {
    local name=$1 dir="$work/fx-$name"
    mkdir -p "$dir"
    local json=0 sse=0
    case $name in
        fuzz_json|fuzz_provider_response|fuzz_api_answer|fuzz_cache_entry) json=1;;
    esac
    case $name in
        fuzz_sse|fuzz_provider_stream|fuzz_api_stream|fuzz_native|fuzz_cache_entry) sse=1;;
    esac
    # the JSON texts of the unit tests (t/fuzz/seeds.pl) for JSON inputs
    case $name in
        fuzz_sse|fuzz_provider_stream|fuzz_native|fuzz_api_stream)
            cp "$here"/corpus/unit-sse/* "$dir"/ 2>/dev/null;;
        *) cp "$here"/corpus/unit/* "$dir"/ 2>/dev/null;;
    esac
    if [ -d "$fx" ]; then
        [ $json = 1 ] && find "$fx" -type f -name '*.json' -exec cp -t "$dir" {} + 2>/dev/null
        [ $sse = 1 ] && find "$fx" -type f \( -name '*.sse' -o -name '*.txt' \) -exec cp -t "$dir" {} + 2>/dev/null
    fi
    echo "$dir"
}

fail=0 ran=0
for bin in "$@"; do
    name=$(basename "$bin")
    corpus="$here/corpus/$name"
    new="$work/new-$name"
    mkdir -p "$new" "$corpus"
    log="$work/$name.log"
    ran=$((ran + 1))
    printf 'fuzz: %-26s %ss ... ' "$name" "$secs"
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$art/$name-" \
        "$new" "$corpus" "$(seeds_for "$name")" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ $rc != 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
        echo "FAILED (exit $rc)"
        grep -E 'ERROR|runtime error|SUMMARY|Test unit written|^ *#[0-9]+ ' "$log" | head -40 | sed 's/^/    /'
        fail=$((fail + 1))
    else
        echo "ok, ${execs:-?} runs"
    fi
done
echo "fuzz: $ran targets, $fail failed"
[ $fail = 0 ]
