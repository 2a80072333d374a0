#!/usr/bin/env bash
# Benchmark of durable bulk-update jobs: on a 1,000,000-case SQLite store, jobs of 100,
# 10,000 and 100,000 items over HTTP, timed from the submit to the `completed` status a
# client observes; the same updates as raw SQL (update + history row) on a copy of the
# store, in the same run, and the ratio; then one 1,000,000-item job with the server's
# peak RSS.
#
#   bash bench/bulk.sh                                   # the figures in BENCHMARKS.md
#   CASES=20000 SIZES=100,1000 REPS=5,2 BIG=20000 bash bench/bulk.sh   # a quick smoke run
#
# Honours CARGO_TARGET_DIR (default: target). Works in a temp dir, binds 127.0.0.1 on a
# port the OS picks, bounds every step with a timeout, and stops the server on exit,
# whatever happens.
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
CASES="${CASES:-1000000}"
SIZES="${SIZES:-100,10000,100000}"
REPS="${REPS:-30,3,3}"
# The job whose peak memory is measured (every case of the store by default).
BIG="${BIG:-$CASES}"

bench_machine

bench_build

TMP="$(mktemp -d)"
SERVER_PID=""
SAMPLER_PID=""
cleanup() {
    if [[ -n "$SAMPLER_PID" ]]; then
        kill "$SAMPLER_PID" 2>/dev/null || true
        wait "$SAMPLER_PID" 2>/dev/null || true
    fi
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
DB="sqlite://$TMP/bench.db"

echo "== seed"
echo "\$ docket seed --database-url sqlite://\$TMP/bench.db --cases $CASES"
TIMEFORMAT="seed process wall clock (incl. start-up and migrations): %R s"
time timeout 1200 "$DOCKET" seed --database-url "$DB" --cases "$CASES"
ls -l "$TMP"/bench.db* | awk '{printf "%s %d MiB\n", $NF, $5 / 1048576}' | sed "s|$TMP/||"
# `docket seed` may leave a large WAL behind; start the server and the raw copy alike
# from a checkpointed file, so neither pays for the seed's leftovers while measured.
"$BENCH" wal-checkpoint --db "$TMP/bench.db"
ls -l "$TMP"/bench.db* | awk '{printf "%s %d MiB\n", $NF, $5 / 1048576}' | sed "s|$TMP/||"
# The raw runs' copy, taken before the server touches the store.
for f in "$TMP"/bench.db*; do
    cp "$f" "$TMP/raw.db${f#"$TMP"/bench.db}"
done

# Bodies of a million items (~50 MB) and requests of that many items.
cat >"$TMP/docket.toml" <<'EOF'
[server]
max_body_bytes = 134217728

[settings]
"Jobs.MaxItemsPerRequest" = 1000000
EOF
echo "config: server.max_body_bytes = 134217728, settings.\"Jobs.MaxItemsPerRequest\" = 1000000, the rest default"

echo "== serve"
"$DOCKET" serve --config "$TMP/docket.toml" --bind 127.0.0.1:0 --database-url "$DB" \
    --log-format json 2>"$TMP/server.log" &
SERVER_PID=$!
wait_ready "$SERVER_PID" "$TMP/server.log"
echo "server pid $SERVER_PID on http://$ADDR"

TICKS="$(getconf CLK_TCK)"
server_cpu() { awk -v t="$TICKS" '{printf "%.2f", ($14 + $15) / t}' "/proc/$SERVER_PID/stat"; }
# CPU seconds the whole machine spent busy (user, nice, system, irq, softirq, steal).
machine_cpu() { awk -v t="$TICKS" '$1 == "cpu" {printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / t}' /proc/stat; }
# CPU seconds of this shell's finished children (docket-bench, tee), from `times`,
# which must run in this shell, not in a $(...) subshell.
children_cpu() {
    times >"$TMP/times"
    tail -1 "$TMP/times" | awk '{for (i = 1; i <= 2; i++) {sub(/s$/, "", $i); split($i, a, "m"); t += a[1] * 60 + a[2]} printf "%.2f", t}'
}
# Who used the CPUs during a phase: the server, the load generator, everything else
# (another build or test run on the machine makes the figures worse; say so). Call
# phase_end outside a pipeline: `times` in a subshell sees none of this shell's children.
phase_start() {
    P_WALL="$(date +%s.%N)"; P_MACHINE="$(machine_cpu)"; P_SERVER="$(server_cpu)"
    children_cpu >"$TMP/children0"
}
phase_end() {
    children_cpu >"$TMP/children1"
    awk -v w0="$P_WALL" -v w1="$(date +%s.%N)" -v m0="$P_MACHINE" -v m1="$(machine_cpu)" \
        -v s0="$P_SERVER" -v s1="$(server_cpu)" -v b0="$(cat "$TMP/children0")" \
        -v b1="$(cat "$TMP/children1")" -v n="$(nproc)" -v what="$1" 'BEGIN {
            w = w1 - w0; m = m1 - m0; s = s1 - s0; b = b1 - b0; o = m - s - b; if (o < 0) o = 0
            printf "CPU %s: %.1f s wall; cores busy %.2f of %d: server %.2f, docket-bench %.2f, everything else %.2f\n",
                what, w, m / w, n, s / w, b / w, o / w
        }'
}
wal_size() { stat -c %s "$TMP/bench.db-wal" 2>/dev/null | awk '{printf "%d MiB", $1 / 1048576}' || true; }
# A line of /proc/<server>/status, in kB.
server_mem() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER_PID/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.0f MiB", k / 1024}'; }

phase_start
sleep 5
phase_end "for 5 s before the benchmark, server idle" >"$TMP/cpu.txt"
tail -1 "$TMP/cpu.txt"

echo "== bulk jobs over HTTP (sizes $SIZES, jobs $REPS), then the same updates as raw SQL"
phase_start
timeout 3600 "$BENCH" bulk --url "http://$ADDR" --cases "$CASES" --sizes "$SIZES" --reps "$REPS" \
    --raw-db "$TMP/raw.db" | tee "$TMP/results.txt"
phase_end "during the HTTP and raw runs" >>"$TMP/cpu.txt"
tail -1 "$TMP/cpu.txt"
echo "server's WAL file now: $(wal_size) (the database file: $(stat -c %s "$TMP/bench.db" | awk '{printf "%d MiB", $1 / 1048576}'))"

echo "== one job of $BIG items: server memory"
rss_before="$(server_mem VmRSS)"
hwm_so_far="$(server_mem VmHWM)"
# Reset the peak, so VmHWM afterwards is the peak during this job alone.
if echo 5 >"/proc/$SERVER_PID/clear_refs" 2>/dev/null; then
    reset="peak reset before the job"
else
    reset="peak NOT reset (clear_refs refused): VmHWM is the process's lifetime peak"
fi
job_started="$(date +%s.%N)"
(
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        echo "$(date +%s.%N) $(server_mem VmRSS)"
        sleep 0.2
    done
) >"$TMP/rss.txt" &
SAMPLER_PID=$!
phase_start
timeout 1800 "$BENCH" bulk --url "http://$ADDR" --cases "$CASES" --sizes "$BIG" --reps 1 \
    --warmup-jobs 0 | tee "$TMP/big.txt"
phase_end "during the $BIG-item job" >>"$TMP/cpu.txt"
tail -1 "$TMP/cpu.txt"
echo "server's WAL file now: $(wal_size)"
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
hwm="$(server_mem VmHWM)"
rss_after="$(server_mem VmRSS)"
echo "server VmRSS before the job: $rss_before kB ($(mib "$rss_before")); VmHWM before it (lifetime, earlier runs): $hwm_so_far kB ($(mib "$hwm_so_far"))"
echo "server VmHWM after the job: $hwm kB ($(mib "$hwm")) [$reset]; VmRSS after: $rss_after kB ($(mib "$rss_after"))"
awk -v s="$job_started" '$2 != "" {if ($2 > m) {m = $2; t = $1 - s}} END {printf "RSS samples every 0.2 s: highest %d kB (%.0f MiB) at %.1f s after the submit started\n", m, m / 1024, t}' "$TMP/rss.txt"
awk -v s="$job_started" 'BEGIN {printf "RSS over the job (each change of 10 MiB or more):"}
    $2 != "" {mb = $2 / 1024; if (n++ == 0 || mb - last >= 10 || last - mb >= 10) {printf " %.1fs=%.0fMiB", $1 - s, mb; last = mb}}
    END {print ""}' "$TMP/rss.txt"
echo "RSS hwm_kb=$hwm rss_before_kb=$rss_before rss_after_kb=$rss_after"

echo "== summary ($CASES cases, $(nproc) cpus shared by server and load generator)"
printf '%-7s %8s %5s %10s %10s %10s %10s %10s\n' mode items jobs "p50 ms" "p99 ms" "min ms" "max ms" "items/s"
grep -h '^RESULT mode=' "$TMP/results.txt" "$TMP/big.txt" | sed 's/^RESULT mode=//; s/ [a-z0-9_]*=/ /g' |
    awk '{printf "%-7s %8s %5s %10s %10s %10s %10s %10s\n", $1, $2, $3, $4, $5, $6, $7, $8}'
grep -h -E '^(RATIO|TARGET)' "$TMP/results.txt"
cat "$TMP/cpu.txt"
echo "server log lines: $(wc -l <"$TMP/server.log"); warnings/errors: $(grep -c -E '"level":"(WARN|ERROR)"' "$TMP/server.log" || true)"
