//! Fault tests of issue 13, "zero stale reads under faults": real `docket serve` nodes on
//! one PostgreSQL database, with the network to PostgreSQL cut, silenced or refused
//! through a proxy, a node hung with SIGSTOP mid-job, and PostgreSQL itself stopped.
//! Every test counts stale reads (must be 0) and records every HTTP status it got (no
//! 500, ever). Needs `DOCKET_TEST_DATABASE_URL`; the outage test also
//! `DOCKET_TEST_FAULTS=1`. `disk.rs` fills a small tmpfs under a SQLite node (root and
//! `DOCKET_TEST_FAULTS=1`). Not part of `cargo test --workspace` (`test = false`): run
//! with `cargo test -p docket --test faults -- --test-threads=1`.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

// The CLI target's helpers, shared by path: the binary as a child process, seeding.
#[path = "../cli/run.rs"]
#[allow(dead_code)]
mod run;
#[path = "../cli/server.rs"]
#[allow(dead_code)]
mod server;

mod disk;
mod hang;
mod outage;
mod partition;
mod patches;
mod proxy;
mod setup;
