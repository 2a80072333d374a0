//! One module per subcommand.

pub mod check;
pub mod config;
#[cfg(feature = "server")]
pub mod seed;
#[cfg(feature = "server")]
pub mod serve;
