#!/usr/bin/env bash
# The case-metadata cache: single-case GET throughput and latency with the cache and
# with it disabled, then `docket check-consistency` on 10,000 cases under the default
# settings and under the legacy `ttl` mode. Loopback only; stops its servers on exit.
#
#   bash bench/cache.sh                       # honours CARGO_TARGET_DIR
#   CASES=20000 DURATION=3 bash bench/cache.sh
#
# With PG_URL set (e.g. postgres://postgres@127.0.0.1:5432/postgres) it also measures
# cached GETs on a cluster node: one `docket serve` on a fresh schema of that database,
# which holds the cache lease (it hears its own heartbeats back through LISTEN/NOTIFY),
# so every cached read also checks the lease. DOCKET_BIN and BENCH_BIN run other builds
# of the two binaries (e.g. an older commit's, to measure the lease's cost).
#   PG_URL=postgres://postgres@127.0.0.1:5432/postgres ONLY=pg bash bench/cache.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CASES="${CASES:-100000}"
DURATION="${DURATION:-10}"
CHECK_CASES="${CHECK_CASES:-10000}"
ONLY="${ONLY:-}"
bench_machine
bench_build
DOCKET="${DOCKET_BIN:-$DOCKET}"
BENCH="${BENCH_BIN:-$BENCH}"
echo "docket: $DOCKET ($("$DOCKET" --version 2>/dev/null || true))"

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

printf '[log]\nfilter = "warn,docket=info"\n' >"$TMP/default.toml"
printf '[log]\nfilter = "warn,docket=info"\n[cache]\ncapacity = 0\n' >"$TMP/nocache.toml"
printf '[log]\nfilter = "warn,docket=info"\n[settings]\n"CaseManagement.BulkUpdateCacheInvalidation" = "ttl"\n' >"$TMP/ttl.toml"

if [ "$ONLY" != "pg" ]; then
echo "== seed $CASES cases"
"$DOCKET" seed --database-url "sqlite://$TMP/cache.db" --cases "$CASES"


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
fi

if [ -n "${PG_URL:-}" ]; then
    schema="dkt_bench_$RANDOM$RANDOM"
    sep='?'; case "$PG_URL" in *\?*) sep='&';; esac
    url="$PG_URL${sep}schema=$schema"
    drop_schema() { psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; }
    trap 'cleanup; drop_schema' EXIT
    echo "== seed $CASES cases on PostgreSQL (schema $schema)"
    "$DOCKET" seed --database-url "$url" --cases "$CASES"
    echo "== GET, cache: default, one cluster node on PostgreSQL (cache lease checked on every hit)"
    serve "$TMP/default.toml" "$url"
    curl -fsS "http://$ADDR/metrics" | grep -E '^docket_cache_trusted' || true
    for c in 1 32; do
        "$BENCH" http --url "http://$ADDR" --op get --concurrency "$c" --duration-secs "$DURATION" --cases "$CASES"
    done
    curl -fsS "http://$ADDR/metrics" | grep -E '^docket_cache_(hits|misses)_total' || true
    stop
fi
