//! A typed async client for the docket HTTP API.
//!
//! Every call returns the decoded body with the response's `ETag` and
//! `X-Consistency-Token`; every failure from the server is an [`Error::Api`] carrying the
//! problem document, whose `code` is one of [`docket_api::codes`].
//!
//! Jobs (status, results, list, cancel, retry, the progress stream) are in [`jobs`];
//! the Server-Sent Events parser is in [`events`]; API keys in [`keys`].

pub mod changes;
pub mod comments;
pub mod events;
pub mod jobs;
pub mod keys;
pub mod webhooks;

use std::time::Duration;

use docket_api::{
    BulkAccepted, BulkRequest, Case, CasePatch, CaseQuery, Health, HistoryEntry, NewCase, NewTask,
    Page, PageQuery, Problem, RefreshRequest, RefreshResponse, Task, TaskPatch, WorkflowInfo,
};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use docket_api as api;
/// A request body: bytes, or a stream of them ([`Client::bulk_create`]).
pub use reqwest::Body;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a problem document.
    #[error("{0}")]
    Api(Box<Problem>),
    /// No usable answer: connection refused, timeout, TLS.
    #[error("cannot reach the server: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server answered something this client cannot read.
    #[error("unexpected response ({status}): {detail}")]
    Unexpected { status: u16, detail: String },
}

impl Error {
    /// The problem's stable `code`, when the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api(p) => Some(&p.code),
            _ => None,
        }
    }

    /// Whether trying the same request again later may succeed: no answer, or an answer
    /// cut off (the server is down or restarting), or a 502/503/504 on the way.
    pub fn is_transient(&self) -> bool {
        match self {
            // Bodies are decoded apart (as `Unexpected`), so a transport error is the
            // connection's: refused, reset, cut mid-body, timed out.
            Self::Transport(e) => !e.is_builder(),
            _ => matches!(self.status(), Some(502..=504)),
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(p) => Some(p.status),
            Self::Unexpected { status, .. } => Some(*status),
            Self::Transport(e) => e.status().map(|s| s.as_u16()),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// How long to wait for a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence on an open connection: longer than the longest long-poll the server
/// allows (`jobs.max_wait_seconds`, 50 s by default) and than the event stream's
/// keep-alive interval (15 s).
const READ_TIMEOUT: Duration = Duration::from_secs(90);

/// A decoded answer and the headers that matter for consistency.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub body: T,
    pub status: u16,
    /// `ETag`, unquoted (the case version as text).
    pub etag: Option<String>,
    pub consistency_token: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
}

impl Client {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Result<Self> {
        // No overall timeout: long-polls and event streams are long by design. A server
        // that stops sending (even the event stream's keep-alives) for READ_TIMEOUT is gone.
        let http = reqwest::Client::builder()
            .user_agent(concat!("docket-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            api_key: None,
        })
    }

    /// Sends `Authorization: Bearer <key>` on every request.
    pub fn with_api_key(mut self, key: Option<String>) -> Self {
        self.api_key = key;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A request to `path` (starting with `/`), authorised when a key is set.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{}", self.base, path));
        match &self.api_key {
            Some(k) => rb.bearer_auth(k),
            None => rb,
        }
    }

    /// Sends a request and decodes a JSON answer, or the problem.
    pub async fn send<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<Reply<T>> {
        let res = rb.send().await?;
        let res = ok_or_problem(res).await?;
        let status = res.status();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header("etag").map(|e| e.trim_start_matches("W/").trim_matches('"').to_owned());
        let consistency_token = header(docket_api::CONSISTENCY_TOKEN_HEADER);
        let location = header("location");
        let bytes = res.bytes().await?;
        let body = decode(status, &bytes)?;
        Ok(Reply {
            body,
            status: status.as_u16(),
            etag,
            consistency_token,
            location,
        })
    }

    async fn json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<Reply<T>> {
        self.send(self.request(method, path).json(body)).await
    }

    pub async fn healthz(&self) -> Result<Health> {
        Ok(self.send(self.request(Method::GET, "/healthz")).await?.body)
    }

    pub async fn readyz(&self) -> Result<Health> {
        Ok(self.send(self.request(Method::GET, "/readyz")).await?.body)
    }

    pub async fn create_case(&self, new: &NewCase) -> Result<Reply<Case>> {
        self.json(Method::POST, "/api/v1/cases", new).await
    }

    pub async fn get_case(&self, id: &str) -> Result<Reply<Case>> {
        self.send(self.request(Method::GET, &case_path(id))).await
    }

    /// A case as of at least the write that returned `token` (`X-Consistency-Token`).
    pub async fn get_case_at(&self, id: &str, token: &str) -> Result<Reply<Case>> {
        self.send(
            self.request(Method::GET, &case_path(id))
                .header(docket_api::CONSISTENCY_TOKEN_HEADER, token),
        )
        .await
    }

    /// A page of cases. `q.sort` picks the order; pass `next_cursor` back with the same
    /// query to continue.
    pub async fn list_cases(&self, q: &CaseQuery) -> Result<Page<Case>> {
        Ok(self
            .send(self.request(Method::GET, "/api/v1/cases").query(q))
            .await?
            .body)
    }

    /// `PATCH /api/v1/cases/{id}`, conditional on `if_match` (a version) when given.
    pub async fn update_case(
        &self,
        id: &str,
        patch: &CasePatch,
        if_match: Option<u64>,
    ) -> Result<Reply<Case>> {
        let mut rb = self.request(Method::PATCH, &case_path(id)).json(patch);
        if let Some(v) = if_match {
            rb = rb.header("if-match", format!("\"{v}\""));
        }
        self.send(rb).await
    }

    pub async fn history(&self, id: &str, q: &PageQuery) -> Result<Page<HistoryEntry>> {
        Ok(self
            .send(
                self.request(Method::GET, &format!("{}/history", case_path(id)))
                    .query(q),
            )
            .await?
            .body)
    }

    pub async fn create_task(&self, case_id: &str, task: &NewTask) -> Result<Reply<Task>> {
        self.json(Method::POST, &format!("{}/tasks", case_path(case_id)), task)
            .await
    }

    pub async fn list_tasks(&self, case_id: &str, q: &PageQuery) -> Result<Page<Task>> {
        Ok(self
            .send(
                self.request(Method::GET, &format!("{}/tasks", case_path(case_id)))
                    .query(q),
            )
            .await?
            .body)
    }

    pub async fn update_task(
        &self,
        case_id: &str,
        task_id: &str,
        patch: &TaskPatch,
    ) -> Result<Reply<Task>> {
        let path = format!("{}/tasks/{}", case_path(case_id), encode(task_id));
        self.json(Method::PATCH, &path, patch).await
    }

    /// `PATCH /api/v1/cases/bulk-update` without waiting: the job is stored.
    pub async fn bulk_update(
        &self,
        body: &BulkRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Reply<BulkAccepted>> {
        let mut rb = self
            .request(Method::PATCH, "/api/v1/cases/bulk-update")
            .json(body);
        if let Some(k) = idempotency_key {
            rb = rb.header("idempotency-key", k);
        }
        self.send(rb).await
    }

    /// Creates (or upserts) cases as one job from a body in `content_type`
    /// (`application/json`, `application/x-ndjson` or `text/csv`), sent as it is: bytes,
    /// or a stream of them (a file read as it is sent).
    pub async fn bulk_create(
        &self,
        content_type: &str,
        body: impl Into<reqwest::Body>,
        options: &docket_api::BulkCreateQuery,
        idempotency_key: Option<&str>,
    ) -> Result<Reply<BulkAccepted>> {
        let mut rb = self
            .request(Method::POST, "/api/v1/cases/bulk-create")
            .query(options)
            .header("content-type", content_type)
            .body(body);
        if let Some(k) = idempotency_key {
            rb = rb.header("idempotency-key", k);
        }
        self.send(rb).await
    }

    /// Deletes cases as one job (`POST /api/v1/cases/bulk-delete`).
    pub async fn bulk_delete(
        &self,
        body: &docket_api::BulkDeleteRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Reply<BulkAccepted>> {
        let mut rb = self
            .request(Method::POST, "/api/v1/cases/bulk-delete")
            .json(body);
        if let Some(k) = idempotency_key {
            rb = rb.header("idempotency-key", k);
        }
        self.send(rb).await
    }

    pub async fn refresh_status(&self, body: &RefreshRequest) -> Result<Reply<RefreshResponse>> {
        self.json(Method::POST, "/api/v1/cases/refresh-status", body)
            .await
    }

    /// The server's workflow: statuses, initial and terminal ones, transitions.
    pub async fn workflow(&self) -> Result<WorkflowInfo> {
        Ok(self
            .send(self.request(Method::GET, "/api/v1/workflow"))
            .await?
            .body)
    }

    /// The runtime settings (key -> value).
    pub async fn settings(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        Ok(self
            .send(self.request(Method::GET, "/api/v1/settings"))
            .await?
            .body)
    }

    /// Changes settings; returns all of them.
    pub async fn update_settings(
        &self,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        Ok(self
            .json(Method::PATCH, "/api/v1/settings", patch)
            .await?
            .body)
    }
}

/// Passes a success through; turns any other answer into [`Error::Api`] (a problem
/// document) or [`Error::Unexpected`].
pub(crate) async fn ok_or_problem(res: reqwest::Response) -> Result<reqwest::Response> {
    let status = res.status();
    if status.is_success() {
        return Ok(res);
    }
    let bytes = res.bytes().await?;
    Err(match serde_json::from_slice::<Problem>(&bytes) {
        Ok(p) => Error::Api(Box::new(p)),
        Err(_) => Error::Unexpected {
            status: status.as_u16(),
            detail: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
        },
    })
}

fn decode<T: DeserializeOwned>(status: StatusCode, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Unexpected {
        status: status.as_u16(),
        detail: format!("undecodable body: {e}"),
    })
}

pub(crate) fn case_path(id: &str) -> String {
    format!("/api/v1/cases/{}", encode(id))
}

/// Percent-encodes a path segment (ids are plain ASCII, but callers may pass anything).
pub(crate) fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
