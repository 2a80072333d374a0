#!/usr/bin/env bash
# What one bulk job writes to PostgreSQL's WAL: a fresh schema of CASES cases, one job
# of CASES items (`priority`), from submit to the `completed` a client observes, and
# the WAL bytes and full-page images (`pg_stat_wal`) it added. DOCKET names the binary,
# so two builds can be compared (each from its own checkout and target directory):
#
#   DOCKET=target/release/docket bash bench/wal-pg.sh
#   DOCKET=/elsewhere/target/release/docket bash bench/wal-pg.sh
#
# Needs a PostgreSQL the user may create schemas in: DOCKET_BENCH_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/postgres), curl, jq, psql, python3. Counts the
# whole cluster's WAL: run it with nothing else writing. Works in a schema and a temp
# dir of its own, both removed on exit; binds 127.0.0.1 on a port the OS picks.
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
P="${DOCKET_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
CASES="${CASES:-100000}"
DOCKET="${DOCKET:-${CARGO_TARGET_DIR:-target}/release/docket}"
bench_machine
bench_workdir
S="walbench_$(date +%s)_$$"
trap 'bench_cleanup; psql "$P" -qc "DROP SCHEMA IF EXISTS $S CASCADE" >/dev/null 2>&1 || true' EXIT
case "$P" in *\?*) URL="$P&schema=$S" ;; *) URL="$P?schema=$S" ;; esac

python3 -c "
import json, sys
print(json.dumps([{'caseId': 'CASE-%06d' % i, 'priority': 'Critical'} for i in range(1, int(sys.argv[1]) + 1)]))
" "$CASES" >"$TMP/body.json"
cat >"$TMP/docket.toml" <<TOML
[server]
max_body_bytes = 268435456
[log]
filter = "warn,docket=info"
[settings]
"Jobs.MaxItemsPerRequest" = $CASES
TOML

psql "$P" -qc "CREATE SCHEMA $S"
"$DOCKET" seed --database-url "$URL" --cases "$CASES" >/dev/null
psql "$P" -qc "CHECKPOINT"
"$DOCKET" serve --bind 127.0.0.1:0 --database-url "$URL" --config "$TMP/docket.toml" \
    --log-format json 2>"$TMP/server.log" &
SERVER_PID=$!
wait_ready "$SERVER_PID" "$TMP/server.log"

wal() { psql "$P" -Atc "SELECT wal_bytes, wal_fpi FROM pg_stat_wal" | tr '|' ' '; }
read -r bytes0 fpi0 <<<"$(wal)"
start=$(date +%s%3N)
job=$(curl -fsS -X PATCH "http://$ADDR/api/v1/cases/bulk-update" -H 'content-type: application/json' \
    --data-binary "@$TMP/body.json" | jq -r .jobId)
while :; do
    st=$(curl -fsS "http://$ADDR/api/v1/jobs/$job/status?waitSeconds=30")
    [[ "$(jq -r .status <<<"$st")" == completed ]] && break
done
total=$(($(date +%s%3N) - start))
read -r bytes1 fpi1 <<<"$(wal)"
echo "RESULT binary=$DOCKET cases=$CASES job_ms=$total succeeded=$(jq -r .succeeded <<<"$st") wal_mib=$(((bytes1 - bytes0) / 1048576)) wal_bytes_per_item=$(((bytes1 - bytes0) / CASES)) full_page_images=$((fpi1 - fpi0))"
