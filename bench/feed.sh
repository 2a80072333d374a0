#!/usr/bin/env bash
# The change feed and webhooks: on a store of CASES cases, PATCH writers at full speed
# (as bench/http.sh's PATCH runs) while one consumer long-polls /api/v1/changes: the lag
# from a change's commit to the consumer (p50, p99); then webhook deliveries per second
# to a receiver on 127.0.0.1 (one webhook, a bulk update of ITEMS items).
#
#   bash bench/feed.sh                                   # SQLite, the figures in BENCHMARKS.md
#   STORE=postgres bash bench/feed.sh                    # the same on PostgreSQL
#   CASES=10000 DURATION=3 ITEMS=2000 bash bench/feed.sh # a quick smoke run
#
# PostgreSQL: DOCKET_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
# in a schema of its own, dropped on exit. Honours CARGO_TARGET_DIR, DOCKET_BIN and
# BENCH_BIN. Binds 127.0.0.1 on ports the OS picks; stops the server on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
CASES="${CASES:-100000}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONCURRENCY="${CONCURRENCY:-8}"
ITEMS="${ITEMS:-10000}"
STORE="${STORE:-sqlite}"

bench_machine
bench_build
DOCKET="${DOCKET_BIN:-$DOCKET}"
BENCH="${BENCH_BIN:-$BENCH}"
echo "docket: $DOCKET"

bench_workdir
bench_store feedbench
# The webhook receiver is on loopback, which docket refuses unless allowed.
printf '[callbacks]\nallowed_hosts = ["127.0.0.1"]\n' > "$TMP/docket.toml"

echo "== seed ($STORE, $CASES cases)"
timeout 900 "$DOCKET" seed --database-url "$DB" --cases "$CASES" >/dev/null

echo "== serve"
"$DOCKET" serve --bind 127.0.0.1:0 --database-url "$DB" --config "$TMP/docket.toml" \
    --log-format json 2>"$TMP/server.log" &
SERVER_PID=$!
wait_ready "$SERVER_PID" "$TMP/server.log"
echo "server pid $SERVER_PID on http://$ADDR"

echo "== feed lag: $CONCURRENCY PATCH writers, one long-polling consumer, ${DURATION} s"
"$BENCH" feed --url "http://$ADDR" --cases "$CASES" --concurrency "$CONCURRENCY" \
    --duration-secs "$DURATION" --warmup-secs "$WARMUP" | tee "$TMP/feed.txt"

echo "== webhooks: one receiver on 127.0.0.1, a bulk update of $ITEMS items"
"$BENCH" webhooks --url "http://$ADDR" --items "$ITEMS" | tee "$TMP/hooks.txt"

echo "== summary ($STORE)"
grep '^RESULT' "$TMP/feed.txt" "$TMP/hooks.txt" | cut -d: -f2-
echo "server log warnings/errors: $(grep -c -E '"level":"(WARN|ERROR)"' "$TMP/server.log" || true)"
