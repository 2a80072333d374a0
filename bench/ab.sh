#!/usr/bin/env bash
# A before/after of single-case GET or PATCH between two release builds, alternating
# runs (before, after, before, after, ...) so that the machine's drift hits both alike.
# Every run starts a fresh server on a fresh copy of one seeded SQLite file.
#
#   BEFORE=old/target/release AFTER=target/release bash bench/ab.sh get 32 4
#
# BEFORE and AFTER are directories holding `docket` and `docket-bench`; the arguments
# are the operation (get or patch), the concurrency and the number of rounds. CASES
# (20000) and DURATION (6 s, after a 1 s warm-up) vary the runs. PRE runs other
# operations on each fresh server first, unmeasured, as bench/http.sh does before its
# PATCH runs: PRE="get:1 get:32" (each for DURATION seconds).
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
OP="$1"
CONC="$2"
ROUNDS="$3"
CASES="${CASES:-20000}"
DURATION="${DURATION:-6}"
: "${BEFORE:?BEFORE=<directory of the first build>}" "${AFTER:?AFTER=<directory of the second build>}"

bench_machine
bench_workdir

declare -A DIR=([before]="$BEFORE" [after]="$AFTER")
for build in before after; do
    mkdir -p "$TMP/$build"
    "${DIR[$build]}/docket" seed --database-url "sqlite://$TMP/$build/seed.db" --cases "$CASES" >/dev/null
done

echo "== $OP, concurrency $CONC, $ROUNDS rounds of ${DURATION} s, $CASES cases${PRE:+, after $PRE}"
for round in $(seq 1 "$ROUNDS"); do
    for build in before after; do
        rm -rf "$TMP/run"
        mkdir "$TMP/run"
        cp "$TMP/$build"/seed.db* "$TMP/run/"
        "${DIR[$build]}/docket" serve --bind 127.0.0.1:0 \
            --database-url "sqlite://$TMP/run/seed.db" --log-format json 2>"$TMP/run/server.log" &
        SERVER_PID=$!
        wait_ready "$SERVER_PID" "$TMP/run/server.log"
        for pre in ${PRE:-}; do
            "${DIR[$build]}/docket-bench" http --url "http://$ADDR" --op "${pre%%:*}" \
                --concurrency "${pre##*:}" --duration-secs "$DURATION" --warmup-secs 1 \
                --cases "$CASES" >/dev/null
        done
        result="$("${DIR[$build]}/docket-bench" http --url "http://$ADDR" --op "$OP" \
            --concurrency "$CONC" --duration-secs "$DURATION" --warmup-secs 1 --cases "$CASES" |
            grep '^RESULT')"
        echo "round $round $build $result"
        kill "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    done
done | tee "$TMP/runs"
awk '{for (i = 1; i <= NF; i++) if ($i ~ /^rps=/) {split($i, kv, "="); s[$3] += kv[2]; n[$3]++}}
     END {b = s["before"] / n["before"]; f = s["after"] / n["after"];
          printf "mean req/s: before %.0f, after %.0f (%+.1f%%)\n", b, f, (f - b) / b * 100}' "$TMP/runs"
