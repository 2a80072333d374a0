//! HTTP integration tests: each test starts the real server on port 0 with a fresh
//! SQLite file and talks to it through `docket-client` (or raw HTTP for malformed input).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod bulk;
mod cases;
mod concurrency;
mod consistency;
mod errors;
mod helpers;
mod jobs;
mod tasks;
