#!/usr/bin/env bash
# The case-metadata cache: single-case GET throughput and latency with the cache and
# with it disabled, then `docket check-consistency` on 10,000 cases under the default
# settings and under the legacy `ttl` mode. Loopback only; stops its servers on exit.
#
#   bash bench/cache.sh                       # honours CARGO_TARGET_DIR
#   CASES=20000 DURATION=3 bash bench/cache.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CASES="${CASES:-100000}"
DURATION="${DURATION:-10}"
CHECK_CASES="${CHECK_CASES:-10000}"
bench_machine
bench_build

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# Starts `docket serve` with config file $1 on database $2; sets SERVER_PID and ADDR.
serve() {
    "$DOCKET" serve --bind 127.0.0.1:0 --database-url "$2" --config "$1" --log-format json 2>"$TMP/server.log" &
    SERVER_PID=$!
    wait_ready "$SERVER_PID" "$TMP/server.log"
}

stop() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

echo "== seed $CASES cases"
"$DOCKET" seed --database-url "sqlite://$TMP/cache.db" --cases "$CASES"

printf '[log]\nfilter = "warn,docket=info"\n' >"$TMP/default.toml"
printf '[log]\nfilter = "warn,docket=info"\n[cache]\ncapacity = 0\n' >"$TMP/nocache.toml"
printf '[log]\nfilter = "warn,docket=info"\n[settings]\n"CaseManagement.BulkUpdateCacheInvalidation" = "ttl"\n' >"$TMP/ttl.toml"

for mode in default nocache; do
    echo "== GET, cache: $mode"
    serve "$TMP/$mode.toml" "sqlite://$TMP/cache.db"
    for c in 1 32; do
        "$BENCH" http --url "http://$ADDR" --op get --concurrency "$c" --duration-secs "$DURATION" --cases "$CASES"
    done
    stop
done

for mode in default ttl; do
    echo "== check-consistency on $CHECK_CASES cases, settings: $mode"
    serve "$TMP/$mode.toml" "sqlite://$TMP/check-$mode.db"
    "$DOCKET" check-consistency --server "http://$ADDR" --cases "$CHECK_CASES" || echo "(exit code $?)"
    stop
done
