//! `/api/v1/jobs`: status (with long-poll), the job with its first results, results
//! pages and export, the list, cancel, retry-failed, revert, and the progress stream.

use std::time::Duration;

use docket_api::{BulkAccepted, ItemResult, Job, JobQuery, JobStatus, Page, ResultsQuery};
use reqwest::Method;

use crate::events::{JobEvents, SseParser};
use crate::{Client, Error, Reply, Result, encode, ok_or_problem};

/// Extra time a long-poll is given over what it asked the server to wait.
const LONG_POLL_SLACK: Duration = Duration::from_secs(15);

fn job_path(job_id: &str) -> String {
    format!("/api/v1/jobs/{}", encode(job_id))
}

impl Client {
    /// A job's status; with `wait_seconds`, long-polls until the job ends or time passes.
    pub async fn job_status(
        &self,
        job_id: &str,
        wait_seconds: Option<u32>,
    ) -> Result<Reply<JobStatus>> {
        let mut path = format!("{}/status", job_path(job_id));
        let mut rb = match wait_seconds {
            Some(w) => {
                path.push_str(&format!("?waitSeconds={w}"));
                self.request(Method::GET, &path)
                    .timeout(Duration::from_secs(u64::from(w)) + LONG_POLL_SLACK)
            }
            None => self.request(Method::GET, &path),
        };
        rb = rb.header("accept", "application/json");
        self.send(rb).await
    }

    /// The status plus the first page of results.
    pub async fn job(&self, job_id: &str) -> Result<Reply<Job>> {
        self.send(self.request(Method::GET, &job_path(job_id)))
            .await
    }

    /// One page of a job's per-item outcomes, optionally only one outcome.
    pub async fn job_results(&self, job_id: &str, q: &ResultsQuery) -> Result<Page<ItemResult>> {
        let path = format!("{}/results", job_path(job_id));
        Ok(self
            .send(self.request(Method::GET, &path).query(q))
            .await?
            .body)
    }

    /// One page of jobs, newest first.
    pub async fn list_jobs(&self, q: &JobQuery) -> Result<Page<JobStatus>> {
        Ok(self
            .send(self.request(Method::GET, "/api/v1/jobs").query(q))
            .await?
            .body)
    }

    /// Asks a job to stop between chunks; answers with its status (ended, usually).
    pub async fn cancel_job(&self, job_id: &str) -> Result<Reply<JobStatus>> {
        let path = format!("{}/cancel", job_path(job_id));
        self.send(self.request(Method::POST, &path)).await
    }

    /// A new job with the failed items of a finished one.
    pub async fn retry_failed(&self, job_id: &str) -> Result<Reply<BulkAccepted>> {
        let path = format!("{}/retry-failed", job_path(job_id));
        self.send(self.request(Method::POST, &path)).await
    }

    /// A new job that undoes what a finished job changed (`revertOf` set).
    pub async fn revert_job(&self, job_id: &str) -> Result<Reply<BulkAccepted>> {
        let path = format!("{}/revert", job_path(job_id));
        self.send(self.request(Method::POST, &path)).await
    }

    /// Every result of a job (of one outcome, and after a results cursor, if given), as
    /// the server streams it in `accept` (`text/csv` or `application/x-ndjson`): the
    /// answer, to read as it comes.
    pub async fn export_results(
        &self,
        job_id: &str,
        (outcome, after): (Option<&str>, Option<&str>),
        accept: &str,
    ) -> Result<reqwest::Response> {
        let path = format!("{}/results", job_path(job_id));
        let mut rb = self.request(Method::GET, &path).header("accept", accept);
        if let Some(o) = outcome {
            rb = rb.query(&[("outcome", o)]);
        }
        if let Some(c) = after {
            rb = rb.query(&[("cursor", c)]);
        }
        ok_or_problem(rb.send().await?).await
    }

    /// Opens the job's progress stream (`GET /api/v1/jobs/{id}/events`).
    ///
    /// Fails with [`Error::Unexpected`] when the answer is not an event stream (a proxy
    /// or an older server), so the caller can fall back to polling.
    pub async fn job_events(&self, job_id: &str) -> Result<JobEvents> {
        let path = format!("{}/events", job_path(job_id));
        let res = self
            .request(Method::GET, &path)
            .header("accept", "text/event-stream")
            .send()
            .await?;
        let res = ok_or_problem(res).await?;
        let is_stream = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_stream {
            return Err(Error::Unexpected {
                status: res.status().as_u16(),
                detail: "the answer is not an event stream".into(),
            });
        }
        Ok(JobEvents::new(res, SseParser::default()))
    }
}
