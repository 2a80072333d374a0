#!/usr/bin/env bash
# Instructions the server executes per single-case GET (served from the cache) and per
# single-case PATCH, counted by valgrind's callgrind: unlike requests per second on a
# shared 2-core machine, the count repeats to within a fraction of a percent, so a
# before/after of a few percent can be told apart from noise.
#
#   bash bench/instructions.sh                          # this checkout's release build
#   DOCKET_BIN=old/docket bash bench/instructions.sh    # another build, for a before/after
#
# N requests of each kind (default 2000) go over one keep-alive connection (curl with
# many URLs); counters are zeroed after a warm-up that reads every case once. Needs
# valgrind and curl. Honours CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
N="${N:-2000}"
CASES="${CASES:-2000}"

bench_machine
if [[ -z "${DOCKET_BIN:-}" ]]; then
    bench_build
fi
DOCKET="${DOCKET_BIN:-$DOCKET}"
echo "docket: $DOCKET"

bench_workdir
DB="sqlite://$TMP/bench.db"

"$DOCKET" seed --database-url "$DB" --cases "$CASES" >/dev/null
valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out.%p" \
    "$DOCKET" serve --bind 127.0.0.1:0 --database-url "$DB" --log-format json \
    2>"$TMP/server.log" &
SERVER_PID=$!
wait_ready "$SERVER_PID" "$TMP/server.log"

for i in $(seq 1 "$N"); do
    printf 'http://%s/api/v1/cases/CASE-%06d\n' "$ADDR" $(((i - 1) % CASES + 1))
done >"$TMP/urls"
patch() {
    xargs curl -sS -X PATCH -H 'content-type: application/json' -d "$1" >/dev/null
}
# Warm-up: every case read once (into the cache), a few writes.
xargs curl -sS <"$TMP/urls" >/dev/null
head -50 "$TMP/urls" | patch '{"priority":"High"}'
sleep 1

measure() {
    local name="$1"
    shift
    callgrind_control -z "$SERVER_PID" >/dev/null
    "$@"
    sleep 1
    callgrind_control -d "$name" "$SERVER_PID" >/dev/null
}
measure get sh -c "xargs curl -sS <'$TMP/urls' >/dev/null"
measure patch sh -c "xargs curl -sS -X PATCH -H 'content-type: application/json' -d '{\"priority\":\"Low\"}' <'$TMP/urls' >/dev/null"

echo "== instructions per request ($N of each, $CASES cases)"
for name in get patch; do
    f="$(grep -l "^desc: Trigger: dump $name\$" "$TMP"/cg.out.* | head -1)"
    total="$(awk '/^(summary|totals):/ {print $2; exit}' "$f")"
    echo "$name: $((total / N))"
done
