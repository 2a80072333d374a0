#!/usr/bin/env bash
# What a console page view costs with 1,000,000 cases: the API calls the console makes
# (whoami, workflow, one page of cases under each filter and sort, a deep page by cursor,
# the jobs list) timed one after another over one keep-alive connection, 30 times each;
# prints p50/p95/max in ms. The store is SQLite, seeded once. Loopback only.
#
#   bash bench/console.sh                    # honours CARGO_TARGET_DIR
#   CASES=100000 bash bench/console.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CASES="${CASES:-1000000}"
bench_machine
bench_build

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "== seed $CASES cases"
start=$(date +%s)
"$DOCKET" seed --database-url "sqlite://$TMP/console.db" --cases "$CASES" >/dev/null
echo "seeded in $(( $(date +%s) - start )) s"

printf '[log]\nfilter = "warn,docket=info"\n' >"$TMP/quiet.toml"
"$DOCKET" serve --bind 127.0.0.1:0 --database-url "sqlite://$TMP/console.db" --config "$TMP/quiet.toml" \
    --log-format json 2>"$TMP/server.log" &
SERVER_PID=$!
wait_ready "$SERVER_PID" "$TMP/server.log"

echo "== page views (ms over 30 calls; rows = items returned)"
python3 - "$ADDR" <<'PY'
import http.client, json, statistics, sys, time
conn = http.client.HTTPConnection(sys.argv[1])
def call(path):
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, (path, r.status, body[:300])
    return body
def timed(name, path, n=30):
    call(path)  # warm
    ms = []
    for _ in range(n):
        t = time.perf_counter(); body = call(path); ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    try:
        rows = len(json.loads(body).get("items", [])) if path.startswith("/api/v1/cases") or path.startswith("/api/v1/jobs") else "-"
    except Exception:
        rows = "-"
    print(f"{name:<44} p50 {statistics.median(ms):7.2f}  p95 {ms[int(len(ms)*0.95)-1]:7.2f}  max {ms[-1]:7.2f}  rows {rows}")
# A cursor 20 pages deep in the console's default order.
cur = ""
for _ in range(20):
    page = json.loads(call("/api/v1/cases?sort=-createdAt&limit=50" + (f"&cursor={cur}" if cur else "")))
    cur = page["nextCursor"]
timed("console shell (/console/cases)", "/console/cases")
timed("whoami", "/api/v1/whoami")
timed("workflow", "/api/v1/workflow")
timed("cases, sort -updatedAt", "/api/v1/cases?sort=-updatedAt&limit=50")
timed("cases, sort createdAt", "/api/v1/cases?sort=createdAt&limit=50")
timed("cases, sort -createdAt (console default)", "/api/v1/cases?sort=-createdAt&limit=50")
timed("cases, page 21 by cursor, -createdAt", f"/api/v1/cases?sort=-createdAt&limit=50&cursor={cur}")
timed("cases, status=Pending, -updatedAt", "/api/v1/cases?status=Pending&sort=-updatedAt&limit=50")
timed("cases, status=Resolved, -createdAt", "/api/v1/cases?status=Resolved&sort=-createdAt&limit=50")
timed("cases, assignee=carol, -updatedAt", "/api/v1/cases?assignee=carol&sort=-updatedAt&limit=50")
timed("cases, assignee=carol, -createdAt", "/api/v1/cases?assignee=carol&sort=-createdAt&limit=50")
timed("cases, tag=vip, -updatedAt", "/api/v1/cases?tag=vip&sort=-updatedAt&limit=50")
timed("cases, tag=vip, -createdAt", "/api/v1/cases?tag=vip&sort=-createdAt&limit=50")
timed("cases, q=refund (common), -updatedAt", "/api/v1/cases?q=refund&sort=-updatedAt&limit=50")
timed("cases, q=no-such-words (matches none)", "/api/v1/cases?q=no-such-words&limit=50", n=5)
timed("cases, 250 a page, -createdAt", "/api/v1/cases?sort=-createdAt&limit=250")
timed("jobs, newest first", "/api/v1/jobs?limit=50")
PY
