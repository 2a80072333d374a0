#!/usr/bin/env bash
# What a comment per item costs a bulk job: on a store of CASES cases, a job of ITEMS
# items that each set `priority`, against the same job whose items each also carry a
# comment (written in the item's transaction); REPS of each, alternating, from the start
# of the submit to the `completed` the client observes.
#
#   bash bench/comments.sh                        # 10,000 items on 20,000 cases, 5 reps
#   ITEMS=2000 REPS=3 bash bench/comments.sh
#   STORE=postgres bash bench/comments.sh         # on PostgreSQL (see bench_store)
#   DOCKET=/elsewhere/docket bash bench/comments.sh   # another build, not built here
#
# Honours CARGO_TARGET_DIR. Works in a temp dir (and, on PostgreSQL, a schema) removed on
# exit, binds 127.0.0.1 on a port the OS picks, and stops its server on exit, whatever
# happens. Needs curl, jq, python3 (and psql for PostgreSQL).
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
ITEMS="${ITEMS:-10000}"
CASES="${CASES:-$((ITEMS * 2))}"
REPS="${REPS:-5}"

bench_machine
if [[ -z "${DOCKET:-}" ]]; then bench_build; fi
bench_workdir
bench_store commentsbench
cat >"$TMP/docket.toml" <<EOF
[server]
max_body_bytes = 67108864
[log]
filter = "warn,docket=info"
[settings]
"Jobs.MaxItemsPerRequest" = $ITEMS
EOF

echo "== seed $CASES cases"
"$DOCKET" seed --database-url "$DB" --cases "$CASES" >/dev/null
"$DOCKET" serve --bind 127.0.0.1:0 --database-url "$DB" --config "$TMP/docket.toml" \
    --log-format json 2>"$TMP/server.log" &
SERVER_PID=$!
wait_ready "$SERVER_PID" "$TMP/server.log"

# Bodies: rep r of each kind sets a priority the case does not have (so every item
# changes it), on the cases [1, ITEMS].
python3 - "$ITEMS" "$REPS" "$TMP" <<'PY'
import json, sys
n, reps, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
prios = ["Low", "Medium", "High", "Critical"]
for r in range(reps):
    for kind in ("plain", "comment"):
        step = 2 * r + (kind == "comment")
        items = []
        for i in range(1, n + 1):
            item = {"caseId": f"CASE-{i:06}", "priority": prios[step % 4]}
            if kind == "comment":
                item["comment"] = {"body": f"Priority reviewed in round {r} by the on-call lead."}
            items.append(item)
        with open(f"{tmp}/{kind}-{r}.json", "w") as f:
            json.dump(items, f)
PY

now_ms() { date +%s%3N; }
one() {
    local start job st
    start=$(now_ms)
    job=$(curl -fsS -X PATCH "http://$ADDR/api/v1/cases/bulk-update" -H 'content-type: application/json' \
        --data-binary "@$1" | jq -r .jobId)
    st=$(wait_job "$job")
    [[ "$(jq -r .succeeded <<<"$st")" == "$ITEMS" ]] || { echo "not every item succeeded: $st" >&2; exit 1; }
    echo $(($(now_ms) - start))
}

plain=(); noted=()
for r in $(seq 0 $((REPS - 1))); do
    plain+=("$(one "$TMP/plain-$r.json")")
    noted+=("$(one "$TMP/comment-$r.json")")
    echo "rep $r: without comments ${plain[-1]} ms, with a comment per item ${noted[-1]} ms"
done
p50() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
pm=$(p50 "${plain[@]}"); cm=$(p50 "${noted[@]}")
echo "RESULT store=$STORE binary=$DOCKET items=$ITEMS cases=$CASES reps=$REPS without_p50_ms=$pm with_comment_p50_ms=$cm ratio=$(python3 -c "print(round($cm / $pm, 2))")"
count=$(curl -fsS "http://$ADDR/api/v1/cases/CASE-000001" | jq -r .commentCount)
echo "CASE-000001 has $count comments (expected $REPS)"
