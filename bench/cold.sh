#!/usr/bin/env bash
# The client's view of a cold job on SQLite: on a freshly seeded store of CASES cases and
# a server just started, one job of ITEMS items (random distinct cases, a new status),
# from the start of the submit to the `completed` the client observes, split into where
# the time goes (the submit's round trip; the wait before a worker starts the job; the
# run, from the job's own timestamps; the client's noticing the end); against raw SQL
# doing the same updates with one history row each, in one transaction, on a copy of
# the same store in the same run.
#
#   bash bench/cold.sh                          # 20,000 items on 200,000 cases
#   CASES=50000 ITEMS=5000 bash bench/cold.sh
#
# Honours CARGO_TARGET_DIR. Works in a temp dir removed on exit, binds 127.0.0.1 on a
# port the OS picks, and stops its server on exit, whatever happens. Needs curl, jq,
# sqlite3, python3.
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
CASES="${CASES:-200000}"
ITEMS="${ITEMS:-20000}"

bench_machine
bench_build
bench_workdir
DB_FILE="$TMP/bench.db"

cat >"$TMP/docket.toml" <<EOF
[server]
max_body_bytes = 67108864
[log]
filter = "warn,docket=info"
[settings]
"Jobs.MaxItemsPerRequest" = $ITEMS
EOF

echo "== seed $CASES cases"
"$DOCKET" seed --database-url "sqlite://$DB_FILE" --cases "$CASES" >/dev/null
sqlite3 "$DB_FILE" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
cp "$DB_FILE" "$TMP/raw.db"
# Random distinct cases, in random order, each moved to Pending (a move every
# non-terminal status allows in the default workflow is not needed: an item the
# workflow refuses fails, and is counted as processed all the same).
python3 - "$CASES" "$ITEMS" "$TMP" <<'PY'
import json, random, sys
cases, items, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(7)
ids = [f"CASE-{n:06}" for n in rng.sample(range(1, cases + 1), items)]
with open(f"{tmp}/body.json", "w") as f:
    json.dump([{"caseId": i, "priority": "Critical"} for i in ids], f)
with open(f"{tmp}/ids.txt", "w") as f:
    f.write("\n".join(ids))
PY

"$DOCKET" serve --bind 127.0.0.1:0 --database-url "sqlite://$DB_FILE" --config "$TMP/docket.toml" \
    --log-format json 2>"$TMP/server.log" &
SERVER_PID=$!
wait_ready "$SERVER_PID" "$TMP/server.log"

now_ms() { date +%s%3N; }
start=$(now_ms)
answer=$(curl -fsS -X PATCH "http://$ADDR/api/v1/cases/bulk-update" -H 'content-type: application/json' \
    --data-binary "@$TMP/body.json")
submitted=$(now_ms)
job=$(jq -r .jobId <<<"$answer")
while :; do
    st=$(curl -fsS "http://$ADDR/api/v1/jobs/$job/status?waitSeconds=30")
    [[ "$(jq -r .status <<<"$st")" == completed ]] && break
done
done_at=$(now_ms)
total=$((done_at - start))
ms() { python3 -c 'import sys, datetime; print(int(datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")).timestamp() * 1000))' "$1"; }
created=$(ms "$(jq -r .createdAt <<<"$st")")
started=$(ms "$(jq -r .startedAt <<<"$st")")
completed=$(ms "$(jq -r .completedAt <<<"$st")")
echo "RESULT mode=docket-cold cases=$CASES items=$ITEMS total_ms=$total items_per_s=$((ITEMS * 1000 / total))"
echo "  submit round trip (body sent, parsed, every item stored): $((submitted - start)) ms"
echo "  stored to started (a worker claims the job):              $((started - created)) ms"
echo "  started to completed (the chunks, $(jq -r .succeeded <<<"$st") succeeded):      $((completed - started)) ms"
echo "  completed to the client seeing it:                        $((done_at - completed)) ms (clocks of client and server are the same machine's)"

# The server is stopped first, so its background checkpoint does not share the machine
# with the raw run.
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

echo "== raw SQL: the same updates and one history row each, one transaction, on a copy"
at=$(now_ms)
# Two set-based statements over the ids as one JSON array: the floor, with no
# per-statement cost.
ids_json=$(python3 -c 'import json, sys; print(json.dumps(open(sys.argv[1]).read().split()))' "$TMP/ids.txt")
{
    echo "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE;"
    echo "UPDATE cases SET priority = 'Critical', version = version + 1, updated_at = $at, commit_seq = commit_seq + 1 WHERE case_id IN (SELECT value FROM json_each('$ids_json'));"
    echo "INSERT INTO case_history (case_seq, at, actor, field, from_value, to_value, job_id) SELECT seq, $at, 'raw', 'priority', '\"Medium\"', '\"Critical\"', 'raw' FROM cases WHERE case_id IN (SELECT value FROM json_each('$ids_json'));"
    echo "COMMIT;"
} >"$TMP/raw.sql"
raw_start=$(now_ms)
sqlite3 "$TMP/raw.db" <"$TMP/raw.sql" >/dev/null
raw_ms=$(($(now_ms) - raw_start))
echo "RESULT mode=raw items=$ITEMS total_ms=$raw_ms items_per_s=$((ITEMS * 1000 / raw_ms))"
echo "RESULT docket/raw = $((raw_ms * 100 / total))% (target >= 50%)"
