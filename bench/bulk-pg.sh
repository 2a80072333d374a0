#!/usr/bin/env bash
# Bulk-update jobs on PostgreSQL: on a store of CASES cases in a fresh schema, jobs of
# 100, 10,000 and 100,000 items over HTTP (submit to the `completed` a client observes)
# against the same updates as one raw `unnest` statement per job in the same run; then
# two concurrent 100,000-item jobs on one node and on two nodes; then
# `docket check-consistency` through a 3-node cluster.
#
#   bash bench/bulk-pg.sh                                      # the figures in BENCHMARKS.md
#   CASES=20000 SIZES=100,1000 REPS=5,2 CONCURRENT_SIZE=5000 CHECK_CASES=1000 bash bench/bulk-pg.sh
#
# Needs a PostgreSQL the user may create schemas in: DOCKET_BENCH_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/postgres). Honours CARGO_TARGET_DIR. Works in a
# schema of its own, dropped on exit, binds 127.0.0.1 on ports the OS picks, and stops
# its servers on exit, whatever happens.
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
BASE_URL="${DOCKET_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
CASES="${CASES:-1000000}"
SIZES="${SIZES:-100,10000,100000}"
REPS="${REPS:-30,3,3}"
CONCURRENT_SIZE="${CONCURRENT_SIZE:-100000}"
CHECK_CASES="${CHECK_CASES:-10000}"

bench_machine
echo "postgres: $(psql "$BASE_URL" -Atc 'SHOW server_version')"

bench_build

TMP="$(mktemp -d)"
SCHEMA="bench_$(date +%s)_$$"
case "$BASE_URL" in *\?*) URL="$BASE_URL&schema=$SCHEMA" ;; *) URL="$BASE_URL?schema=$SCHEMA" ;; esac
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    psql "$BASE_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

cat >"$TMP/node.toml" <<'EOF'
[server]
max_body_bytes = 134217728
[log]
filter = "warn,docket=info"
[settings]
"Jobs.MaxItemsPerRequest" = 1000000
EOF

# Starts node $1 of the cluster; sets ADDR_$1.
serve() {
    local n="$1" log="$TMP/node$1.log"
    "$DOCKET" serve --bind 127.0.0.1:0 --database-url "$URL" --config "$TMP/node.toml" --log-format json 2>"$log" &
    PIDS+=("$!")
    wait_ready "$!" "$log"
    printf -v "ADDR_$n" '%s' "$ADDR"
}

echo "== seed"
echo "\$ docket seed --database-url postgres://...?schema=$SCHEMA --cases $CASES"
TIMEFORMAT="seed process wall clock: %R s"
time timeout 3600 "$DOCKET" seed --database-url "$URL" --cases "$CASES"
psql "$BASE_URL" -qc "VACUUM ANALYZE $SCHEMA.cases" >/dev/null
psql "$BASE_URL" -Atc "SELECT 'cases table + indexes: ' || pg_size_pretty(pg_total_relation_size('$SCHEMA.cases'))"

serve 1
echo "node 1 on $ADDR_1"
echo "== one node: jobs one at a time (sizes $SIZES, jobs $REPS), two concurrent jobs, then raw unnest"
timeout 5400 "$BENCH" bulk --url "http://$ADDR_1" --cases "$CASES" --sizes "$SIZES" --reps "$REPS" \
    --concurrent 2 --concurrent-size "$CONCURRENT_SIZE" --raw-pg "$URL"

serve 2
echo "node 2 on $ADDR_2"
echo "== two nodes: two concurrent jobs, one submitted to each"
timeout 1800 "$BENCH" bulk --url "http://$ADDR_1" --cases "$CASES" --concurrent 2 \
    --concurrent-size "$CONCURRENT_SIZE" --concurrent-urls "http://$ADDR_1,http://$ADDR_2" --concurrent-only

serve 3
echo "node 3 on $ADDR_3"
echo "== check-consistency through a 3-node cluster ($CHECK_CASES cases; writes via node 1, reads via all three)"
"$DOCKET" check-consistency --server "http://$ADDR_1" --read-from "http://$ADDR_2,http://$ADDR_3" \
    --cases "$CHECK_CASES" || echo "(exit code $?)"
