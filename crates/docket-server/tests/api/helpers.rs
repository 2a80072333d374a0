//! `spawn_app()`: the real server on an ephemeral port, a fresh database per test.

use docket_client::Client;
use docket_server::Server;
use docket_server::config::Config;
use serde_json::Value;
use tempfile::TempDir;

pub struct TestApp {
    pub base: String,
    pub state: docket_server::http::AppState,
    pub client: Client,
    pub http: reqwest::Client,
    /// The server's clock: a test moves it forward instead of sleeping.
    pub clock: std::sync::Arc<docket_server::clock::ShiftedClock>,
    /// The store's URL (a SQLite file, or a PostgreSQL schema in `schema=`).
    pub database_url: String,
    _dir: TempDir,
}

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    pub static BACKEND: Backend;
}

/// `DOCKET_TEST_DATABASE_URL`, when set.
pub fn postgres_url() -> Option<String> {
    std::env::var("DOCKET_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A fresh, empty database for the current backend: a new SQLite file in `dir`, or a new
/// PostgreSQL schema.
pub fn fresh_database_url(dir: &std::path::Path) -> String {
    match BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite) {
        Backend::Sqlite => format!(
            "sqlite://{}",
            dir.join(format!("{}.db", docket_server::domain::random_hex(6)))
                .display()
        ),
        Backend::Postgres => {
            let base = postgres_url().unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            format!(
                "{base}{sep}schema=dkt_{}",
                docket_server::domain::random_hex(8)
            )
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        docket_server::telemetry::init("text", "debug");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.database.url = fresh_database_url(dir.path());
    tweak(&mut config);
    let database_url = config.database.url.clone();
    let clock = std::sync::Arc::new(docket_server::clock::ShiftedClock::default());
    let server = Server::build_with_clock(config, clock.clone())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let state = server.state().clone();
    tokio::spawn(server.run(std::future::pending()));
    let base = format!("http://{addr}");
    TestApp {
        state,
        client: Client::new(&base).unwrap(),
        http: reqwest::Client::new(),
        clock,
        base,
        database_url,
        _dir: dir,
    }
}

impl TestApp {
    /// The number `sql` (a `SELECT count(*) ...`) counts in the store, read straight from
    /// the database: for what the API does not show.
    pub async fn count_in_store(&self, sql: &str) -> i64 {
        if let Some(path) = self.database_url.strip_prefix("sqlite://") {
            let conn = rusqlite::Connection::open(path).unwrap();
            return conn.query_row(sql, [], |r| r.get(0)).unwrap();
        }
        let (url, schema) = self.database_url.split_once("schema=").unwrap();
        let url = url.trim_end_matches(['?', '&']);
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    /// Writes `n` demo cases straight into the store (`CASE-000001`...).
    pub async fn seed(&self, n: u64) {
        docket_server::demo::seed(
            self.state.engine.store.as_ref(),
            &self.state.workflow,
            n,
            10_000,
        )
        .await
        .unwrap();
    }

    /// Sends a JSON body to a path and returns status, headers and the JSON answer.
    pub async fn send_json(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        self.raw(method, path, Some(&body.to_string())).await
    }

    /// Polls a job's status until it ends (bounded).
    pub async fn wait_job(&self, job_id: &str) -> Value {
        for _ in 0..600 {
            let (s, _, body) = self
                .raw(
                    "GET",
                    &format!("/api/v1/jobs/{job_id}/status?waitSeconds=5"),
                    None,
                )
                .await;
            assert_eq!(s, 200, "{body}");
            if ["completed", "failed", "cancelled"].contains(&body["status"].as_str().unwrap()) {
                return body;
            }
        }
        panic!("job {job_id} did not end");
    }

    /// Number of jobs the server knows.
    pub async fn job_count(&self) -> usize {
        let (_, _, body) = self.raw("GET", "/api/v1/jobs?limit=1000", None).await;
        body["items"].as_array().unwrap().len()
    }

    /// Creates a case with the given JSON body (must succeed).
    pub async fn create(&self, body: Value) -> docket_api::Case {
        let new: docket_api::NewCase = serde_json::from_value(body).unwrap();
        self.client.create_case(&new).await.unwrap().body
    }

    /// A raw request with a JSON (or any) body; returns status, headers and JSON body.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut rb = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let res = rb.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    /// Everything observable about one case: itself, its history, its tasks.
    pub async fn snapshot(&self, id: &str) -> (docket_api::Case, usize, Vec<docket_api::Task>) {
        let case = self.client.get_case(id).await.unwrap().body;
        let q = docket_api::PageQuery {
            limit: Some(1000),
            cursor: None,
        };
        let history = self.client.history(id, &q).await.unwrap().items.len();
        let tasks = self.client.list_tasks(id, &q).await.unwrap().items;
        (case, history, tasks)
    }

    pub async fn count_cases(&self) -> usize {
        let mut n = 0;
        let mut cursor = None;
        loop {
            let q = docket_api::CaseQuery {
                limit: Some(1000),
                cursor,
                ..Default::default()
            };
            let page = self.client.list_cases(&q).await.unwrap();
            n += page.items.len();
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return n,
            }
        }
    }
}

/// Asserts a problem response with the given status and code.
pub fn assert_problem(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
    want_status: u16,
    want_code: &str,
) {
    assert_eq!(status, want_status, "body: {body}");
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    assert_eq!(body["status"], want_status);
    assert_eq!(body["code"], want_code, "body: {body}");
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
}
