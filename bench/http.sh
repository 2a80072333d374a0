#!/usr/bin/env bash
# Benchmark of the foundation: `docket seed --cases 100000`, then single-case GET and
# PATCH over HTTP on loopback, the load generator (docket-bench) on the same machine.
#
#   bash bench/http.sh                 # the figures in BENCHMARKS.md
#   CASES=10000 DURATION=3 bash bench/http.sh   # a quick smoke run
#   DOCKET_BIN=old/docket BENCH_BIN=old/docket-bench bash bench/http.sh   # another build
#   OPS="patch:1 patch:8" bash bench/http.sh      # only these runs (op:concurrency)
#   STORE=postgres bash bench/http.sh  # on PostgreSQL (DOCKET_BENCH_DATABASE_URL, default
#                                      # postgres://postgres@127.0.0.1:5432/postgres), in
#                                      # a schema of its own, dropped on exit
#
# Honours CARGO_TARGET_DIR (default: target). Works in a temp dir, binds 127.0.0.1 on a
# port the OS picks, and stops the server on exit, whatever happens.
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
CASES="${CASES:-100000}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
# "op concurrency" pairs, run in this order (reads before the writes change the cases).
RUNS=("get 1" "get 32" "patch 1" "patch 8" "patch 32")
# OPS="patch:8 patch:32" runs only those (op:concurrency), in that order.
if [[ -n "${OPS:-}" ]]; then
    RUNS=()
    for o in $OPS; do RUNS+=("${o%%:*} ${o##*:}"); done
fi

bench_machine

bench_build
# DOCKET_BIN / BENCH_BIN run other builds (e.g. an older commit's, for a before/after).
DOCKET="${DOCKET_BIN:-$DOCKET}"
BENCH="${BENCH_BIN:-$BENCH}"
echo "docket: $DOCKET"

bench_workdir
bench_store httpbench

echo "== seed ($STORE)"
echo "\$ docket seed --database-url ${DB%%\?*} --cases $CASES"
TIMEFORMAT="seed process wall clock (incl. start-up and migrations): %R s"
time timeout 900 "$DOCKET" seed --database-url "$DB" --cases "$CASES"
if [[ "$STORE" == postgres ]]; then
    psql "$BASE_URL" -qc "VACUUM ANALYZE $SCHEMA.cases" >/dev/null
else
    du -ch "$TMP"/bench.db* | tail -1 | awk '{print "database files: " $1}'
fi

echo "== serve"
"$DOCKET" serve --bind 127.0.0.1:0 --database-url "$DB" --log-format json \
    2>"$TMP/server.log" &
SERVER_PID=$!
wait_ready "$SERVER_PID" "$TMP/server.log"
echo "server pid $SERVER_PID on http://$ADDR"

# CPU seconds (user + system) the server has used so far.
TICKS="$(getconf CLK_TCK)"
server_cpu() { awk -v t="$TICKS" '{printf "%.2f", ($14 + $15) / t}' "/proc/$SERVER_PID/stat"; }

for run in "${RUNS[@]}"; do
    read -r op conc <<<"$run"
    echo "== $op, concurrency $conc"
    before="$(server_cpu)"
    "$BENCH" http --url "http://$ADDR" --op "$op" --concurrency "$conc" \
        --duration-secs "$DURATION" --warmup-secs "$WARMUP" --cases "$CASES" \
        | tee -a "$TMP/results.txt"
    after="$(server_cpu)"
    awk -v b="$before" -v a="$after" -v d="$((DURATION + WARMUP))" \
        'BEGIN {printf "server cpu: %.2f s over ~%d s (warm-up included): %.2f of the cores\n", a - b, d, (a - b) / d}'
done

echo "== summary ($CASES cases, ${DURATION} s per run, $(nproc) cpus shared by server and load generator)"
printf '%-6s %5s %10s %9s %9s %9s\n' op conc "req/s" "p50 ms" "p99 ms" "max ms"
grep '^RESULT' "$TMP/results.txt" | sed 's/[a-z0-9_]*=//g' |
    awk '{printf "%-6s %5s %10s %9s %9s %9s\n", $2, $3, $5, $6, $8, $9}'
echo "server log lines: $(wc -l <"$TMP/server.log"); warnings/errors: $(grep -c -E '"level":"(WARN|ERROR)"' "$TMP/server.log" || true)"
