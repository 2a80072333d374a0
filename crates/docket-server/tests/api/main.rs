//! HTTP integration tests: each test starts the real server on port 0 with a fresh
//! SQLite file and talks to it through `docket-client` (or raw HTTP for malformed input).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

/// Runs a test once on SQLite and once on PostgreSQL (when `DOCKET_TEST_DATABASE_URL` is
/// set; otherwise the PostgreSQL run says it skipped). `spawn_app` picks the backend.
macro_rules! backend_test {
    (async fn $name:ident() $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                crate::helpers::BACKEND.scope(crate::helpers::Backend::Sqlite, async $body).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if crate::helpers::postgres_url().is_none() {
                    eprintln!("skipped: DOCKET_TEST_DATABASE_URL is not set, so this PostgreSQL test did not run");
                    return;
                }
                crate::helpers::BACKEND.scope(crate::helpers::Backend::Postgres, async $body).await
            }
        }
    };
}

mod auth;
mod browser;
mod browser_changes;
mod browser_comments;
mod browser_import;
mod browser_layout;
mod browser_pages;
mod browser_webhooks;
mod bulk;
mod bulk_comments;
mod bulk_create;
mod bulk_filter;
mod bulk_stream;
mod case_listing;
mod cases;
mod changes;
mod comments;
mod concurrency;
mod conformance;
mod consistency;
mod console;
mod console_sessions;
mod control_chars;
mod errors;
mod external_id;
mod fuzz;
mod headers;
mod helpers;
mod jobs;
mod limits;
mod metrics;
mod openapi;
mod rate_limits;
mod targets;
mod tasks;
mod tidy;
mod title_search;
mod webdriver;
mod webhooks;
mod workflow;
