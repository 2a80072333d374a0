//! The error of every store and engine operation that can fail for reasons outside the
//! domain's rules: a missing row, a unique-key conflict, a store that cannot answer now,
//! or a bug. Domain refusals are not errors: they travel as
//! [`crate::domain::ItemError`] inside an `Ok`.

/// A failure of the store, as the engine and HTTP see it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A domain refusal from a method whose answer has no room for one (a create whose
    /// `externalId` is taken).
    #[error("{0}")]
    Refused(crate::domain::ItemError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A spooled request's items could not be read back (see [`crate::spool`]).
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Other(anyhow::Error::new(e).context("reading a job's spooled items"))
    }
}
