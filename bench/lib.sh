# Shared by the bench/*.sh scripts: source it after `cd` to the repository root.

# Prints the machine, toolchain and commit a run was measured on.
bench_machine() {
    echo "== machine"
    echo "cpus: $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    free -h | sed -n 2p | awk '{print "memory: " $2 " total"}'
    echo "kernel: $(uname -r); $(rustc --version)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
}

# Builds release `docket` and `docket-bench`; sets DOCKET and BENCH to their paths.
bench_build() {
    echo "== build"
    cargo build --release -p docket -p docket-bench
    DOCKET="${CARGO_TARGET_DIR:-target}/release/docket"
    BENCH="${CARGO_TARGET_DIR:-target}/release/docket-bench"
}

# wait_ready PID LOG: waits (30 s at most) until the `docket serve` of PID, logging JSON
# to LOG, answers /readyz; sets ADDR to its host:port. Exits the script, showing the
# log, if the server dies or is not ready in time.
wait_ready() {
    local pid="$1" log="$2"
    ADDR=""
    for _ in $(seq 1 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$log" >&2
            echo "the server exited before it was ready" >&2
            exit 1
        fi
        ADDR="$(grep -o '"addr":"127\.0\.0\.1:[0-9]*"' "$log" | head -1 | cut -d'"' -f4 || true)"
        if [[ -n "$ADDR" ]] && curl -fsS --max-time 2 "http://$ADDR/readyz" >/dev/null 2>&1; then
            return 0
        fi
        ADDR=""
        sleep 0.1
    done
    cat "$log" >&2
    echo "the server was not ready within 30 s" >&2
    exit 1
}

# bench_workdir: makes a temp dir TMP, and on exit stops the server of SERVER_PID (if
# one was started) and removes TMP, whatever happens.
bench_workdir() {
    TMP="$(mktemp -d)"
    SERVER_PID=""
    trap bench_cleanup EXIT
}

bench_cleanup() {
    if [[ -n "${SERVER_PID:-}" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}

# bench_store PREFIX: after bench_workdir, sets DB for STORE (sqlite, the default: a
# file in TMP; postgres: DOCKET_BENCH_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/postgres, in a schema of its own named after
# PREFIX, dropped on exit). Sets BASE_URL and SCHEMA for postgres.
bench_store() {
    STORE="${STORE:-sqlite}"
    SCHEMA=""
    if [[ "$STORE" == postgres ]]; then
        BASE_URL="${DOCKET_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
        echo "postgres: $(psql "$BASE_URL" -Atc 'SHOW server_version')"
        SCHEMA="${1}_$(date +%s)_$$"
        case "$BASE_URL" in *\?*) DB="$BASE_URL&schema=$SCHEMA" ;; *) DB="$BASE_URL?schema=$SCHEMA" ;; esac
        trap 'bench_cleanup; psql "$BASE_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true' EXIT
    else
        DB="sqlite://$TMP/bench.db"
    fi
}

# wait_job JOB: long-polls the job's status on the server at ADDR until it is
# `completed`; prints that status.
wait_job() {
    while :; do
        st=$(curl -fsS "http://$ADDR/api/v1/jobs/$1/status?waitSeconds=30")
        [[ "$(jq -r .status <<<"$st")" == completed ]] && break
    done
    echo "$st"
}
