//! The HTTP side of `docket-bench bulk`: one job from submit to `completed`, as a
//! client sees it, and the checks that it really happened.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use docket_api::{BulkAccepted, JobStatus};
use reqwest::header::CONTENT_TYPE;

use super::Args;

/// One job as a client sees it.
pub struct JobTiming {
    pub total: Duration,
    pub submit: Duration,
    /// The job's `durationMs`: from its submission to its end, by the server's clock.
    pub server: Duration,
}

pub struct Client {
    http: reqwest::Client,
    api: String,
    wait_seconds: u64,
    job_timeout: Duration,
}

impl Client {
    /// A client of the server at `url` (a base URL such as `http://127.0.0.1:8080`).
    pub fn new(args: &Args, url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            // A submit of a million items or a long-poll may take a while; the job
            // timeout below bounds the whole.
            .timeout(Duration::from_secs(args.wait_seconds + 120))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            api: format!("{}/api/v1", url.trim_end_matches('/')),
            wait_seconds: args.wait_seconds,
            job_timeout: Duration::from_secs(args.job_timeout_secs),
        })
    }

    /// Fails fast, with a clear message, when the server or the highest case is missing.
    pub async fn preflight(&self, cases: u64) -> anyhow::Result<()> {
        let url = format!("{}/cases/CASE-{cases:06}", self.api);
        let res = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}: is the server running?"))?;
        ensure!(
            res.status().is_success(),
            "GET {url} answered {}: seed at least {cases} cases first",
            res.status()
        );
        Ok(())
    }

    /// Submits one job setting `fields.bench = value` on `cases`, waits for its end,
    /// checks it succeeded entirely and that a case shows the change.
    pub async fn job(&self, cases: &[u64], value: u64) -> anyhow::Result<JobTiming> {
        let body = body(cases, value);
        let url = format!("{}/cases/bulk-update", self.api);
        let started = Instant::now();
        let res = self
            .http
            .patch(&url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .context("submitting a bulk update")?;
        let status = res.status();
        let bytes = res.bytes().await.context("reading the submit's answer")?;
        let submit = started.elapsed();
        ensure!(
            status.is_success(),
            "bulk update of {} items answered {status}: {}",
            cases.len(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(500)])
        );
        let accepted: BulkAccepted =
            serde_json::from_slice(&bytes).context("parsing the submit's answer")?;
        let id = accepted
            .job_id
            .context("the submit's answer has no jobId")?;
        let status_url = format!(
            "{}/jobs/{id}/status?waitSeconds={}",
            self.api, self.wait_seconds
        );
        let job = loop {
            let res = self
                .http
                .get(&status_url)
                .send()
                .await
                .context("job status")?;
            let status = res.status();
            let bytes = res.bytes().await.context("reading the job status")?;
            ensure!(status.is_success(), "GET {status_url} answered {status}");
            let job: JobStatus =
                serde_json::from_slice(&bytes).context("parsing the job status")?;
            if job.is_finished() {
                break job;
            }
            if started.elapsed() > self.job_timeout {
                bail!(
                    "job {id} still {} after {:?} ({}/{} processed)",
                    job.status,
                    self.job_timeout,
                    job.processed,
                    job.total
                );
            }
        };
        let total = started.elapsed();
        let n = cases.len() as u64;
        ensure!(
            job.status == "completed"
                && job.outcome.as_deref() == Some("succeeded")
                && job.succeeded == n
                && job.failed == 0,
            "job {id} of {n} items ended {} with outcome {:?}, {} succeeded, {} failed",
            job.status,
            job.outcome,
            job.succeeded,
            job.failed
        );
        self.check_landed(cases[0], value).await?;
        Ok(JobTiming {
            total,
            submit,
            server: Duration::from_millis(job.duration_ms.unwrap_or(0)),
        })
    }

    async fn check_landed(&self, case: u64, value: u64) -> anyhow::Result<()> {
        let url = format!("{}/cases/CASE-{case:06}", self.api);
        let res = self
            .http
            .get(&url)
            .send()
            .await
            .context("reading a case back")?;
        ensure!(
            res.status().is_success(),
            "GET {url} answered {}",
            res.status()
        );
        let case: serde_json::Value = res.json().await.context("parsing a case")?;
        let seen = &case["fields"]["bench"];
        ensure!(
            seen.as_u64() == Some(value),
            "{url} shows fields.bench = {seen} after its job completed, not {value}"
        );
        Ok(())
    }
}

/// `{"updates":[{"caseId":"CASE-000001","fields":{"bench":v}},...]}`, written directly:
/// a million items through `serde_json::Value` would cost seconds before every job.
fn body(cases: &[u64], value: u64) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(16 + cases.len() * 64);
    s.push_str("{\"updates\":[");
    for (i, c) in cases.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"caseId\":\"CASE-{c:06}\",\"fields\":{{\"bench\":{value}}}}}"
        );
    }
    s.push_str("]}");
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_documented_bulk_request() {
        let parsed: docket_api::BulkRequest =
            serde_json::from_slice(&body(&[1, 1_000_000], 7)).unwrap();
        assert_eq!(parsed.updates.len(), 2);
        assert_eq!(parsed.updates[0].case_id, "CASE-000001");
        assert_eq!(parsed.updates[1].case_id, "CASE-1000000");
        assert_eq!(parsed.updates[1].fields.as_ref().unwrap()["bench"], 7);
        assert!(parsed.updates[0].status.is_none());
    }
}
