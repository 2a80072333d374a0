//! `docket-bench bulk`: bulk-update jobs over HTTP, timed as a client sees them, and
//! (with `--raw-db`) the same updates as raw SQL on a copy of the store: the ceiling.
//!
//! For each job size N (`--sizes`) and repetition (`--reps`), N distinct cases are picked
//! from CASE-000001..CASE-{cases} by a seeded [`SplitMix64`]; the same (N, repetition)
//! picks the same cases in both modes. Every item sets `fields: {"bench": v}` with `v`
//! new for every job: a field change is valid from every status, terminal ones included,
//! and always a real write (a new version and exactly one history row per case).
//!
//! docket: the time runs from just before `PATCH /api/v1/cases/bulk-update` is sent (the
//! body is serialised before) to the arrival of the `completed` answer of the long-poll
//! `GET /api/v1/jobs/{id}/status?waitSeconds=` (re-sent until the job ends), the fastest
//! way a client can learn of completion. Jobs run one at a time on one keep-alive
//! connection; nothing else loads the server. Every job must end `completed` with
//! outcome `succeeded` and N succeeded items, and one of its cases is read back (after
//! the clock stops) to check the change landed; anything else fails the run.
//!
//! The HTTP side is in [`client`]. raw: see [`raw`]. It runs after the HTTP jobs, on the
//! same machine, while the server sits idle, with the same warm-up, the same pragmas
//! and (by default) the same WAL checkpointing as the server.

mod client;
mod raw;
mod raw_pg;

use std::path::PathBuf;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, ensure};

use crate::rng::SplitMix64;
use crate::stats::{Latencies, Summary, ms};
use client::Client;
use raw::RawStore;
use raw_pg::RawPg;

#[derive(clap::Args)]
pub struct Args {
    /// Base URL of a running docket server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Cases CASE-000001..CASE-N exist (e.g. from `docket seed --cases N`).
    #[arg(long)]
    cases: u64,
    /// Job sizes (items per job), run in this order.
    #[arg(long, value_delimiter = ',', default_value = "100,10000,100000")]
    sizes: Vec<usize>,
    /// Jobs per size, in the order of --sizes.
    #[arg(long, value_delimiter = ',', default_value = "30,3,3")]
    reps: Vec<usize>,
    /// Unmeasured jobs of the first size before the measured ones, in each mode (they
    /// open the connection and warm the caches).
    #[arg(long, default_value_t = 3)]
    warmup_jobs: usize,
    /// A copy of the seeded SQLite file, taken before the server started: also apply
    /// the same updates there as raw SQL and compare.
    #[arg(long)]
    raw_db: Option<PathBuf>,
    /// The server's PostgreSQL URL (docket's, `schema=` included): also apply the same
    /// updates there, after the HTTP jobs, as one `unnest` statement per job.
    #[arg(long, conflicts_with = "raw_db")]
    raw_pg: Option<String>,
    /// After the one-at-a-time jobs: submit this many jobs of `--concurrent-size`
    /// items (disjoint cases) at the same moment and time until the last completes.
    #[arg(long, default_value_t = 0)]
    concurrent: usize,
    #[arg(long, default_value_t = 100_000)]
    concurrent_size: usize,
    /// Servers the concurrent jobs go to, round robin (default: `--url`): the nodes of
    /// one cluster, to compare one node working them with several.
    #[arg(long, value_delimiter = ',')]
    concurrent_urls: Vec<String>,
    /// Run only the concurrent jobs (no one-at-a-time jobs, no raw mode).
    #[arg(long, requires = "concurrent")]
    concurrent_only: bool,
    /// How the raw mode checkpoints its WAL (`background` is what the server does).
    #[arg(long, value_enum, default_value_t = raw::Checkpoints::Background)]
    raw_checkpoints: raw::Checkpoints,
    /// Seed of the case picks (the same seed picks the same cases).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `waitSeconds` of each status long-poll.
    #[arg(long, default_value_t = 30)]
    wait_seconds: u64,
    /// A job not ended within this time fails the run.
    #[arg(long, default_value_t = 900)]
    job_timeout_secs: u64,
}

/// `docket-bench wal-checkpoint`: empties the WAL of a SQLite file no one else has open.
#[derive(clap::Args)]
pub struct CheckpointArgs {
    /// The database file (its `-wal` sits beside it).
    #[arg(long)]
    db: PathBuf,
}

/// Gives the server and the raw copy the same start: every page in the main file, an
/// empty WAL, nothing for a checkpointer to catch up on while the first jobs run.
pub fn checkpoint(args: CheckpointArgs) -> anyhow::Result<()> {
    let before = raw::truncate_wal(&args.db)?;
    println!(
        "checkpointed {}: its WAL held {} MiB, now it is empty",
        args.db.display(),
        before / (1 << 20)
    );
    Ok(())
}

/// The cases of one job: measured repetition `rep` of size `n`, or warm-up job `rep`
/// (`warmup`), the same in both modes.
fn pick(args: &Args, n: usize, rep: usize, warmup: bool) -> Vec<u64> {
    let stream = (n as u64) << 24 ^ rep as u64 ^ if warmup { 1 << 63 } else { 0 };
    let mut rng = SplitMix64::new(args.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.distinct(n, args.cases)
}

/// What one mode measured for one size.
struct Measured {
    n: usize,
    total: Summary,
    /// docket only: time to the `200` of the submit, and the job's own `durationMs`.
    submit: Option<Summary>,
    server: Option<Summary>,
}

impl Measured {
    fn items_per_s(&self) -> f64 {
        self.n as f64 / self.total.p50.as_secs_f64()
    }

    fn print(&self, mode: &str) {
        let t = &self.total;
        let mut line = format!(
            "RESULT mode={mode} n={} jobs={} p50_ms={:.3} p99_ms={:.3} min_ms={:.3} max_ms={:.3} items_per_s={:.0}",
            self.n,
            t.count,
            ms(t.p50),
            ms(t.p99),
            ms(t.min),
            ms(t.max),
            self.items_per_s()
        );
        if let (Some(s), Some(d)) = (&self.submit, &self.server) {
            line.push_str(&format!(
                " submit_p50_ms={:.3} server_duration_p50_ms={:.0}",
                ms(s.p50),
                ms(d.p50)
            ));
        }
        println!("{line}");
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.cases > 0, "--cases must be positive");
    if args.concurrent_only {
        Client::new(&args, &args.url)?.preflight(args.cases).await?;
        let value = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64 * 1000;
        return concurrent(&args, value).await;
    }
    ensure!(
        args.sizes.len() == args.reps.len(),
        "--sizes and --reps must list as many values"
    );
    ensure!(
        args.sizes.iter().all(|&n| n > 0 && n as u64 <= args.cases),
        "every size must be between 1 and --cases"
    );
    ensure!(args.reps.iter().all(|&r| r > 0), "--reps must be positive");
    let client = Client::new(&args, &args.url)?;
    client.preflight(args.cases).await?;
    if args.concurrent_only {
        return concurrent(
            &args,
            SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64 * 1000,
        )
        .await;
    }
    // Distinct in this run and from earlier runs on the same store, so no item is a no-op.
    let mut next_value = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("clock before 1970")?
        .as_millis() as u64
        * 1000;
    let mut value = || {
        next_value += 1;
        next_value
    };

    println!(
        "bulk: sizes {:?}, jobs {:?}, {} warm-up jobs of {}, random distinct ids in CASE-000001..CASE-{:06}, one job at a time",
        args.sizes, args.reps, args.warmup_jobs, args.sizes[0], args.cases
    );
    for w in 0..args.warmup_jobs {
        client
            .job(&pick(&args, args.sizes[0], w, true), value())
            .await
            .context("warm-up job")?;
    }
    let mut docket = Vec::new();
    for (&n, &reps) in args.sizes.iter().zip(&args.reps) {
        let (mut total, mut submit, mut server) = (
            Latencies::with_capacity(reps),
            Latencies::with_capacity(reps),
            Latencies::with_capacity(reps),
        );
        for rep in 0..reps {
            let t = client.job(&pick(&args, n, rep, false), value()).await?;
            total.record(t.total);
            submit.record(t.submit);
            server.record(t.server);
        }
        let m = Measured {
            n,
            total: total.summary().context("no job")?,
            submit: submit.summary(),
            server: server.summary(),
        };
        m.print("docket");
        docket.push(m);
    }

    if args.concurrent > 0 {
        concurrent(&args, value()).await?;
    }
    let store = if let Some(path) = &args.raw_db {
        let store = RawStore::open(path, args.cases, args.raw_checkpoints)?;
        println!(
            "raw: the same jobs, each one transaction on {}, WAL checkpoints {:?}",
            path.display(),
            args.raw_checkpoints
        );
        Raw::Sqlite(store)
    } else if let Some(url) = &args.raw_pg {
        let store = RawPg::open(url, args.cases).await?;
        println!("raw: the same jobs on PostgreSQL, each one transaction of one unnest statement");
        Raw::Pg(store)
    } else {
        return Ok(());
    };
    let raw = run_raw(&args, store, &mut value).await?;
    compare(&docket, &raw);
    Ok(())
}

/// `--concurrent` jobs at once, on disjoint cases, spread over `--concurrent-urls`:
/// the time from the first submit to the last `completed`, and the items/s of the whole.
async fn concurrent(args: &Args, value: u64) -> anyhow::Result<()> {
    let urls = if args.concurrent_urls.is_empty() {
        vec![args.url.clone()]
    } else {
        args.concurrent_urls.clone()
    };
    let (jobs, size) = (args.concurrent, args.concurrent_size);
    ensure!(
        (jobs * size) as u64 <= args.cases,
        "--concurrent x --concurrent-size must not exceed --cases"
    );
    let mut rng = SplitMix64::new(args.seed ^ 0xC0FF_EE00);
    let all = rng.distinct(jobs * size, args.cases);
    let started = std::time::Instant::now();
    let mut running = Vec::new();
    for (i, cases) in all.chunks(size).enumerate() {
        let client = Client::new(args, &urls[i % urls.len()])?;
        let cases = cases.to_vec();
        running.push(tokio::spawn(async move { client.job(&cases, value).await }));
    }
    for job in running {
        job.await.context("a concurrent job's task")??;
    }
    let elapsed = started.elapsed();
    println!(
        "RESULT mode=concurrent jobs={jobs} n={size} nodes={} wall_ms={:.3} items_per_s={:.0}",
        urls.len(),
        ms(elapsed),
        (jobs * size) as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// Where the raw mode writes: a copy of the SQLite file, or the server's PostgreSQL.
enum Raw {
    Sqlite(RawStore),
    Pg(RawPg),
}

impl Raw {
    async fn apply(&mut self, ids: &[String], value: u64, job: &str) -> anyhow::Result<Duration> {
        match self {
            Self::Sqlite(s) => tokio::task::block_in_place(|| s.apply(ids, value, job)),
            Self::Pg(p) => p.apply(ids, value, job).await,
        }
    }

    async fn bench_value(&self, id: &str) -> anyhow::Result<Option<i64>> {
        match self {
            Self::Sqlite(s) => tokio::task::block_in_place(|| s.bench_value(id)),
            Self::Pg(p) => p.bench_value(id).await,
        }
    }
}

/// The raw mode: the same jobs (warm-up included), each one transaction.
async fn run_raw(
    args: &Args,
    mut store: Raw,
    value: &mut impl FnMut() -> u64,
) -> anyhow::Result<Vec<Measured>> {
    let ids = |cases: Vec<u64>| -> Vec<String> {
        cases.into_iter().map(|c| format!("CASE-{c:06}")).collect()
    };
    for w in 0..args.warmup_jobs {
        let warmup = ids(pick(args, args.sizes[0], w, true));
        store.apply(&warmup, value(), "raw-warmup").await?;
    }
    let mut out = Vec::new();
    for (&n, &reps) in args.sizes.iter().zip(&args.reps) {
        let mut total = Latencies::with_capacity(reps);
        for rep in 0..reps {
            let cases = ids(pick(args, n, rep, false));
            let v = value();
            total.record(store.apply(&cases, v, &format!("raw-{n}-{rep}")).await?);
            let landed = store.bench_value(&cases[0]).await?;
            ensure!(
                landed == i64::try_from(v).ok(),
                "raw: {} has bench {landed:?}, not {v}",
                cases[0]
            );
        }
        let m = Measured {
            n,
            total: total.summary().context("no job")?,
            submit: None,
            server: None,
        };
        m.print("raw");
        out.push(m);
    }
    Ok(out)
}

/// The ratio and the targets, per size.
fn compare(docket: &[Measured], raw: &[Measured]) {
    for (d, r) in docket.iter().zip(raw) {
        let pct = r.total.p50.as_secs_f64() / d.total.p50.as_secs_f64() * 100.0;
        println!(
            "RATIO n={} docket_p50_ms={:.3} raw_p50_ms={:.3} docket_items_per_s={:.0} raw_items_per_s={:.0} docket_over_raw_pct={pct:.1}",
            d.n,
            ms(d.total.p50),
            ms(r.total.p50),
            d.items_per_s(),
            r.items_per_s()
        );
        if d.n <= 100 {
            let met = ms(d.total.p50) <= 10.0;
            println!(
                "TARGET n={}: p50 {:.3} ms to completed, target <= 10 ms: {}",
                d.n,
                ms(d.total.p50),
                if met { "met" } else { "missed" }
            );
        } else {
            println!(
                "TARGET n={}: {:.0} items/s = {pct:.1}% of raw, target >= 50%: {}",
                d.n,
                d.items_per_s(),
                if pct >= 50.0 { "met" } else { "missed" }
            );
        }
    }
}
