//! `docket-bench feed`: the change feed's lag under write load, and webhook deliveries
//! per second.
//!
//! `feed`: PATCH writers run at full speed (closed loop, as `http --op patch`) while one
//! consumer long-polls `GET /api/v1/changes?after=<cursor>&waitSeconds=10`. A change's
//! lag is the time the consumer holds it minus its `at` (the time of the write's request,
//! taken just before its commit), both read from this machine's clock: commit to a
//! consumer's hands, HTTP included.
//!
//! `webhooks`: a receiver on 127.0.0.1 (answering 200), one webhook for
//! `case.updated`, one bulk job of `--items` items: deliveries per second from the
//! job's submission to the last delivery. The server must allow the loopback receiver
//! (`callbacks.allowed_hosts = ["127.0.0.1"]`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::stats::Latencies;

#[derive(clap::Args)]
pub struct FeedArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Cases CASE-000001..CASE-N exist.
    #[arg(long)]
    cases: u64,
    /// PATCH writers.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
}

/// The time a change's `at` names, as a `SystemTime`.
fn at_of(change: &Value) -> Option<SystemTime> {
    let at = change.get("at")?.as_str()?;
    let t = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    let ms = u64::try_from(t.timestamp_millis()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

pub async fn feed(args: FeedArgs) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder().no_proxy().build()?;
    let first: Value = client
        .get(format!("{base}/api/v1/changes?after=now"))
        .send()
        .await
        .context("GET /api/v1/changes: is the server running?")?
        .json()
        .await?;
    let mut cursor = first["nextAfter"]
        .as_str()
        .context("no nextAfter: not a docket with a change feed")?
        .to_owned();
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let consumer = {
        let (client, base, measuring, stop, received) = (
            client.clone(),
            base.clone(),
            measuring.clone(),
            stop.clone(),
            received.clone(),
        );
        tokio::spawn(async move {
            let mut lags = Latencies::with_capacity(1 << 20);
            while !stop.load(Ordering::Acquire) {
                let page: Value = client
                    .get(format!(
                        "{base}/api/v1/changes?after={cursor}&limit=1000&waitSeconds=10"
                    ))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let now = SystemTime::now();
                let items = page["items"].as_array().cloned().unwrap_or_default();
                if measuring.load(Ordering::Acquire) {
                    for c in &items {
                        if let Some(at) = at_of(c) {
                            lags.record(now.duration_since(at).unwrap_or_default());
                        }
                    }
                    received.fetch_add(items.len() as u64, Ordering::Relaxed);
                }
                cursor = page["nextAfter"].as_str().unwrap_or(&cursor).to_owned();
            }
            anyhow::Ok(lags)
        })
    };
    // Warm-up unmeasured, then the measured run (the consumer measures meanwhile).
    let warm = Duration::from_secs(args.warmup_secs);
    crate::http::patch_load(&base, args.cases, args.concurrency, warm, Duration::ZERO).await?;
    measuring.store(true, Ordering::Release);
    let (requests, elapsed) = crate::http::patch_load(
        &base,
        args.cases,
        args.concurrency,
        Duration::ZERO,
        Duration::from_secs(args.duration_secs),
    )
    .await?;
    // The last changes reach the consumer, then it stops.
    tokio::time::sleep(Duration::from_millis(500)).await;
    measuring.store(false, Ordering::Release);
    stop.store(true, Ordering::Release);
    // A PATCH wakes the consumer's last long-poll.
    let _ = client
        .patch(format!("{base}/api/v1/cases/CASE-000001"))
        .json(&json!({"title": "feed bench done"}))
        .send()
        .await;
    let lags = consumer.await.context("the consumer panicked")??;
    let got = received.load(Ordering::Relaxed);
    let rps = requests as f64 / elapsed.as_secs_f64();
    println!(
        "feed: {} PATCH writers, {requests} PATCHes in {:.2} s ({rps:.0}/s); the consumer got {got} changes",
        args.concurrency,
        elapsed.as_secs_f64()
    );
    let Some(s) = lags.summary() else {
        bail!("the consumer got no change");
    };
    println!("lag (commit to the consumer): {s}");
    println!(
        "RESULT op=feed concurrency={} patches_per_s={rps:.0} changes={got} lag_p50_ms={:.3} lag_p90_ms={:.3} lag_p99_ms={:.3} lag_max_ms={:.3}",
        args.concurrency,
        s.p50.as_secs_f64() * 1e3,
        s.p90.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3,
        s.max.as_secs_f64() * 1e3
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct WebhookArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Items of the bulk job (cases CASE-000001..CASE-N must exist).
    #[arg(long, default_value_t = 10_000)]
    items: u64,
}

pub async fn webhooks(args: WebhookArgs) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder().no_proxy().build()?;
    let got = Arc::new(AtomicU64::new(0));
    let counter = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let made = client
        .post(format!("{base}/api/v1/webhooks"))
        .json(&json!({"url": hook, "events": ["case.updated"]}))
        .send()
        .await?;
    if !made.status().is_success() {
        bail!(
            "creating the webhook: {} {} (does the server allow 127.0.0.1 in callbacks.allowed_hosts?)",
            made.status(),
            made.text().await.unwrap_or_default()
        );
    }
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let items: Vec<Value> = (1..=args.items)
        .map(|i| json!({"caseId": format!("CASE-{i:06}"), "fields": {"hooked": stamp}}))
        .collect();
    let started = Instant::now();
    let mut jobs = Vec::new();
    for chunk in items.chunks(10_000) {
        let job: Value = client
            .post(format!("{base}/api/v1/cases/bulk-update"))
            .json(&chunk)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        jobs.push(job["jobId"].as_str().context("no jobId")?.to_owned());
    }
    let deadline = started + Duration::from_secs(600);
    while got.load(Ordering::Relaxed) < args.items {
        if Instant::now() > deadline {
            bail!(
                "only {} of {} deliveries in 600 s",
                got.load(Ordering::Relaxed),
                args.items
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let rate = args.items as f64 / elapsed.as_secs_f64();
    println!(
        "webhooks: {} deliveries (a {}-item bulk update, one webhook) in {:.2} s from submission: {rate:.0}/s",
        args.items,
        args.items,
        elapsed.as_secs_f64()
    );
    println!(
        "RESULT op=webhooks deliveries={} secs={:.3} per_s={rate:.0}",
        args.items,
        elapsed.as_secs_f64()
    );
    Ok(())
}
