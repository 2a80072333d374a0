//! Logging: `tracing` to stderr, as text or JSON lines.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (a second call is a no-op).
pub fn init(format: &str, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
