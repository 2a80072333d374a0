#!/usr/bin/env bash
# The server's peak resident memory (VmHWM) while it accepts and runs very large bulk
# requests, on SQLite; each scenario on a server of its own, so each peak is its own:
#
#   json        one bulk update of ITEMS items (a JSON array), submit to completed
#   concurrent  CONCURRENT bulk updates of EACH items each, submitted at once
#   import      one bulk create of ITEMS cases from NDJSON, submit to completed; its
#               cases/s against `docket seed` writing as many cases into an empty file
#
#   bash bench/memory.sh                                  # 1,000,000 items; 32 x 10,000
#   ITEMS=100000 CONCURRENT=8 EACH=5000 bash bench/memory.sh
#
# Honours CARGO_TARGET_DIR. Works in a temp dir removed on exit, binds 127.0.0.1 on
# ports the OS picks, and stops its server on exit, whatever happens. Needs curl, jq,
# python3.
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
ITEMS="${ITEMS:-1000000}"
CONCURRENT="${CONCURRENT:-32}"
EACH="${EACH:-10000}"

bench_machine
bench_build
bench_workdir

cat >"$TMP/docket.toml" <<EOF
[server]
max_body_bytes = 268435456
request_timeout_seconds = 600
[log]
filter = "warn,docket=info"
[settings]
"Jobs.MaxItemsPerRequest" = $ITEMS
EOF

now_ms() { date +%s%3N; }

serve() {
    "$DOCKET" serve --bind 127.0.0.1:0 --database-url "sqlite://$1" --config "$TMP/docket.toml" \
        --log-format json 2>"$TMP/server.log" &
    SERVER_PID=$!
    wait_ready "$SERVER_PID" "$TMP/server.log"
}
stop() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
mem() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER_PID/status"; }
echo "== bodies"
python3 - "$ITEMS" "$CONCURRENT" "$EACH" "$TMP" <<'PY'
import json, sys
n, k, each, tmp = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(f"{tmp}/update.json", "w") as f:
    json.dump([{"caseId": f"CASE-{i:06}", "priority": "High", "tags": ["bulk"]} for i in range(1, n + 1)], f)
for j in range(k):
    with open(f"{tmp}/each-{j}.json", "w") as f:
        first = j * each + 1
        json.dump([{"caseId": f"CASE-{i:06}", "status": "In Progress"} for i in range(first, first + each)], f)
with open(f"{tmp}/import.ndjson", "w") as f:
    for i in range(1, n + 1):
        f.write(json.dumps({"title": f"Imported case {i}", "externalId": f"EXT-{i:07}",
                            "priority": "Low", "tags": ["import"], "fields": {"source": "bench"}}) + "\n")
PY
ls -l "$TMP"/update.json "$TMP"/import.ndjson | awk '{print $5, $9}'

echo "== seed $ITEMS cases (the floor of the import)"
start=$(now_ms)
"$DOCKET" seed --database-url "sqlite://$TMP/seeded.db" --cases "$ITEMS" >/dev/null
seed_ms=$(($(now_ms) - start))
echo "RESULT mode=seed cases=$ITEMS ms=$seed_ms cases_per_s=$((ITEMS * 1000 / seed_ms))"

echo "== json: one bulk update of $ITEMS items"
serve "$TMP/seeded.db"
start=$(now_ms)
job=$(curl -fsS -X PATCH "http://$ADDR/api/v1/cases/bulk-update" -H 'content-type: application/json' \
    --data-binary "@$TMP/update.json" | jq -r .jobId)
submitted=$(now_ms)
wait_job "$job" >/dev/null
echo "RESULT mode=json items=$ITEMS submit_ms=$((submitted - start)) total_ms=$(($(now_ms) - start)) vmhwm_mib=$(($(mem VmHWM) / 1024)) vmrss_mib=$(($(mem VmRSS) / 1024))"
stop

echo "== concurrent: $CONCURRENT bulk updates of $EACH items at once"
serve "$TMP/seeded.db"
start=$(now_ms)
senders=()
for j in $(seq 0 $((CONCURRENT - 1))); do
    curl -fsS -X PATCH "http://$ADDR/api/v1/cases/bulk-update" -H 'content-type: application/json' \
        --data-binary "@$TMP/each-$j.json" -o "$TMP/answer-$j.json" &
    senders+=($!)
done
wait "${senders[@]}"
submitted=$(now_ms)
for j in $(seq 0 $((CONCURRENT - 1))); do
    wait_job "$(jq -r .jobId "$TMP/answer-$j.json")" >/dev/null
done
echo "RESULT mode=concurrent submits=$CONCURRENT items_each=$EACH submit_ms=$((submitted - start)) total_ms=$(($(now_ms) - start)) vmhwm_mib=$(($(mem VmHWM) / 1024))"
stop

echo "== import: one bulk create of $ITEMS cases from NDJSON"
serve "$TMP/import.db"
start=$(now_ms)
job=$(curl -fsS -X POST "http://$ADDR/api/v1/cases/bulk-create" -H 'content-type: application/x-ndjson' \
    --data-binary "@$TMP/import.ndjson" | jq -r .jobId)
submitted=$(now_ms)
done_json=$(wait_job "$job")
total_ms=$(($(now_ms) - start))
echo "RESULT mode=import cases=$(jq -r .succeeded <<<"$done_json") submit_ms=$((submitted - start)) total_ms=$total_ms cases_per_s=$((ITEMS * 1000 / total_ms)) seed_cases_per_s=$((ITEMS * 1000 / seed_ms)) vmhwm_mib=$(($(mem VmHWM) / 1024))"
stop
