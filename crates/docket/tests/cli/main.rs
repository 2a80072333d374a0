//! Tests of the `docket` binary: the server as a child process, the CLI against it.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod bulk;
mod changes;
mod check;
mod cluster;
mod commands;
mod crash;
mod keys;
mod logs;
mod redaction;
mod restart;
mod run;
mod server;
mod shutdown;
mod standin;
mod webhooks;
