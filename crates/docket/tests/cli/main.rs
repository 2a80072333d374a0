//! Tests of the `docket` binary: the server as a child process, the CLI against it.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod check;
mod cluster;
mod crash;
mod server;
