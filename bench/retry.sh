#!/usr/bin/env bash
# The server's memory when `retry-failed` takes a job whose ITEMS items all failed, on
# SQLite: the peak resident memory (VmHWM) of the server from just before the retry to
# the retry job's end (the peak is reset before the retry when the kernel allows), and
# the retry's submit latency. The failed job's items each demand a version the cases do
# not have, so every one fails `version_conflict`.
#
#   bash bench/retry.sh                      # 1,000,000 items
#   ITEMS=100000 bash bench/retry.sh
#
# Honours CARGO_TARGET_DIR. Works in a temp dir removed on exit, binds 127.0.0.1 on a
# port the OS picks, and stops its server on exit, whatever happens. Needs curl, jq,
# python3.
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
ITEMS="${ITEMS:-1000000}"

bench_machine
bench_build
bench_workdir
DB_FILE="$TMP/bench.db"

cat >"$TMP/docket.toml" <<EOF
[server]
max_body_bytes = 134217728
[log]
filter = "warn,docket=info"
[settings]
"Jobs.MaxItemsPerRequest" = $ITEMS
EOF

echo "== seed $ITEMS cases"
"$DOCKET" seed --database-url "sqlite://$DB_FILE" --cases "$ITEMS" >/dev/null
python3 - "$ITEMS" "$TMP/body.json" <<'PY'
import json, sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    json.dump([{"caseId": f"CASE-{i:06}", "priority": "High", "expectedVersion": 99} for i in range(1, n + 1)], f)
PY

"$DOCKET" serve --bind 127.0.0.1:0 --database-url "sqlite://$DB_FILE" --config "$TMP/docket.toml" \
    --log-format json 2>"$TMP/server.log" &
SERVER_PID=$!
wait_ready "$SERVER_PID" "$TMP/server.log"
mem() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER_PID/status"; }

echo "== a job of $ITEMS items that all fail"
job=$(curl -fsS -X PATCH "http://$ADDR/api/v1/cases/bulk-update" -H 'content-type: application/json' \
    --data-binary "@$TMP/body.json" | jq -r .jobId)
failed=$(wait_job "$job" | jq -r .failed)
echo "failed items: $failed"

rss_before=$(mem VmRSS)
if echo 5 >"/proc/$SERVER_PID/clear_refs" 2>/dev/null; then reset="peak reset before the retry"; else reset="peak NOT reset"; fi
now_ms() { date +%s%3N; }
start=$(now_ms)
retry=$(curl -fsS -X POST "http://$ADDR/api/v1/jobs/$job/retry-failed" | jq -r .jobId)
submitted=$(now_ms)
wait_job "$retry" >/dev/null
echo "RESULT mode=retry-failed items=$failed submit_ms=$((submitted - start)) total_ms=$(($(now_ms) - start)) rss_before_mib=$((rss_before / 1024)) vmhwm_mib=$(($(mem VmHWM) / 1024)) ($reset)"
