//! `docket-bench http`: single-case GET or PATCH over HTTP.
//!
//! `--concurrency` workers share one connection pool (HTTP/1.1 keep-alive, so one
//! connection per worker) and each loops, closed-loop, for `--duration-secs`: pick a
//! case id `CASE-000001..=CASE-{cases}` with its own seeded [`SplitMix64`], send one
//! request, read the whole body, record the latency. A warm-up of the same shape runs
//! first and is not measured (it opens the connections and warms SQLite's page cache).
//!
//! Latency is measured from just before `send` to the last byte of the body, so it
//! includes the load generator's own scheduling delay: with the generator on the same
//! machine as the server, the figures are an upper bound on what the server costs.
//! Any non-2xx answer or transport error is counted and makes the run fail.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::rng::SplitMix64;
use crate::stats::Latencies;

#[derive(clap::Args)]
pub struct Args {
    /// Base URL of a running docket server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// What each request does.
    #[arg(long, value_enum)]
    op: Op,
    /// Concurrent workers (and connections).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured duration.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Cases CASE-000001..CASE-N exist (e.g. from `docket seed --cases N`).
    #[arg(long)]
    cases: u64,
    /// Unmeasured warm-up before the measured run.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Seed of the case-id sequence (the same seed touches the same cases).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A request slower than this counts as a transport error.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Op {
    /// `GET /api/v1/cases/{id}`.
    Get,
    /// `PATCH /api/v1/cases/{id}` with `{"title": "bench <n>"}`: every request is a write.
    Patch,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "GET",
            Op::Patch => "PATCH",
        }
    }
}

/// What every worker of a run shares.
struct Target {
    client: reqwest::Client,
    cases_url: String,
    op: Op,
    cases: u64,
    /// Makes every PATCH title distinct, so every PATCH changes the case.
    patches: AtomicU64,
}

impl Target {
    fn case_url(&self, n: u64) -> String {
        format!("{}/CASE-{n:06}", self.cases_url)
    }

    fn request(&self, n: u64) -> reqwest::RequestBuilder {
        let url = self.case_url(n);
        match self.op {
            Op::Get => self.client.get(url),
            Op::Patch => {
                let i = self.patches.fetch_add(1, Ordering::Relaxed);
                self.client
                    .patch(url)
                    .json(&serde_json::json!({ "title": format!("bench {i}") }))
            }
        }
    }
}

/// One worker's (then one run's) outcome.
#[derive(Default)]
struct Tally {
    latencies: Latencies,
    /// Non-2xx answers by status code.
    rejected: BTreeMap<u16, u64>,
    transport_errors: u64,
    /// The first failure, to say what went wrong.
    first_failure: Option<String>,
}

impl Tally {
    fn failures(&self) -> u64 {
        self.rejected.values().sum::<u64>() + self.transport_errors
    }

    fn fail(&mut self, what: String) {
        self.first_failure.get_or_insert(what);
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.merge(other.latencies);
        for (status, n) in other.rejected {
            *self.rejected.entry(status).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        if let Some(f) = other.first_failure {
            self.fail(f);
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.cases == 0 || args.concurrency == 0 || args.duration_secs == 0 {
        bail!("--cases, --concurrency and --duration-secs must be positive");
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(args.timeout_secs))
        .build()
        .context("building the HTTP client")?;
    let target = Arc::new(Target {
        client,
        cases_url: format!("{}/api/v1/cases", args.url.trim_end_matches('/')),
        op: args.op,
        cases: args.cases,
        patches: AtomicU64::new(0),
    });
    preflight(&target).await?;

    let load = Load {
        concurrency: args.concurrency,
        seed: args.seed,
    };
    let warmup = phase(&target, load, Duration::from_secs(args.warmup_secs), 0).await?;
    if warmup.0.failures() > 0 {
        report_failures(&warmup.0);
        bail!("{} requests failed during the warm-up", warmup.0.failures());
    }
    let (tally, elapsed) = phase(&target, load, Duration::from_secs(args.duration_secs), 1).await?;

    let requests = tally.latencies.len() as u64;
    let failures = tally.failures();
    println!(
        "http {}: concurrency {}, {} s measured after {} s warm-up, random ids in CASE-000001..CASE-{:06}",
        args.op.name(),
        args.concurrency,
        args.duration_secs,
        args.warmup_secs,
        args.cases
    );
    println!(
        "requests: {requests} in {:.2} s, non-2xx: {}, transport errors: {}",
        elapsed.as_secs_f64(),
        tally.rejected.values().sum::<u64>(),
        tally.transport_errors
    );
    let rps = requests as f64 / elapsed.as_secs_f64();
    println!("throughput: {rps:.0} req/s");
    let Some(summary) = tally.latencies.summary() else {
        bail!("no request completed in {} s", args.duration_secs);
    };
    println!("{summary}");
    // One line per run, for scripts to collect into a table.
    println!(
        "RESULT op={} concurrency={} requests={requests} rps={rps:.0} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} max_ms={:.3} failures={failures}",
        args.op.name(),
        args.concurrency,
        summary.p50.as_secs_f64() * 1e3,
        summary.p90.as_secs_f64() * 1e3,
        summary.p99.as_secs_f64() * 1e3,
        summary.max.as_secs_f64() * 1e3,
    );
    if failures > 0 {
        // `phase` already printed what failed.
        bail!("{failures} requests failed (non-2xx or transport errors)");
    }
    Ok(())
}

/// A PATCH load of `concurrency` closed-loop writers for `duration` (after a warm-up of
/// `warmup`), for benchmarks that measure something else under write load: the
/// measured run's requests and wall time. Fails if any request failed.
pub(crate) async fn patch_load(
    url: &str,
    cases: u64,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<(u64, Duration)> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let target = Arc::new(Target {
        client,
        cases_url: format!("{}/api/v1/cases", url.trim_end_matches('/')),
        op: Op::Patch,
        cases,
        patches: AtomicU64::new(0),
    });
    preflight(&target).await?;
    let load = Load {
        concurrency,
        seed: 7,
    };
    let (warm, _) = phase(&target, load, warmup, 0).await?;
    let (tally, elapsed) = phase(&target, load, duration, 1).await?;
    let failures = warm.failures() + tally.failures();
    if failures > 0 {
        bail!("{failures} PATCH requests failed");
    }
    Ok((tally.latencies.len() as u64, elapsed))
}

/// Fails fast, with a clear message, when the server or the highest case is missing.
async fn preflight(target: &Target) -> anyhow::Result<()> {
    let url = target.case_url(target.cases);
    let res = target
        .client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}: is the server running?"))?;
    if !res.status().is_success() {
        bail!(
            "GET {url} answered {}: seed at least {} cases first",
            res.status(),
            target.cases
        );
    }
    Ok(())
}

fn report_failures(tally: &Tally) {
    for (status, n) in &tally.rejected {
        eprintln!("  {n} answers with status {status}");
    }
    if tally.transport_errors > 0 {
        eprintln!("  {} transport errors", tally.transport_errors);
    }
    if let Some(f) = &tally.first_failure {
        eprintln!("  first failure: {f}");
    }
}

/// The shape of the load, the same for the warm-up and the measured run.
#[derive(Clone, Copy)]
struct Load {
    concurrency: usize,
    seed: u64,
}

/// Runs `load.concurrency` workers for `duration`; returns their merged tally and the
/// wall time until the last one finished. `phase` varies the id sequence per phase.
async fn phase(
    target: &Arc<Target>,
    load: Load,
    duration: Duration,
    phase: u64,
) -> anyhow::Result<(Tally, Duration)> {
    let started = Instant::now();
    let deadline = started + duration;
    // Generous: a closed-loop worker on loopback manages well under 100k requests/s.
    let per_worker = (duration.as_secs() as usize).saturating_mul(100_000) / load.concurrency;
    let workers: Vec<_> = (0..load.concurrency as u64)
        .map(|w| {
            let target = target.clone();
            let seed = load.seed ^ (phase << 32) ^ w.wrapping_mul(0x9E37_79B9);
            tokio::spawn(worker(target, deadline, SplitMix64::new(seed), per_worker))
        })
        .collect();
    let mut tally = Tally::default();
    for w in workers {
        tally.merge(w.await.context("a worker panicked")?);
    }
    let elapsed = started.elapsed();
    if tally.failures() > 0 {
        report_failures(&tally);
    }
    Ok((tally, elapsed))
}

async fn worker(target: Arc<Target>, deadline: Instant, mut rng: SplitMix64, cap: usize) -> Tally {
    let mut tally = Tally {
        latencies: Latencies::with_capacity(cap.min(1 << 20)),
        ..Tally::default()
    };
    while Instant::now() < deadline {
        let n = rng.below(target.cases) + 1;
        // Build (and for PATCH serialise) before starting the clock.
        let request = target.request(n);
        let sent = Instant::now();
        let outcome = match request.send().await {
            Ok(res) => {
                let status = res.status();
                res.bytes().await.map(|_| status)
            }
            Err(e) => Err(e),
        };
        tally.latencies.record(sent.elapsed());
        match outcome {
            Ok(status) if status.is_success() => {}
            Ok(status) => {
                *tally.rejected.entry(status.as_u16()).or_default() += 1;
                tally.fail(format!("CASE-{n:06}: {status}"));
            }
            Err(e) => {
                tally.transport_errors += 1;
                tally.fail(format!("CASE-{n:06}: {e}"));
            }
        }
    }
    tally
}
