//! Exit codes and how an error becomes one (and a message).
//!
//! The codes are a contract with scripts (documented in `--help` and docs/cli.md):
//! 0 every item succeeded, 1 some items failed, 2 usage or input error, 3 server or
//! network error, 4 stopped waiting before the jobs ended.

use std::fmt;
use std::process::ExitCode;

use docket_client::Error as ClientError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    ItemsFailed = 1,
    Input = 2,
    Server = 3,
    StoppedWaiting = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// A problem with what the user gave: arguments or an input file. Exit 2.
#[derive(Debug)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// `Err(InputError(...))` as an `anyhow` error.
pub fn input_error(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InputError(msg.into()))
}

/// The exit code of a failed command: the first cause that says what kind it was.
pub fn classify(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if cause.is::<InputError>() {
            return Exit::Input;
        }
        if let Some(e) = cause.downcast_ref::<ClientError>() {
            return match e {
                // The server refused the request itself: what was asked is wrong.
                ClientError::Api(p)
                    if (400..500).contains(&p.status)
                        && !matches!(p.status, 401 | 403 | 408 | 429) =>
                {
                    Exit::Input
                }
                _ => Exit::Server,
            };
        }
    }
    Exit::Server
}

/// The message of a failed command: contexts, then the cause, without debug dumps. A
/// problem from the server shows its `code` and `detail` (and each field's complaint).
pub fn render(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<ClientError>() {
            parts.push(client_error(e));
            break;
        }
        parts.push(cause.to_string());
    }
    parts.join(": ")
}

/// One line (plus one per field error) for a client error.
pub fn client_error(e: &ClientError) -> String {
    match e {
        ClientError::Api(p) => {
            let mut s = format!("{} ({}): {}", p.code, p.status, p.detail);
            for f in &p.errors {
                s.push_str(&format!("\n  {}: {}", f.field, f.message));
            }
            s
        }
        ClientError::Transport(t) => {
            let what = if t.is_timeout() {
                "no answer in time".to_owned()
            } else {
                root_cause(t)
            };
            match t.url() {
                Some(u) => format!(
                    "cannot reach the server at {}: {what}",
                    u.origin().ascii_serialization()
                ),
                None => format!("cannot reach the server: {what}"),
            }
        }
        ClientError::Unexpected { status, detail } => {
            format!("unexpected answer from the server (HTTP {status}): {detail}")
        }
    }
}

/// The innermost cause's message ("Connection refused (os error 111)").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
